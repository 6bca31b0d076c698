#!/usr/bin/env bash
# The live demo (`make demo`), in two parts on one SQLite file.
#  1. Failover: three `baton run` instances of one group, each wrapping baton-probe, which
#     prints a tick every second while it is active. The demo kills the active instance
#     (SIGKILL), then stops the next one (SIGTERM), and shows how long each takeover took and
#     that no two children ever ran at once.
#  2. Per-tenant work: three `baton work` instances process 60 tenants' items; one is killed
#     (SIGKILL) mid-run. The demo shows how many items each instance processed, that no tenant
#     ran twice at once (a flock per tenant) and that no item was lost.
#
# Usage: bash tools/demo.sh BUILD_DIR     (for example build/default)
set -euo pipefail

build=${1:-build/default}
baton=$build/src/cli/baton
probe=$build/tests/support/baton-probe
item_probe=$build/tests/support/baton-item-probe
for binary in "$baton" "$probe" "$item_probe"; do
  if [ ! -x "$binary" ]; then
    echo "demo: $binary is missing; build first (make build)" >&2
    exit 1
  fi
done

ttl=3s
group=demo
dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo.XXXXXX")
store=sqlite:$dir/demo.db
probe_log=$dir/probe.log   # start/stop/overlap lines of every child, with CLOCK_MONOTONIC
declare -A baton_pid=()

say() { printf '\n== %s\n' "$*"; }

