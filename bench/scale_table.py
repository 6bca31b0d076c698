#!/usr/bin/env python3
"""The scale benchmark's points (baton-pg-scale-bench --results) as one Markdown table.

    python3 bench/scale_table.py scale.jsonl > scale.md
"""

import json
import os
import platform
import sys
import time

from side_by_side import cpu_model  # The same machine line in every results file.


def number(value, digits):
    return "—" if value is None or value < 0 else f"{value:.{digits}f}"


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if r.get("kind") == "scale"]
    if not rows:
        print("scale_table.py: no scale rows in " + argv[1], file=sys.stderr)
        return 1
    print("| groups × instances | heartbeats/s | failed | p50 ms | p99 ms | max ms | server exec "
          "ms/hb | server CPU ms/hb | statements/hb | connections/instance | crash failover ms "
          "| load before → after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        per_hb = r["statements_per_heartbeat"]
        print(f"| {r['groups']} × {r['per_group']} | {r['heartbeats'] / r['window_s']:.0f} | "
              f"{r['failed']} | {number(r['p50_ms'], 1)} | {number(r['p99_ms'], 1)} | "
              f"{number(r['max_ms'], 1)} | {number(r['server_exec_ms_per_heartbeat'], 3)} | "
              f"{number(r['server_cpu_ms_per_heartbeat'], 3)} | {number(per_hb, 2)} | "
              f"{number(r['connections_per_instance'], 2)} | "
              f"{number(r['crash_failover_ms'], 0)} | "
              f"{r['load_start']:.2f} → {r['load_end']:.2f} |")
    print()
    print(f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {os.cpu_count()} CPUs "
          f"({cpu_model()}), Linux {platform.release()}, PostgreSQL 15 with fsync and "
          "synchronous_commit on, max_connections 2200; ttl 10 s, heartbeat 2 s. Instances are "
          "Electors (the state machine of `baton run`) as threads of one process, each with a "
          "store of its own: one connection. Each row is a fresh process: 30 s of timed "
          "heartbeats (every call, client side, nearest-rank percentiles), then the active "
          "instance of one group stops reaching the store and the next one's takeover is timed. "
          "Server exec: pg_stat_statements' execution time of the heartbeat function per call; "
          "server CPU: utime + stime of every PostgreSQL process over the window, per heartbeat.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
