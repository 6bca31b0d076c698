#!/usr/bin/env bash
# Runs the benchmarks the way the README reports them:
#   0. what idle processes cost: CPU time and memory of an active and a passive `baton run`,
#      the guardian and an idle `baton work` over a minute (bench/cost.sh);
#   1. failover and handover times on SQLite (ttl 1s, 30 trials of each kind);
#   2. the same on etcd (ttl 2s) on a throwaway three-member cluster, and on PostgreSQL 15, on
#      a throwaway cluster this script starts and removes;
#   3. statements per instance per heartbeat on that cluster, as pg_stat_statements counts them;
#   4. heartbeat latency, what the server spends per heartbeat and the crash failover time with
#      10 to 2,000 instances of one group and with 200 and 400 groups of 5 on that cluster
#      (BATON_BENCH_SCALE, default 1x10,1x100,1x1000,1x2000,200x5,400x5: groups x instances);
#   5. side by side with etcd: crash failover and graceful handover of baton on SQLite,
#      PostgreSQL and etcd and of `etcdctl lock --ttl` on the same three-member etcd cluster,
#      at ttl 2s and 10s, 50 trials of each (two hours or so); one table with the ratios to
#      etcdctl in bench/results/side-by-side.md, and PNG plots there (bench/plot.py);
#   6. the queue benchmarks (SPEC 3) on SQLite and on that cluster: throughput, offer-to-claim
#      latency, stuck item re-claim, heartbeat under queue load; then graphile-worker, the
#      queue peer, on the same cluster, and one table of both (bench/peer/graphile).
# Usage: bash bench/run.sh BUILD_DIR [extra baton-failover-bench options...]
# Environment: BATON_BENCH_ONLY=queue runs only step 6, BATON_BENCH_ONLY=side-by-side only
# step 5, BATON_BENCH_ONLY=etcd only the failover benchmark on etcd, BATON_BENCH_ONLY=cost
# only the idle cost (bench/cost.sh); BATON_BENCH_TRIALS (default 50) and BATON_BENCH_TTLS
# (whole seconds, default 2,10) shape step 5; BATON_QUEUE_ITEMS (default 20000),
# BATON_QUEUE_SLOTS (default 1,4,16,24), BATON_QUEUE_TENANTS (default 1000,20000) and
# BATON_QUEUE_REPEAT (default 1) shape its throughput runs; BATON_QUEUE_BATON names the baton
# whose `work` the command mode runs (default BUILD_DIR's); BATON_BENCH_SKIP_PEER=1 skips the peer.
# Exits 0 unless something broke; a slow number is reported, not an error.
set -euo pipefail

build_dir=${1:?usage: bash bench/run.sh BUILD_DIR}
shift

baton="$build_dir/src/cli/baton"
bench="$build_dir/bench/baton-failover-bench"
statements_bench="$build_dir/bench/baton-pg-statements-bench"
scale_bench="$build_dir/bench/baton-pg-scale-bench"
queue_bench="$build_dir/bench/baton-queue-bench"
queue_table="$build_dir/bench/baton-queue-table"
only=${BATON_BENCH_ONLY:-}
side_trials=${BATON_BENCH_TRIALS:-50}
side_ttls=${BATON_BENCH_TTLS:-2,10}
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
results_dir="$script_dir/results"
queue_items=${BATON_QUEUE_ITEMS:-20000}
queue_slots=${BATON_QUEUE_SLOTS:-1,4,16,24}
queue_tenants=${BATON_QUEUE_TENANTS:-1000,20000}
queue_repeat=${BATON_QUEUE_REPEAT:-1}
queue_baton=${BATON_QUEUE_BATON:-$baton}  # The baton whose `work` the command mode runs.
peer_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/peer/graphile"
needed=("$baton" "$queue_bench" "$queue_table" "$build_dir/bench/baton-queue-bench-worker")
if [[ -z $only ]]; then needed+=("$bench" "$statements_bench" "$scale_bench"); fi
if [[ $only == etcd || $only == side-by-side ]]; then needed=("$baton" "$bench"); fi
if [[ $only == scale ]]; then needed=("$baton" "$scale_bench"); fi
if [[ $only == cost ]]; then needed=("$baton"); fi
for bin in "${needed[@]}"; do
  if [[ ! -x $bin ]]; then
    echo "bench/run.sh: $bin is missing; build the 'baton' target and the benchmarks" \
      "('make build' builds them all)" >&2
    exit 1
  fi
