#!/usr/bin/env bash
# Runs the command block of examples/shell/README.md as written, from the repository root,
# and checks what it promises: rounds from one scheduler at a time that go on after the
# SIGKILL of instance a, every licensed tenant processed in every round (one or two fewer
# for the rounds around the kill), the unlicensed never.
# Usage: shell_test.sh REPO_DIR
set -euo pipefail
repo=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-shell-test.XXXXXX")
dir=/tmp/baton-shell-example  # The README's $D.
trap 'rm -rf "$tmp"' EXIT

awk '/^```sh/ {in_block = 1; next} in_block && /^```/ {exit} in_block {print}' \
  "$repo/examples/shell/README.md" >"$tmp/block.sh"
grep -q 'kill -9' "$tmp/block.sh" || { echo "shell test: no command block found" >&2; exit 1; }
cd "$repo"
if ! timeout 50 bash "$tmp/block.sh" >"$tmp/out" 2>&1; then
  cat "$tmp/out" "$dir"/*.log
  echo "shell test: the README's commands failed" >&2
  exit 1
fi
cat "$tmp/out"
fail() {
  cat "$dir"/*.log
  echo "shell test: $*" >&2
  exit 1
}
rounds=$(grep -h 'round done' "$dir"/*-schedule.log | wc -l)
before=$(grep -h 'round done' "$tmp/out" | wc -l)  # Printed before the kill.
echo "rounds: $before before the kill, $rounds in all"
[ "$before" -ge 2 ] && [ "$rounds" -gt "$before" ] || fail "the rounds did not go on after the kill"
grep -qE '^totals: [0-9]+ done, [0-9]+ failed attempts, 0 dead, 0 expired' "$tmp/out" ||
  fail "an item went to the dead letters or expired"
grep -h 'round done' "$dir"/*-schedule.log | grep -qv ' 8 tenants listed' &&
  fail "a round listed other than the 8 licensed tenants"
while read -r tenant; do
  n=$(sqlite3 -cmd ".timeout 2000" "$dir/tenants.db" "SELECT count(*) FROM results WHERE tenant = '$tenant'")
  if grep -qx "$tenant" examples/shell/licenses.txt; then
    [ "$n" -ge $((rounds - 2)) ] && [ "$n" -le "$rounds" ] ||
      fail "$tenant (licensed) processed $n times in $rounds rounds"
  else
    [ "$n" = 0 ] || fail "$tenant (unlicensed) was processed"
  fi
done < <(grep -v '^#' examples/shell/tenants.txt)
# The README's serve variant: the same scheduler and worker as one process.
baton=build/default/src/cli/baton
store="sqlite:$dir/tenants.db"
check=$("$baton" serve --check --store "$store" --config examples/shell/serve.toml) ||
  fail "serve --check refused examples/shell/serve.toml"
echo "$check"
grep -q 'is fine: 2 service(s): schedule.sync' <<<"$check" || fail "serve --check: $check"
before_serve=$(sqlite3 -cmd ".timeout 2000" "$dir/tenants.db" "SELECT count(*) FROM results")
EXAMPLE_DB=$dir/tenants.db "$baton" serve --store "$store" --config examples/shell/serve.toml \
  --id d 2>"$dir/d-serve.log" &
serve_pid=$!
for _ in $(seq 100); do  # A round is due 3 s after the last; its 8 items take 2 slots ~1.2 s.
  n=$(sqlite3 -cmd ".timeout 2000" "$dir/tenants.db" "SELECT count(*) FROM results")
  [ "$n" -ge $((before_serve + 8)) ] && break
  sleep 0.1
done
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "baton serve exited $? on SIGTERM"
after_serve=$(sqlite3 -cmd ".timeout 2000" "$dir/tenants.db" "SELECT count(*) FROM results")
echo "serve: $((after_serve - before_serve)) items processed by one baton serve process"
[ "$after_serve" -ge $((before_serve + 8)) ] || fail "baton serve processed no whole round"
echo "shell test: ok"
