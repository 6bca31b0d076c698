#!/usr/bin/env bash
# examples/tenant_service.cc as three real processes on one SQLite file, for a few rounds of
# 12 tenants of which 8 are licensed. One instance is SIGKILLed after the second round; the
# other two carry on. Checked from the file itself: every item offered was processed and
# written (one row per item in its tenant's table), every licensed tenant in every round but
# at most one (its item may have been running on the killed instance, and the next round
# skips a tenant whose item still runs), and no unlicensed tenant ever.
# Usage: tenant_service_test.sh EXAMPLE_BINARY
set -euo pipefail
example=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-example-tenants.XXXXXX")
db=$tmp/tenants.db
declare -A pid=()
cleanup() {
  for id in "${!pid[@]}"; do kill -TERM "${pid[$id]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
fail() {
  for id in a b c; do echo "--- $id"; cat "$tmp/$id.out"; done
  echo "tenant service example test: $*" >&2
  exit 1
}
for t in $(seq -w 1 12); do echo "tenant-$t"; done >"$tmp/tenants"
grep -v -e '-03$' -e '-06$' -e '-09$' -e '-12$' "$tmp/tenants" >"$tmp/licenses"
licensed=$(wc -l <"$tmp/licenses")

rounds() { cat "$tmp"/*.out | grep -c 'round done' || true; }
offered() { cat "$tmp"/*.out | sed -n 's/.*round done: [0-9]* tenants listed, \([0-9]*\) offered.*/\1/p' |
  awk '{s += $1} END {print s + 0}'; }
rows() {
  sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tenant:%'" |
    while read -r table; do sqlite3 "$db" "SELECT count(*) FROM \"$table\""; done |
    awk '{s += $1} END {print s + 0}'
}
wait_rounds() {
  for _ in $(seq 150); do [ "$(rounds)" -ge "$1" ] && return 0; sleep 0.1; done
  fail "fewer than $1 rounds after 15 s"
}

for id in a b c; do
  "$example" "$db" "$id" "$tmp/tenants" "$tmp/licenses" >"$tmp/$id.out" 2>&1 &
  pid[$id]=$!
done
wait_rounds 2
sleep 0.2  # In the middle of the second round's items.
scheduler=$(grep -l 'round done' "$tmp"/?.out | head -n 1 | xargs basename | cut -c1)
disown "${pid[$scheduler]}"  # no "Killed" job report from bash
kill -KILL "${pid[$scheduler]}"
unset "pid[$scheduler]"
echo "killed $scheduler, the scheduler, after round 2"
wait_rounds 4
# The last round's items are claimed and written within a second or two.
for _ in $(seq 100); do [ "$(rows)" -ge "$(offered)" ] && break; sleep 0.1; done
for id in "${!pid[@]}"; do kill -TERM "${pid[$id]}"; done
for id in "${!pid[@]}"; do wait "${pid[$id]}" || fail "$id exited with code $?"; done
pid=()

total_rounds=$(rounds)
echo "rounds: $total_rounds; items offered: $(offered); rows written: $(rows)"
[ "$(rows)" = "$(offered)" ] || fail "an offered item was lost or written twice"
for id in a b c; do
  echo "$id processed $(grep -c ' processed tenant-' "$tmp/$id.out" || true) items"
done
while read -r tenant; do
  n=$(sqlite3 "$db" "SELECT count(*) FROM \"tenant:$tenant\"" 2>/dev/null || echo 0)
  if grep -qx "$tenant" "$tmp/licenses"; then
    [ "$n" -ge $((total_rounds - 1)) ] && [ "$n" -le "$total_rounds" ] ||
      fail "$tenant (licensed) processed $n times in $total_rounds rounds"
  else
    [ "$n" = 0 ] || fail "$tenant (unlicensed) was processed"
  fi
done <"$tmp/tenants"
echo "$licensed licensed tenants processed once a round, 4 unlicensed never"
survivors=$(cat "$tmp"/*.out | grep 'round done' | tail -n 1)
[ -n "$survivors" ] || fail "no round after the kill"
echo "tenant service example test: ok"