done

pg_bin=${BATON_PG_BIN:-/usr/lib/postgresql/15/bin}
pg_user=postgres   # The server runs as this user when we are root (PostgreSQL refuses root).
pg_dir=""
pg_data=""
pg_pid=""
broken=0

# Runs a server program, as $pg_user when we are root.
as_server() {
  if ((EUID == 0)); then
    runuser -u "$pg_user" -- "$@"
  else
    "$@"
  fi
}

# Whether the server is still alive: its postmaster, or any process whose command line
# mentions our data directory.
server_processes_left() {
  local cmdline
  if [[ -n $pg_pid && -d /proc/$pg_pid ]]; then return 0; fi
  for cmdline in /proc/[0-9]*/cmdline; do
    if tr '\0' ' ' 2>/dev/null <"$cmdline" | grep -qF -- "$pg_data"; then
      return 0
    fi
  done
  return 1
}

stop_cluster() {
  [[ -n $pg_dir ]] || return 0
  if [[ -f $pg_data/postmaster.pid ]]; then
    pg_pid=$(head -n 1 "$pg_data/postmaster.pid")
    as_server "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_server "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  for _ in $(seq 50); do
    server_processes_left || break
    sleep 0.1
  done
  if server_processes_left; then
    echo "bench/run.sh: PostgreSQL processes of $pg_data are still running" >&2
    broken=1
  fi
  rm -rf -- "$pg_dir"
  pg_dir=""
}

# A throwaway three-member etcd cluster (Debian's etcd-server, etcd's default raft timing),
# for the failover benchmark on etcd.
etcd_dir=""
etcd_pids=()
etcd_endpoints=""

stop_etcd() {
  [[ -n $etcd_dir ]] || return 0
  local pid
  for pid in "${etcd_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${etcd_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  etcd_pids=()
  rm -rf -- "$etcd_dir"
  etcd_dir=""
}

