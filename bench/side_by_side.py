#!/usr/bin/env python3
"""The side-by-side table: baton on each store against `etcdctl lock --ttl`, from the JSON
lines baton-failover-bench --results writes (one per trial). Standard library only, so the
table is written even where matplotlib is missing.

    python3 bench/side_by_side.py [--load-before X] RESULTS.jsonl... > side-by-side.md
"""

import argparse
import datetime
import json
import math
import os
import platform
import sys
from collections import OrderedDict

KINDS = OrderedDict([("crash", "crash failover (SIGKILL)"),
                     ("graceful", "graceful handover (SIGTERM)")])
STORE_ORDER = ["sqlite", "postgresql", "etcd"]
PEER = "etcdctl-lock"


def percentile(samples, p):
    """Nearest rank, as bench/report.cc computes it (with under 100 samples p99 is the max)."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = math.ceil(p / 100.0 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def read_rows(paths):
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                row = json.loads(line)
                if row.get("bench") == "failover":
                    rows.append(row)
    return rows


def series_key(row):
    return (row["kind"], row["ttl_s"], row["system"], row["store"])


def summarize(rows):
    """(kind, ttl, system, store) -> trials, samples in ms, outlived and handed-over counts."""
    series = {}
    for row in rows:
        s = series.setdefault(series_key(row), {"trials": 0, "ms": [], "outlived": 0,
                                                "handed_over": 0})
        s["trials"] += 1
        s["outlived"] += bool(row.get("outlived"))
        if row.get("handed_over") and row.get("ms") is not None:
            s["handed_over"] += 1
            s["ms"].append(float(row["ms"]))
    return series


def order(key):
    kind, ttl, system, store = key
    return (list(KINDS).index(kind), ttl, system == PEER,
            STORE_ORDER.index(store) if store in STORE_ORDER else 99)


def fmt(value, decimals=1):
    return "—" if value is None else f"{value:.{decimals}f}"


def ttl_text(ttl):
    return f"{ttl:g} s"


def system_text(system):
    return "`etcdctl lock`" if system == PEER else "baton"


def main_table(series):
    out = ["| what | ttl | system | store | trials | p50 ms | p99 ms | max ms | p99 / ttl | "
           "outlived | handed over |",
           "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for key in sorted(series, key=order):
        kind, ttl, system, store = key
        s = series[key]
        p50, p99 = percentile(s["ms"], 50), percentile(s["ms"], 99)
        top = max(s["ms"]) if s["ms"] else None
        ratio = None if p99 is None else p99 / (ttl * 1000.0)
        handed = f"{s['handed_over']}/{s['trials']}"
        if kind == "graceful":
            handed = ("yes" if s["handed_over"] == s["trials"] else
                      "no" if s["handed_over"] == 0 else "partly") + f" ({handed})"
        out.append(f"| {KINDS[kind]} | {ttl_text(ttl)} | {system_text(system)} | {store} | "
                   f"{s['trials']} | {fmt(p50)} | {fmt(p99)} | {fmt(top)} | {fmt(ratio, 2)} | "
                   f"{s['outlived']} | {handed} |")
    return "\n".join(out)


def ratio_table(series):
    out = ["| what | ttl | baton on | p50 baton / etcdctl | p99 baton / etcdctl |",
           "|---|---|---|---:|---:|"]
    for key in sorted(series, key=order):
        kind, ttl, system, store = key
        if system == PEER:
            continue
        peer = series.get((kind, ttl, PEER, "etcd"))
        mine = series[key]
        if peer is None:
            continue
        if not peer["ms"]:
            cells = ["— (etcdctl lock did not hand over)"] * 2
        else:
            cells = []
            for p in (50, 99):
                a, b = percentile(mine["ms"], p), percentile(peer["ms"], p)
                cells.append("—" if a is None or not b else f"{a / b:.3f}")
        out.append(f"| {KINDS[kind]} | {ttl_text(ttl)} | {store} | {cells[0]} | {cells[1]} |")
    return "\n".join(out) if len(out) > 2 else ""


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(load_before):
    load_after = os.getloadavg()[0]
    before = "unknown" if load_before is None else f"{load_before:.2f}"
    return (f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}; "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
            f"1-minute load average {before} before the runs and {load_after:.2f} after.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="JSON lines from baton-failover-bench")
    parser.add_argument("--load-before", type=float, help="load average when the runs began")
    args = parser.parse_args()
    series = summarize(read_rows(args.results))
    if not series:
        print("side_by_side.py: no failover result lines", file=sys.stderr)
        return 1
    parts = [
        "# Failover side by side: baton and `etcdctl lock --ttl`",
        "",
        machine(args.load_before),
        "",
        main_table(series),
        "",
        "Measured by `baton-failover-bench` (bench/run.sh, `BATON_BENCH_ONLY=side-by-side`): "
        "three wrappers of one group or lock, each running the same probe child; time from "
        "`kill()` of the active wrapper to the next child's first instruction. baton on each "
        "store and `etcdctl lock` on the same three-member etcd cluster, with the same whole-"
        "second ttl. p99 is nearest-rank (with fewer than 100 trials it is the maximum). "
        "Outlived: trials in which the signalled wrapper's child was still running when the "
        "next child started, i.e. two active copies. Handed over: trials in which a next child "
        "started within 2 × ttl + 1 s of the signal (baton must always).",
    ]
    ratios = ratio_table(series)
    if ratios:
        parts += ["", "Ratios (below 1: baton is faster):", "", ratios]
    print("\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
