#!/usr/bin/env bash
# The live demo (`make demo`), in two parts on one SQLite file.
#  1. Failover: three `baton run` instances of one group, each wrapping baton-probe, which
#     prints a tick every second while it is active. The demo kills the active instance
#     (SIGKILL), then stops the next one (SIGTERM), and shows how long each takeover took and
#     that no two children ever ran at once.
#  2. Per-tenant work: three instances, each a `baton schedule` and a `baton work` process,
#     run rounds over 36 tenants: the holder of the scheduler lease offers one item per tenant
#     every 3 s and every instance processes them. The scheduling instance is killed (SIGKILL)
#     in the middle of a round. The demo shows per round how many tenants were processed and
#     by which instance, that no tenant ran twice at once (a flock per tenant) and that no
#     item was lost. (CLI processes rather than examples/tenant_service.cc: each item's work is
#     then baton-item-probe, whose flock per tenant judges overlaps, and the demo needs no
#     target beyond baton and the probes.)
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

# --- Part 2: per-tenant work, scheduled and processed by every instance -------------------
queue=tenant-sync
items_log=$dir/items.log   # start/done/overlap lines of every item's command
mkdir -p "$dir/locks"
for t in $(seq -w 1 36); do echo "tenant-$t"; done >"$dir/tenants"
ntenants=$(wc -l <"$dir/tenants")
queue_args=(--store "$store" --group "$group" --queue "$queue")

# An instance is two processes: the scheduler (one holder of its lease offers every 3 s) and
# the worker (3 slots; each item's command takes its tenant's flock and works 300 ms).
start_tenant_instance() {
  local id=$1
  "$baton" schedule "${queue_args[@]}" --id "$id" --every 3s --ttl 3s \
    --tenants-file "$dir/tenants" >"$dir/$id-schedule.log" 2>&1 &
  baton_pid[$id-schedule]=$!
  "$baton" work "${queue_args[@]}" --id "$id" --concurrency 3 --visibility 3s \
    -- "$item_probe" --locks "$dir/locks" --log "$items_log" --sleep 300 \
    >"$dir/$id-work.log" 2>&1 &
  baton_pid[$id-work]=$!
}
# The "round done" lines of every scheduler, in time order (the log lines start with UTC).
rounds_log() { cat "$dir"/*-schedule.log | grep 'round done' | sort || true; }
round_count() { rounds_log | wc -l; }
done_count() { if [ -f "$items_log" ]; then grep -c '^done ' "$items_log" || true; else echo 0; fi; }
offered_total() { rounds_log | sed -n 's/.* listed, \([0-9]*\) offered.*/\1/p' | awk '{s += $1} END {print s + 0}'; }
# Done means acknowledged in the store: a command that finished just before a kill has a
# done line but no acknowledgement, and runs again.
acknowledged() {
  "$baton" queue "${queue_args[@]}" stats | sed -n 's/^totals: \([0-9]*\) done.*/\1/p'
}

say "Starting three instances (i1, i2, i3), each a scheduler and a worker of queue \"$queue\": $ntenants tenants, a round every 3s"
for id in i1 i2 i3; do start_tenant_instance "$id"; done
for _ in $(seq 200); do [ "$(round_count)" -ge 2 ] && break; sleep 0.05; done
first_round=$(rounds_log | head -n 1 | sed -n 's/.*listed, \([0-9]*\) offered.*/\1/p')
for _ in $(seq 200); do [ "$(done_count)" -ge $((first_round + 12)) ] && break; sleep 0.05; done
scheduler=$(grep -l 'round done' "$dir"/i?-schedule.log | head -n 1 | xargs basename | cut -d- -f1)
say "Killing instance $scheduler (it holds the scheduler lease) with SIGKILL in the middle of round 2 ($(($(done_count) - first_round)) of its items done so far)"
for part in schedule work; do
  disown "${baton_pid[$scheduler-$part]}"
  kill -KILL "${baton_pid[$scheduler-$part]}"
  unset "baton_pid[$scheduler-$part]"
done
echo "   another instance takes the scheduler lease within its 3s ttl; the killed worker's items"
echo "   are claimed again once their 3s visibility runs out"

for _ in $(seq 300); do [ "$(round_count)" -ge 4 ] && break; sleep 0.05; done
for _ in $(seq 100); do [ "$(acknowledged)" -ge "$(offered_total)" ] && break; sleep 0.1; done
for id in "${!baton_pid[@]}"; do kill -TERM "${baton_pid[$id]}"; done
for id in "${!baton_pid[@]}"; do wait "${baton_pid[$id]}" || true; unset "baton_pid[$id]"; done
"$baton" queue "${queue_args[@]}" stats | sed -n '1,4s/^/    /p'

# Who did what: each worker's log names the items it claimed, with the attempt (the last claim
# of an item ran it to its acknowledgement; an attempt above 1 is a claim taken again). Item
# ids grow with every offer, so the rounds' offered counts, in order, split the ids into rounds.
for id in i1 i2 i3; do
  sed -n "s/.*claimed item \([0-9]*\) of tenant .*(attempt \([0-9]*\),.*/\1 \2 $id/p" "$dir/$id-work.log"
done | sort -n -k1,1 -k2,2 | awk '{who[$1] = $3; n[$1] = $2} END {for (i in who) print i, who[i], n[i]}' |
  sort -n >"$dir/who"
say "Rounds (an item counts for the instance of its last claim, the one that acknowledged it)"
lost=0
start=0
round=0
while read -r line; do
  round=$((round + 1))
  offered=$(sed -n 's/.* listed, \([0-9]*\) offered.*/\1/p' <<<"$line")
  skipped=$(sed -n 's/.* offered, \([0-9]*\) skipped.*/\1/p' <<<"$line")
  by=$(sed -n 's/.*baton\[\([^]]*\)\].*/\1/p' <<<"$line")
  counts=""
  processed=0
  for id in i1 i2 i3; do
    n=$(awk -v a="$start" -v b=$((start + offered)) -v w="$id" '$1 > a && $1 <= b && $2 == w' "$dir/who" | wc -l)
    processed=$((processed + n))
    counts+=" $id $n,"
  done
  again=0
  round_lost=0
  for item in $(seq $((start + 1)) $((start + offered))); do
    grep -q "^done item=$item " "$items_log" || round_lost=$((round_lost + 1))
  done
  again=$(awk -v a="$start" -v b=$((start + offered)) '$1 > a && $1 <= b && $3 > 1' "$dir/who" | wc -l)
  lost=$((lost + round_lost))
  printf '   round %d (scheduled by %s): %d offered, %d skipped (an item still claimed), %d processed by%s; claimed again %d, lost %d\n' \
    "$round" "$by" "$offered" "$skipped" "$processed" "${counts%,}" "$again" "$round_lost"
  start=$((start + offered))
done < <(rounds_log)
item_overlaps=$(grep -c '^overlap ' "$items_log" || true)

say "Summary"
echo "   crash failover (SIGKILL, ttl $ttl):  $failover_ms ms"
echo "   graceful handover (SIGTERM):       $handover_ms ms"
echo "   killed instance's child gone:      $child_gone"
echo "   children active at the same time:  $overlaps (each child holds an exclusive flock)"
echo "   rounds of $ntenants tenants:             $round (instance $scheduler killed in round 2)"
echo "   tenants run twice at once:         $item_overlaps (a flock per tenant)"
echo "   items lost (offered, never done):  $lost of $start"