start_etcd() {
  etcd_dir=$(mktemp -d /tmp/baton-bench-etcd-XXXXXX)
  local i port initial="" ports=()
  while ((${#ports[@]} < 6)); do
    port=$(pick_port)
    [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
  done
  for i in 0 1 2; do initial+="${initial:+,}m$i=http://127.0.0.1:${ports[2 * i + 1]}"; done
  for i in 0 1 2; do
    etcd --name "m$i" --data-dir "$etcd_dir/m$i" \
      --listen-peer-urls "http://127.0.0.1:${ports[2 * i + 1]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${ports[2 * i + 1]}" \
      --listen-client-urls "http://127.0.0.1:${ports[2 * i]}" \
      --advertise-client-urls "http://127.0.0.1:${ports[2 * i]}" \
      --initial-cluster "$initial" --initial-cluster-token baton-bench \
      --initial-cluster-state new --log-level warn >"$etcd_dir/m$i.log" 2>&1 &
    etcd_pids+=($!)
    etcd_endpoints+="${etcd_endpoints:+,}127.0.0.1:${ports[2 * i]}"
  done
  for _ in $(seq 150); do
    if ETCDCTL_API=3 etcdctl --endpoints="$etcd_endpoints" endpoint health >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  tail -n 20 "$etcd_dir/m0.log" >&2 || true
  return 1
}

on_exit() {
  local rc=$?
  stop_etcd
  stop_cluster
  if ((rc == 0 && broken != 0)); then rc=1; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# A port nobody on 127.0.0.1 listens on now (the server may still lose it to a race; the
# caller then tries another).
pick_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# Starts the cluster and sets pg_port. fsync stays on (the default): the lease writes must be
# durable before they count (SPEC 2.5), and a benchmark without that would flatter them.
start_cluster() {
  pg_dir=$(mktemp -d /tmp/baton-bench-pg-XXXXXX)
  pg_data="$pg_dir/data"
  if ((EUID == 0)); then chown "$pg_user:" "$pg_dir"; fi
  as_server "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C \
    --no-instructions >"$pg_dir/initdb.log" 2>&1 || {
    cat "$pg_dir/initdb.log" >&2
    return 1
  }
  local attempt
  for attempt in 1 2 3; do
    pg_port=$(pick_port)
    # postgresql.auto.conf is read last, so a retry on another port simply replaces it.
    as_server tee "$pg_data/postgresql.auto.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$pg_dir'
fsync = on
synchronous_commit = on
max_connections = 2200  # 2,000 instances of the scale benchmark, one connection each
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
pg_stat_statements.track_utility = on
log_min_messages = warning
EOF
    if as_server "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_dir/server.log" -w -t 60 start \
      >>"$pg_dir/pg_ctl.log" 2>&1; then
      return 0
    fi
  done
  tail -n 20 "$pg_dir/server.log" >&2 || true
  return 1
}

psql_admin() {
  PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres "$@"
}

for ttl in ${side_ttls//,/ }; do
  if [[ ! $ttl =~ ^[1-9][0-9]*$ ]]; then
    echo "bench/run.sh: BATON_BENCH_TTLS=$side_ttls: whole seconds, like 2,10" \
      "(etcdctl lock --ttl takes no fraction)" >&2
    exit 2
  fi
done
if [[ ! $side_trials =~ ^[1-9][0-9]*$ ]]; then
  echo "bench/run.sh: BATON_BENCH_TRIALS=$side_trials is not a whole number of at least 1" >&2
  exit 2
fi

case $only in
  '' | queue | etcd | cost | side-by-side | scale) ;;
  *)
    echo "bench/run.sh: BATON_BENCH_ONLY=$only: only 'queue', 'etcd', 'side-by-side', 'scale'" \
      "and 'cost' are known" >&2
    exit 2
    ;;
esac

if [[ -z $only || $only == cost ]]; then
  echo "cost of idle processes: sqlite, a minute" >&2
  bash "$(dirname "${BASH_SOURCE[0]}")/cost.sh" "$build_dir" 60 || broken=1
  echo
  if [[ $only == cost ]]; then exit 0; fi
fi

if [[ -z $only ]]; then
  echo "failover benchmark: sqlite, ttl 1s, 30 trials each (a minute or two)" >&2
  "$bench" --baton "$baton" --store-kind sqlite --ttl 1s --trials 30 --instances 3 "$@" || broken=1
  echo
fi

if [[ -z $only || $only == etcd ]]; then
  if [[ ! -x /usr/bin/etcd ]]; then
    echo "bench/run.sh: no etcd (install etcd-server); etcd not measured" >&2
    broken=1
  elif ! start_etcd; then
    echo "bench/run.sh: the etcd cluster did not start" >&2
    broken=1
  else
    # etcd leases count whole seconds and expire in a sweep every 500 ms: a 2 s ttl.
    echo "failover benchmark: etcd (three members), ttl 2s, 30 trials each (two minutes or so)" >&2
    "$bench" --baton "$baton" --store "etcd://$etcd_endpoints/bench/" --ttl 2s --trials 30 \
      --instances 3 "$@" || broken=1
    echo
    stop_etcd
  fi
  if [[ $only == etcd ]]; then exit 0; fi
fi

# --- Side by side with etcd: baton on each store and `etcdctl lock --ttl` ----------------

# The python3 that has Debian's packages (a python3 earlier on PATH may not see them).
debian_python() {
  if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

# Whether matplotlib loads, installing Debian's python3-matplotlib when it does not and we
# are root. Never fails the run: without it there are no plots, and it says so.
prepare_matplotlib() {
  local py=$1 log
  "$py" -c 'import matplotlib' 2>/dev/null && return 0
  if ((EUID != 0)); then
    echo "bench/run.sh: no plots: python3-matplotlib is missing (install it, or run as root)" >&2
    return 1
  fi
  echo "bench/run.sh: installing python3-matplotlib for the plots" >&2
  log=$(mktemp /tmp/baton-bench-apt-XXXXXX)
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y python3-matplotlib >"$log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-matplotlib >>"$log" 2>&1 || true
  fi
  if ! "$py" -c 'import matplotlib' 2>/dev/null; then
    tail -n 5 "$log" >&2
    echo "bench/run.sh: no plots: python3-matplotlib did not install" >&2
    rm -f -- "$log"
    return 1
  fi
  rm -f -- "$log"
}

# Rough minutes one baton-failover-bench run of both kinds takes: each trial waits the ttl
# (crash) or up to 2 ttl + 1 s (etcdctl lock on SIGTERM, which hands nothing over), and the
# group settles for 2.5 heartbeats before each (baton: ttl/5, etcd's client: ttl/3).
side_minutes() {
  local system=$1 ttl=$2 per_trial
  if [[ $system == etcdctl ]]; then
    per_trial=$((ttl + 5 * ttl / 6 + 1 + 2 * ttl + 1 + 5 * ttl / 6 + 1))
  else
    per_trial=$((ttl + ttl / 2 + 1 + ttl / 2 + 1))
  fi
  echo $(((side_trials * per_trial + 59) / 60))
}

# Step 5. Appends one JSON line per trial to bench/results/side-by-side.jsonl (started
# afresh), prints each run's own table on stderr with the progress, then the joined table on
# stdout and in bench/results/side-by-side.md, and the plots beside it.
run_side_by_side() {
  local jsonl="$results_dir/side-by-side.jsonl" load_before ttl what minutes py started
  local have_etcd=1
  mkdir -p "$results_dir"
  : >"$jsonl"
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  if [[ ! -x /usr/bin/etcd || ! -x /usr/bin/etcdctl ]]; then
    echo "bench/run.sh: no etcd or etcdctl (install etcd-server and etcd-client); side by" \
      "side without etcd" >&2
    have_etcd=0
    broken=1
  elif ! start_etcd; then
    echo "bench/run.sh: the etcd cluster did not start; side by side without etcd" >&2
    have_etcd=0
    broken=1
  fi
  for ttl in ${side_ttls//,/ }; do
    for what in sqlite postgresql etcd etcdctl; do
      local store_args=()
      case $what in
        sqlite) store_args=(--store-kind sqlite) ;;
        postgresql) store_args=(--store "$store_url") ;;
        etcd | etcdctl)
          ((have_etcd)) || continue
          store_args=(--store "etcd://$etcd_endpoints/bench/")
          ;;
      esac
      if [[ $what == etcdctl ]]; then store_args+=(--wrapper etcdctl-lock); fi
      minutes=$(side_minutes "$what" "$ttl")
      echo "side by side: $what, ttl ${ttl}s, $side_trials trials of each kind" \
        "(about $minutes min)" >&2
      started=$SECONDS
      "$bench" --baton "$baton" "${store_args[@]}" --ttl "${ttl}s" --trials "$side_trials" \
        --instances 3 --results "$jsonl" "$@" >&2 || broken=1
      echo "side by side: $what, ttl ${ttl}s took $((SECONDS - started)) s" >&2
    done
  done
  stop_etcd
  py=$(debian_python)
  if "$py" "$script_dir/side_by_side.py" --load-before "$load_before" "$jsonl" \
    >"$results_dir/side-by-side.md"; then
    echo
    cat "$results_dir/side-by-side.md"
    echo
    echo "(in $results_dir/side-by-side.md; one line per trial in $jsonl)" >&2
  else
    broken=1
  fi
  plot_results "$jsonl"
}

# PNG plots of result lines into bench/results (bench/plot.py draws what it knows of them).
plot_results() {
  local py
  py=$(debian_python)
  if prepare_matplotlib "$py"; then
    "$py" "$(dirname "${BASH_SOURCE[0]}")/plot.py" --out "$results_dir" "$@" || broken=1
  fi
}

if [[ ! -x $pg_bin/initdb ]]; then
  echo "bench/run.sh: no PostgreSQL 15 at $pg_bin (set BATON_PG_BIN); PostgreSQL not measured" >&2
  exit 1
fi
echo "starting a throwaway PostgreSQL 15 cluster" >&2
if ! start_cluster; then
  echo "bench/run.sh: the PostgreSQL cluster did not start" >&2
  exit 1
fi
# baton connects as a role of its own, so what it runs can be told apart from the
# benchmark's own statements (made as the superuser) in pg_stat_statements.
psql_admin -d postgres -c "CREATE ROLE baton_bench LOGIN" \
  -c "CREATE DATABASE baton_bench OWNER baton_bench"
psql_admin -d baton_bench -c "CREATE EXTENSION pg_stat_statements"
store_url="postgresql://baton_bench@127.0.0.1:$pg_port/baton_bench"
stats_url="postgresql://postgres@127.0.0.1:$pg_port/baton_bench"
"$baton" migrate --store "$store_url" >/dev/null

if [[ -z $only ]]; then
  echo "failover benchmark: postgresql, ttl 1s, 30 trials each (a minute or two)" >&2
  "$bench" --baton "$baton" --store "$store_url" --ttl 1s --trials 30 --instances 3 "$@" ||
    broken=1
  echo

  echo "statements per heartbeat: postgresql, 3 and 20 instances, 10 s each" >&2
  "$statements_bench" --baton "$baton" --store "$store_url" --stats "$stats_url" --ttl 1s \
    --instances 3,20 --window 10s || broken=1
  echo
fi

if [[ -z $only || $only == scale ]]; then
  # One group of 10 to 2,000 instances, then 200 and 400 groups of 5; each point a fresh
  # process of Electors, 30 s of timed heartbeats, then one crash. One JSON line per point in
  # scale.jsonl, plotted against the instance and the group count.
  scale_points=${BATON_BENCH_SCALE:-1x10,1x100,1x1000,1x2000,200x5,400x5}
  echo "heartbeat latency and server cost: postgresql, groups x instances $scale_points," \
    "30 s each and a crash (fifteen minutes or so)" >&2
  mkdir -p "$results_dir"
  : >"$results_dir/scale.jsonl"
  for point in ${scale_points//,/ }; do
    # The previous point's thousands of threads and server processes leave the load average
    # high for minutes: each point starts once it is below 1 again (3 minutes at most).
    for _ in $(seq 36); do
      awk '{ exit !($1 < 1.0) }' /proc/loadavg && break
      sleep 5
    done
    "$scale_bench" --store "$store_url" --stats "$stats_url" --groups "${point%x*}" \
      --instances "${point#*x}" --window 30s --results "$results_dir/scale.jsonl" >&2 ||
      broken=1
  done
  scale_py=$(debian_python)
  if "$scale_py" "$script_dir/scale_table.py" "$results_dir/scale.jsonl" \
    >"$results_dir/scale.md"; then
    cat "$results_dir/scale.md"
    if prepare_matplotlib "$scale_py"; then
      "$scale_py" "$script_dir/plot.py" --out "$results_dir" "$results_dir/scale.jsonl" >&2 ||
        broken=1
    fi
  else
    broken=1
  fi
  echo
  if [[ $only == scale ]]; then exit 0; fi
fi

if [[ -z $only || $only == side-by-side ]]; then
  run_side_by_side "$@"
  if [[ $only == side-by-side ]]; then exit 0; fi
fi

# --- The queue benchmarks (SPEC 3) and the graphile-worker peer --------------------------

queue_results="$pg_dir/queue-results.jsonl"
: >"$queue_results"

# Each store's own tables go to stderr with the progress; stdout gets the joined table below.
run_queue_bench() {
  local store=$1
  shift
  echo "queue benchmarks: $store: throughput ($queue_items items; tenants $queue_tenants;" \
    "slots $queue_slots), then latency, stuck item, heartbeat under load (minutes)" >&2
  "$queue_bench" --store "$store" "$@" --items "$queue_items" --tenants "$queue_tenants" \
    --slots "$queue_slots" --repeat "$queue_repeat" --results "$queue_results" \
    --measure throughput,latency,stuck,heartbeat >&2 || broken=1
  echo "queue benchmarks: $store: stuck item again, the rescuer started only after the claim" >&2
  "$queue_bench" --store "$store" "$@" --measure stuck --late-rescuer \
    --results "$queue_results" >&2 || broken=1
  echo "queue benchmarks: $store: command mode (baton work -- true)" >&2
  "$queue_bench" --store "$store" "$@" --mode command --baton "$queue_baton" --items "$queue_items" \
    --tenants "${queue_tenants%%,*}" --slots 4,16 --results "$queue_results" >&2 || broken=1
}
run_queue_bench sqlite
run_queue_bench postgresql --pg-url "$store_url"
# A queue filled at once is claimed with plans made for an empty table until autovacuum
# analyzes it; the same runs after an ANALYZE show the steady state.
# (The first tenant count only: with 20000 tenants and one slot a run takes many minutes.)
echo "queue benchmarks: postgresql: throughput again with ANALYZE after the offers" >&2
"$queue_bench" --store postgresql --pg-url "$store_url" --analyze --items "$queue_items" \
  --tenants "${queue_tenants%%,*}" --slots "$queue_slots" --repeat "$queue_repeat" \
  --results "$queue_results" >&2 || broken=1

# A peer result line that says why the peer was not measured.
peer_skipped() {
  echo "bench/run.sh: graphile-worker peer skipped: $1" >&2
  printf '{"kind":"peer","peer":"graphile-worker","skipped":"%s","ok":true}\n' \
    "${1//\"/\'}" >>"$queue_results"
}

# Node and npm (Debian's packages when they are missing), then the pinned graphile-worker from
# the npm registry when node_modules does not already hold it. Never fails the run: without
# them the peer is skipped, and the table says why.
prepare_peer() {
  local log="$pg_dir/peer-install.log"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if ((EUID != 0)); then
      peer_skipped "node or npm is missing (install nodejs and npm, or run as root)"
      return 1
    fi
    echo "bench/run.sh: installing nodejs and npm for the queue peer" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >"$log" 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1 || true
      if ! DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm >>"$log" 2>&1; then
        tail -n 5 "$log" >&2
        peer_skipped "apt-get install nodejs npm failed"
        return 1
      fi
    fi
  fi
  if ! (cd "$peer_dir" && node -e 'require("graphile-worker"); require("pg")') >/dev/null 2>&1 ||
    ! cmp -s <(cd "$peer_dir" && node -p 'require("./node_modules/graphile-worker/package.json").version' 2>/dev/null) \
      <(cd "$peer_dir" && node -p 'require("./package.json").dependencies["graphile-worker"]'); then
    echo "bench/run.sh: npm ci in $peer_dir (graphile-worker from the npm registry)" >&2
    if ! (cd "$peer_dir" && timeout 300 npm ci --no-audit --no-fund --fetch-retries=1 \
      --fetch-timeout=20000) >"$log" 2>&1; then
      tail -n 5 "$log" >&2
      peer_skipped "npm ci failed (is the npm registry reachable?)"
      return 1
    fi
  fi
  if ! (cd "$peer_dir" && node -e 'require("graphile-worker")') >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    peer_skipped "graphile-worker does not load on node $(node --version)"
    return 1
  fi
}

if [[ -n ${BATON_BENCH_SKIP_PEER:-} ]]; then
  peer_skipped "BATON_BENCH_SKIP_PEER is set"
elif prepare_peer; then
  echo "queue peer: graphile-worker, $queue_items no-op jobs: default mode at concurrency 4 and" \
    "24, localQueue 500 at 24; then default 24 with a named queue per tenant" >&2
  (cd "$peer_dir" && node bench.js --url "$store_url" --jobs "$queue_items" \
    --tenants "${queue_tenants%%,*}" --configs default:4,default:24,localQueue:24 \
    --repeat "$queue_repeat") >>"$queue_results" || broken=1
  (cd "$peer_dir" && node bench.js --url "$store_url" --jobs "$queue_items" \
    --tenants "${queue_tenants%%,*}" --configs default:24 --queue-names) >>"$queue_results" ||
    broken=1
fi

echo
"$queue_table" "$queue_results" || broken=1
if cp "$queue_results" "$build_dir/bench/queue-results.jsonl" 2>/dev/null; then
  echo "(the result lines are in $build_dir/bench/queue-results.jsonl)" >&2
fi
plot_results "$queue_results"
