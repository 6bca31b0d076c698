#!/usr/bin/env bash
# Runs the benchmarks the way the README reports them:
#   1. failover and handover times on SQLite (ttl 1s, 30 trials of each kind);
#   2. the same on PostgreSQL 15, on a throwaway cluster this script starts and removes;
#   3. statements per instance per heartbeat on that cluster, as pg_stat_statements counts them;
#   4. heartbeat latency with 500 instances of one group on that cluster.
# Usage: bash bench/run.sh BUILD_DIR [extra baton-failover-bench options...]
# Exits 0 unless something broke; a slow number is reported, not an error.
set -euo pipefail

build_dir=${1:?usage: bash bench/run.sh BUILD_DIR}
shift

baton="$build_dir/src/cli/baton"
bench="$build_dir/bench/baton-failover-bench"
statements_bench="$build_dir/bench/baton-pg-statements-bench"
scale_bench="$build_dir/bench/baton-pg-scale-bench"
for bin in "$baton" "$bench" "$statements_bench" "$scale_bench"; do
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

on_exit() {
  local rc=$?
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
max_connections = 1200  # 500 instances of the scale benchmark, two connections each
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

echo "failover benchmark: sqlite, ttl 1s, 30 trials each (a minute or two)" >&2
"$bench" --baton "$baton" --store-kind sqlite --ttl 1s --trials 30 --instances 3 "$@" || broken=1
echo

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

echo "failover benchmark: postgresql, ttl 1s, 30 trials each (a minute or two)" >&2
"$bench" --baton "$baton" --store "$store_url" --ttl 1s --trials 30 --instances 3 "$@" ||
  broken=1
echo

echo "statements per heartbeat: postgresql, 3 and 20 instances, 10 s each" >&2
"$statements_bench" --baton "$baton" --store "$store_url" --stats "$stats_url" --ttl 1s \
  --instances 3,20 --window 10s || broken=1
echo

echo "heartbeat latency: postgresql, 500 instances, 30 s (two minutes or so)" >&2
"$scale_bench" --store "$store_url" --instances 500 --window 30s || broken=1
