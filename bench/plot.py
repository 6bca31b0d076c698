#!/usr/bin/env python3
"""PNG plots of the benchmarks' JSON result lines (python3-matplotlib from Debian).

    python3 bench/plot.py --out bench/results RESULTS.jsonl...

Every line of every file is offered to each plot in PLOTS; a plot takes the lines it knows
(by their "bench" or "kind" field) and draws nothing when there are none. A new plot is one
function taking (rows, out_dir) and returning the paths it wrote, added to PLOTS.
"""

import argparse
import json
import os
import random
import statistics
import sys

import matplotlib

matplotlib.use("Agg")  # No display: files only.
import matplotlib.pyplot as plt  # noqa: E402

STORE_ORDER = ["sqlite", "postgresql", "etcd"]
KIND_TITLES = {"crash": "Crash failover: SIGKILL of the active wrapper",
               "graceful": "Graceful handover: SIGTERM to the active wrapper"}


def read_rows(paths):
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def failover_label(system, store):
    return f"etcdctl lock\n{store}" if system == "etcdctl-lock" else f"baton\n{store}"


def failover_order(pair):
    system, store = pair
    return (system == "etcdctl-lock", STORE_ORDER.index(store) if store in STORE_ORDER else 99)


def plot_failover(rows, out_dir):
    """Failover time distributions per system: one figure per kind, one panel per ttl, a box
    and every trial as a point for each wrapper and store."""
    rows = [r for r in rows if r.get("bench") == "failover"]
    written = []
    jitter = random.Random(1)  # Same picture from the same data.
    for kind, title in KIND_TITLES.items():
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        ttls = sorted({r["ttl_s"] for r in mine})
        fig, axes = plt.subplots(1, len(ttls), figsize=(5.5 * len(ttls), 4.5), squeeze=False)
        for ax, ttl in zip(axes[0], ttls):
            at_ttl = [r for r in mine if r["ttl_s"] == ttl]
            pairs = sorted({(r["system"], r["store"]) for r in at_ttl}, key=failover_order)
            samples = [[r["ms"] for r in at_ttl if (r["system"], r["store"]) == p and
                        r.get("handed_over") and r.get("ms") is not None] for p in pairs]
            positions = list(range(1, len(pairs) + 1))
            drawn = [(x, s) for x, s in zip(positions, samples) if s]
            if drawn:
                ax.boxplot([s for _, s in drawn], positions=[x for x, _ in drawn], widths=0.5,
                           showfliers=False)
            for x, s, pair in zip(positions, samples, pairs):
                color = "tab:red" if pair[0] == "etcdctl-lock" else "tab:blue"
                ax.scatter([x + jitter.uniform(-0.15, 0.15) for _ in s], s, s=10, alpha=0.6,
                           color=color, zorder=3)
                trials = sum(1 for r in at_ttl if (r["system"], r["store"]) == pair)
                outlived = sum(1 for r in at_ttl
                               if (r["system"], r["store"]) == pair and r.get("outlived"))
                note = f"{len(s)}/{trials} handed over" if len(s) < trials else f"n={trials}"
                if outlived:
                    note += f"\n{outlived} outlived"
                ax.annotate(note, (x, 1.0), xycoords=("data", "axes fraction"), ha="center",
                            va="bottom", fontsize=7)
                if not s:
                    ax.annotate("no handover", (x, 0.5), xycoords=("data", "axes fraction"),
                                ha="center", color="tab:red", fontsize=9)
            if kind == "crash":
                ax.axhline(ttl * 1000, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xlim(0.5, len(positions) + 0.5)
            ax.set_xticks(positions)
            ax.set_xticklabels([failover_label(*p) for p in pairs], fontsize=8)
            ax.set_title(f"ttl {ttl:g} s", pad=22)
            ax.set_ylabel("signal to next child's start, ms")
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle(title + (" (dashed: the ttl)" if kind == "crash" else ""))
        fig.tight_layout()
        path = os.path.join(out_dir, f"failover-{kind}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def plot_queue_throughput(rows, out_dir):
    """Queue throughput against slots (bench/queue_throughput.cc's lines): the median of the
    runs of each store, mode and tenant count."""
    rows = [r for r in rows if r.get("kind") == "throughput" and r.get("ok") and
            r.get("items_per_s")]
    if not rows:
        return []
    lines = {}
    for r in rows:
        key = (r["store"], r["mode"], r["tenants"], r.get("workers", 1))
        lines.setdefault(key, {}).setdefault(r["slots"], []).append(r["items_per_s"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (store, mode, tenants, workers), by_slots in sorted(lines.items()):
        slots = sorted(by_slots)
        label = f"{store}, {mode}, {tenants} tenants" + (f", {workers} workers"
                                                          if workers != 1 else "")
        ax.plot(slots, [statistics.median(by_slots[s]) for s in slots], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ticks = sorted({r["slots"] for r in rows})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("slots")
    ax.set_ylabel("items/s")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Queue throughput against slots")
    fig.tight_layout()
    path = os.path.join(out_dir, "queue-throughput.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


def plot_scale(rows, out_dir):
    """Heartbeat latency (client side, p50 and p99) and the server's CPU per heartbeat against
    the instance count in one group, and against the group count with 5 instances each
    (baton-pg-scale-bench's lines)."""
    rows = [r for r in rows if r.get("kind") == "scale" and r.get("heartbeats")]
    series = [("instances in one group", "instances",
               sorted((r for r in rows if r["groups"] == 1), key=lambda r: r["instances"])),
              ("groups of 5 instances", "groups",
               sorted((r for r in rows if r["groups"] > 1 and r["per_group"] == 5),
                      key=lambda r: r["groups"]))]
    series = [s for s in series if s[2]]
    if not series:
        return []
    fig, axes = plt.subplots(1, len(series), figsize=(5.5 * len(series), 4.5), squeeze=False)
    for ax, (label, field, points) in zip(axes[0], series):
        xs = [r[field] for r in points]
        ax.plot(xs, [r["p50_ms"] for r in points], marker="o", label="heartbeat p50")
        ax.plot(xs, [r["p99_ms"] for r in points], marker="o", label="heartbeat p99")
        cpu = [(r[field], r["server_cpu_ms_per_heartbeat"]) for r in points
               if r.get("server_cpu_ms_per_heartbeat", -1) >= 0]
        if cpu:
            ax.plot([x for x, _ in cpu], [y for _, y in cpu], marker="s", linestyle="--",
                    label="server CPU per heartbeat")
        if len(xs) > 1 and max(xs) / max(min(xs), 1) >= 10:
            ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"PostgreSQL heartbeats against {field}")
    fig.tight_layout()
    path = os.path.join(out_dir, "scale-heartbeat.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


PLOTS = [plot_failover, plot_queue_throughput, plot_scale]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="JSON lines files")
    parser.add_argument("--out", required=True, help="directory for the PNG files")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = read_rows([p for p in args.results if os.path.exists(p)])
    written = [path for plot in PLOTS for path in plot(rows, args.out)]
    for path in written:
        print(f"plot.py: wrote {path}", file=sys.stderr)
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
