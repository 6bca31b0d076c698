#!/usr/bin/env bash
# examples/active_passive_service.cc as two real processes on one SQLite file: exactly one is
# active and both are registered; after a SIGKILL of the active one the other becomes active
# within the ttl (3 s) and removes the dead one's member row.
# Usage: active_passive_service_test.sh EXAMPLE_BINARY
set -euo pipefail
example=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-example-ap.XXXXXX")
declare -A pid=()
cleanup() {
  for id in "${!pid[@]}"; do kill -TERM "${pid[$id]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  for id in a b; do echo "--- $id"; cat "$tmp/$id.out"; done
  echo "active/passive example test: $*" >&2
  exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# The job line an instance printed last: "ID active, …" or "ID passive; …".
last_line() { grep -E "^$1 (active|passive)" "$tmp/$1.out" | tail -n 1 || true; }

for id in a b; do
  "$example" "$tmp/example.db" "$id" >"$tmp/$id.out" 2>&1 &
  pid[$id]=$!
done
sleep 3
roles="$(last_line a)"$'\n'"$(last_line b)"
echo "$roles"
[ "$(grep -c ' active, token ' <<<"$roles")" = 1 ] || fail "expected exactly one active instance"
[ "$(grep -c ' passive; ' <<<"$roles")" = 1 ] || fail "expected exactly one passive instance"
grep -q 'members: a [a-z]*, b [a-z]*\|members: b [a-z]*, a [a-z]*' <<<"$roles" ||
  fail "expected both instances registered as members"

active=$(grep ' active, token ' <<<"$roles" | cut -d' ' -f1)
other=$([ "$active" = a ] && echo b || echo a)
t0=$(now_ms)
disown "${pid[$active]}"  # no "Killed" job report from bash
kill -KILL "${pid[$active]}"
unset "pid[$active]"
for _ in $(seq 100); do
  last_line "$other" | grep -q ' active, token ' && break
  sleep 0.05
done
last_line "$other" | grep -q ' active, token ' ||
  fail "$other did not become active within 5 s of the SIGKILL of $active"
# Timed by the host's own log line ("[2026-12-02 06:28:13.187] [info] became active …", wall
# clock to the millisecond), not by this loop's polling.
became=$(grep 'became active' "$tmp/$other.out" | tail -n 1 | sed 's/^\[\([^]]*\)\].*/\1/')
took=$(($(date -d "$became" +%s%3N) - t0))
echo "$other became active $took ms after the SIGKILL of $active"
# The ttl is 3 s from the killed one's last renewal, which came before the kill; 200 ms of
# slack for a loaded machine.
[ "$took" -le 3200 ] || fail "the takeover took $took ms, more than the ttl of 3 s"
sleep 3.5
echo "$(last_line "$other")"
last_line "$other" | grep -q "members: $other active\$" ||
  fail "the killed instance's member row was not removed"
echo "active/passive example test: ok"