cleanup() {
  trap - EXIT INT TERM
  for id in "${!baton_pid[@]}"; do kill -TERM "${baton_pid[$id]}" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local running=0
    for id in "${!baton_pid[@]}"; do kill -0 "${baton_pid[$id]}" 2>/dev/null && running=1; done
    [ "$running" = 0 ] && break
    sleep 0.1
  done
  for id in "${!baton_pid[@]}"; do kill -KILL "${baton_pid[$id]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

# True while the process exists and has not ended (a zombie has ended).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# CLOCK_MONOTONIC in ns: the clock of the probe's mono_ns, so the two can be subtracted.
now_ns() { "$probe" --now; }

starts() { if [ -f "$probe_log" ]; then grep -c '^start ' "$probe_log" || true; else echo 0; fi; }
# A field (token, instance, pid, mono_ns) of the newest start line.
last_start() { grep '^start ' "$probe_log" | tail -n 1 | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# Waits (up to 10 s) until there are more than $1 start lines.
wait_for_start_after() {
  for _ in $(seq 1000); do
    [ "$(starts)" -gt "$1" ] && return 0
    sleep 0.01
  done
  echo "demo: no instance became active within 10 s" >&2
  return 1
}

show_status() {
  "$baton" status --store "$store" --group "$group" | sed 's/^/    /' || true
}

start_instance() {
  local id=$1
  # Each instance's output (baton's log and its child's ticks) is indented under the demo's.
  "$baton" run --store "$store" --group "$group" --id "$id" --ttl "$ttl" \
    -- "$probe" --print-every 1s --lock "$dir/probe.lock" --log "$probe_log" \
    > >(sed -u 's/^/    /') 2>&1 &
  baton_pid[$id]=$!
}

say "Starting three instances (a, b, c) of group \"$group\", ttl $ttl, on $store"
for id in a b c; do start_instance "$id"; done
wait_for_start_after 0
sleep 1.5
first=$(last_start instance)
say "$first is active (token $(last_start token)); the other two are passive. baton status:"
show_status
sleep 2.5

say "Killing the active instance $first with SIGKILL (its baton pid ${baton_pid[$first]})"
killed_child=$(last_start pid)
before=$(starts)
disown "${baton_pid[$first]}"  # no "Killed" job report from bash
t0=$(now_ns)
kill -KILL "${baton_pid[$first]}"
unset "baton_pid[$first]"
wait_for_start_after "$before"
failover_ms=$((($(last_start mono_ns) - t0) / 1000000))
second=$(last_start instance)
say "$second took over after $failover_ms ms (token $(last_start token)): a crashed holder's lease has to expire first"
if alive "$killed_child"; then
  child_gone="no: child pid $killed_child is still running"
else
  child_gone="yes"
fi
echo "   the killed instance's child (pid $killed_child) is gone: $child_gone"
sleep 0.5
show_status
sleep 2.5

say "Stopping the active instance $second with SIGTERM: it releases the lease on its way out"
before=$(starts)
t0=$(now_ns)
kill -TERM "${baton_pid[$second]}"
wait_for_start_after "$before"
handover_ms=$((($(last_start mono_ns) - t0) / 1000000))
third=$(last_start instance)
code=0
wait "${baton_pid[$second]}" || code=$?
unset "baton_pid[$second]"
say "$third took over after $handover_ms ms (token $(last_start token)); $second exited with code $code"
show_status
sleep 2.5

say "Stopping $third"
kill -TERM "${baton_pid[$third]}"
wait "${baton_pid[$third]}" || true
unset "baton_pid[$third]"
show_status

overlaps=$(grep -c '^overlap ' "$probe_log" || true)

# --- Part 2: per-tenant work -------------------------------------------------------------
queue=tenant-sync
items_log=$dir/items.log   # start/done/overlap lines of every item's command
mkdir -p "$dir/locks"
tenants=()
for t in $(seq -w 1 60); do tenants+=("tenant-$t"); done

say "Enqueueing one item for each of ${#tenants[@]} tenants in queue \"$queue\""
"$baton" enqueue --store "$store" --group "$group" --queue "$queue" -- "${tenants[@]}" >"$dir/ids"
echo "   item ids $(head -n 1 "$dir/ids") to $(tail -n 1 "$dir/ids")"

start_worker() {
  local id=$1
  # Each item's command takes its tenant's flock and works 300 ms.
  "$baton" work --store "$store" --group "$group" --queue "$queue" --id "$id" \
    --concurrency 3 --visibility 3s \
    -- "$item_probe" --locks "$dir/locks" --log "$items_log" --sleep 300 \
    >"$dir/$id.log" 2>&1 &
  baton_pid[$id]=$!
}
say "Starting three workers (w1, w2, w3), 3 slots each, visibility 3s"
for id in w1 w2 w3; do start_worker "$id"; done
done_count() { if [ -f "$items_log" ]; then grep -c '^done ' "$items_log" || true; else echo 0; fi; }
for _ in $(seq 200); do [ "$(done_count)" -ge 15 ] && break; sleep 0.05; done

say "Killing worker w2 with SIGKILL in the middle of its items ($(done_count) items done so far)"
disown "${baton_pid[w2]}"
kill -KILL "${baton_pid[w2]}"
unset "baton_pid[w2]"
echo "   its running items are claimed again by w1 and w3 once their 3 s visibility runs out"

# Done means acknowledged in the store: a command that finished just before the kill has a
# done line but no acknowledgement, and runs again.
acknowledged() {
  "$baton" queue --store "$store" --group "$group" --queue "$queue" stats |
    sed -n 's/^totals: \([0-9]*\) done.*/\1/p'
}
for _ in $(seq 300); do [ "$(acknowledged)" -ge "${#tenants[@]}" ] && break; sleep 0.1; done
for id in w1 w3; do
  kill -TERM "${baton_pid[$id]}"
  wait "${baton_pid[$id]}" || true
  unset "baton_pid[$id]"
done
"$baton" queue --store "$store" --group "$group" --queue "$queue" stats | sed -n '1,4s/^/    /p'

# Who did what: each worker's log names the items it claimed; the probe log says which item's
# work ran to its end, and with which attempt.
declare -A claimed=()
for id in w1 w2 w3; do claimed[$id]=$(grep -c 'claimed item' "$dir/$id.log" || true); done
reclaimed=$(grep '^start ' "$items_log" | grep -vc ' attempt=1 ' || true)
item_overlaps=$(grep -c '^overlap ' "$items_log" || true)
lost=0
while read -r id; do
  grep -q "^done item=$id " "$items_log" || lost=$((lost + 1))
done <"$dir/ids"

say "Summary"
echo "   crash failover (SIGKILL, ttl $ttl):  $failover_ms ms"
echo "   graceful handover (SIGTERM):       $handover_ms ms"
echo "   killed instance's child gone:      $child_gone"
echo "   children active at the same time:  $overlaps (each child holds an exclusive flock)"
echo "   items claimed by w1 / w2 (killed) / w3:  ${claimed[w1]} / ${claimed[w2]} / ${claimed[w3]}"
echo "   items claimed again after the kill:  $reclaimed"
echo "   tenants run twice at once:           $item_overlaps (a flock per tenant)"
echo "   items lost (enqueued, never done):   $lost of ${#tenants[@]}"
