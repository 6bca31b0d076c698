#!/usr/bin/env bash
# What an idle baton costs (SPEC 2: CPU of one idle `baton run`): the CPU time and resident
# memory, over WINDOW seconds, of an active and a passive `baton run` (ttl 10 s, the
# default), the guardian of the active one, and an idle `baton work` worker, on one SQLite
# file (or on the store BATON_COST_STORE names). Prints a Markdown table.
#
# Usage: bash bench/cost.sh BUILD_DIR [WINDOW_SECONDS (default 60)]
# CPU time is utime + stime from /proc/PID/stat, so what else runs on the machine does not
# count; resident memory is VmRSS at the end of the window.
set -euo pipefail

build_dir=${1:?usage: bash bench/cost.sh BUILD_DIR [WINDOW_SECONDS]}
window=${2:-60}
baton="$build_dir/src/cli/baton"
if [[ ! -x $baton ]]; then
  echo "bench/cost.sh: $baton is missing; run 'make build' first" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/baton-bench-cost-XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf -- "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

store=${BATON_COST_STORE:-sqlite:$dir/baton.db}
"$baton" migrate --store "$store" >/dev/null

start() {  # start NAME ARGS...: runs baton ARGS in the background, logs to $dir/NAME.log
  local name=$1
  shift
  "$baton" "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
}

start active run --store "$store" --group cost --id active -- sleep 100000
for _ in $(seq 100); do
  grep -q "started the command" "$dir/active.log" && break
  sleep 0.1
done
start passive run --store "$store" --group cost --id passive -- sleep 100000
start worker work --store "$store" --group cost --queue idle --id worker -- true

# The active baton's guardian: its child whose command line has "__guardian".
guardian_pid=""
for _ in $(seq 50); do
  for child in $(cat "/proc/$active_pid/task/"*/children 2>/dev/null); do
    if { tr '\0' ' ' <"/proc/$child/cmdline"; } 2>/dev/null | grep -q " __guardian "; then
      guardian_pid=$child
    fi
  done
  [[ -n $guardian_pid ]] && break
  sleep 0.1
done
sleep 5  # Past start-up: registration, the first heartbeats, the worker's first look.

ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

declare -A before
names=(active passive worker guardian)
for name in "${names[@]}"; do
  pid_var="${name}_pid"
  [[ -n ${!pid_var} ]] && before[$name]=$(ticks_of "${!pid_var}")
done
load_before=$(cut -d' ' -f1 /proc/loadavg)
sleep "$window"
load_after=$(cut -d' ' -f1 /proc/loadavg)
hz=$(getconf CLK_TCK)

echo "| process | CPU seconds in ${window} s | share of one core | resident memory |"
echo "|---|---:|---:|---:|"
describe() {
  case $1 in
    active) echo "\`baton run\`, active (ttl 10 s)" ;;
    passive) echo "\`baton run\`, passive (ttl 10 s)" ;;
    worker) echo "\`baton work\`, idle (empty queue)" ;;
    guardian) echo "the active one's guardian" ;;
  esac
}
for name in "${names[@]}"; do
  pid_var="${name}_pid"
  pid=${!pid_var}
  if [[ -z $pid || ! -d /proc/$pid ]]; then
    echo "| $(describe "$name") | (not running) | | |"
    continue
  fi
  after=$(ticks_of "$pid")
  awk -v d=$((after - before[$name])) -v hz="$hz" -v w="$window" -v rss="$(rss_kib_of "$pid")" \
    -v what="$(describe "$name")" \
    'BEGIN { printf "| %s | %.2f | %.3f %% | %.1f MiB |\n", what, d / hz, 100 * d / hz / w, rss / 1024 }'
done
echo
echo "Measured by \`bench/cost.sh\` on ${store%%:*}, utime + stime from /proc (ticks of 1/$hz s);" \
  "load average $load_before at the start and $load_after at the end, on $(nproc) CPUs."
