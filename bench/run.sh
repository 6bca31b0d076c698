#!/usr/bin/env bash
# Runs the failover benchmark the way the README reports it: SQLite, ttl 1s, 30 trials of each
# kind. Usage: bash bench/run.sh BUILD_DIR [extra baton-failover-bench options...]
set -euo pipefail

build_dir=${1:?usage: bash bench/run.sh BUILD_DIR}
shift

baton="$build_dir/src/cli/baton"
bench="$build_dir/bench/baton-failover-bench"
for bin in "$baton" "$bench"; do
  if [[ ! -x $bin ]]; then
    echo "bench/run.sh: $bin is missing; build the 'baton' and 'baton-failover-bench' targets" >&2
    exit 1
  fi
done

echo "failover benchmark: sqlite, ttl 1s, 30 trials each (a minute or two)" >&2
"$bench" --baton "$baton" --store-kind sqlite --ttl 1s --trials 30 --instances 3 "$@"
