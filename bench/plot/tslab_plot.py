#!/usr/bin/env python3
# This file contains the charts of `tslab demo` and `tslab bench --plot`: it reads
# the JSON document the tool writes (see bench/report/render_json.cpp) and draws
# PNG files with matplotlib, printing "wrote <path>" for each.
#
#   tslab_plot.py --input results.json --out DIR [--kind demo|bench]
import argparse
import json
import math
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
except ImportError as e:  # the tool checks first; this is for direct use
    sys.exit(f"tslab_plot.py: matplotlib is not available ({e}); Debian: apt-get install python3-matplotlib")

COLORS = {
    "tslab": "#d62728",
    "tslab-handle": "#e377c2",
    "tslab-epochs": "#9467bd",
    "tslab-malloc": "#8c564b",
    "tslab-malloc + scopes": "#bcbd22",
    "glibc": "#7f7f7f",
    "mimalloc": "#1f77b4",
    "jemalloc": "#2ca02c",
    "tcmalloc": "#ff7f0e",
}
MIB = 1024.0 * 1024.0


def color(alloc):
    return COLORS.get(alloc, "#17becf")


class Results:
    def __init__(self, doc):
        self.doc = doc
        self.order = doc.get("allocators", [])
        self.entries = [e for e in doc.get("results", []) if e.get("ok")]
        runs = doc.get("runs", 1)
        # Bars are medians; a curve is one real run: the one whose headline figure is the median.
        self.note = f"median of {runs} run{'s' if runs != 1 else ''}" if runs else ""
        self.curve_note = f"the median run of {runs}" if runs and runs != 1 else "1 run"

    def select(self, workload, mode=None, case=None):
        out = [e for e in self.entries if e["workload"] == workload and (mode is None or e["mode"] == mode)
               and (case is None or e["case"] == case)]
        rank = {a: i for i, a in enumerate(self.order)}
        return sorted(out, key=lambda e: (rank.get(e["allocator"], 99), e["threads"]))

    def has(self, workload):
        return any(e["workload"] == workload for e in self.entries)


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def shade_phases(ax, series, end_t, labels=True):
    """Shades the load phases (serve, burst, churn), draws a line at each boundary, names the phases."""
    names = series.get("phase_names", [])
    starts = series.get("phase_t", [])
    span = max(end_t - (starts[0] if starts else 0), 1e-9)
    for i, (name, t0) in enumerate(zip(names, starts)):
        t1 = starts[i + 1] if i + 1 < len(starts) else end_t
        ax.axvline(t0, color="#999999", lw=0.6, ls=":")
        if name.startswith("serve") or name.startswith("burst") or name.startswith("churn"):
            ax.axvspan(t0, t1, color="#eeeeee", zorder=0)
        if labels and (t1 - t0) / span > 0.06:  # too short a phase to name legibly
            ax.text((t0 + t1) / 2, 1.01, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=7, color="#555555")


def rss_small_multiples(res, workload, mode, title, out_dir, name, final_key, final_label):
    entries = [e for e in res.select(workload, mode) if e["series"].get("t")]
    if not entries:
        return
    fig, axes = plt.subplots(len(entries), 1, figsize=(9, 1.8 * len(entries) + 1.0), sharex=True, squeeze=False)
    top = max(max(e["series"]["rss_mib"] or [1]) for e in entries) * 1.12
    for row, (ax, e) in enumerate(zip(axes[:, 0], entries)):
        s = e["series"]
        t, rss = s["t"], s["rss_mib"]
        shade_phases(ax, s, t[-1] if t else 0, labels=row == 0)
        ax.plot(t, rss, color=color(e["allocator"]), lw=1.4)
        ax.set_ylabel("RSS MiB", fontsize=8)
        final = e["median"].get(final_key)
        label = e["allocator"]
        if final is not None and not math.isnan(final):
            label += f": {final_label} {final / MIB:.1f} MiB"
        ax.set_title(label, loc="left", fontsize=9, fontweight="bold", color=color(e["allocator"]),
                     pad=14 if row == 0 else 3)
        ax.set_ylim(0, top)
        ax.grid(axis="y", color="#dddddd", lw=0.5)
    axes[-1, 0].set_xlabel("seconds")
    fig.suptitle(f"{title}\n(process RSS; shaded: load phases; {res.curve_note})", fontsize=10)
    save(fig, out_dir, name)


def rss_overlay(res, workload, mode, x_key, y_key, title, xlabel, out_dir, name, phases=True):
    entries = [e for e in res.select(workload, mode) if e["series"].get(x_key)]
    if not entries:
        return
    fig, ax = plt.subplots(figsize=(9, 4.2))
    if phases:
        first = entries[0]["series"]
        shade_phases(ax, first, first[x_key][-1] if first[x_key] else 0)
    for e in entries:
        s = e["series"]
        ax.plot(s[x_key], s[y_key], color=color(e["allocator"]), lw=1.3, label=e["allocator"],
                marker="o" if len(s[x_key]) <= 20 else None, ms=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("RSS MiB")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", color="#dddddd", lw=0.5)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{title} ({res.curve_note})", fontsize=10)
    save(fig, out_dir, name)


def latency_percentiles(res, out_dir):
    entries = [e for e in res.select("request", "serve") if e["series"].get("lat_pct")]
    if not entries:
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))

    def nines(p):
        return -math.log10(1 - p / 100.0)

    for e in entries:
        s = e["series"]
        ax.plot([nines(p) for p in s["lat_pct"]], s["lat_us"], marker="o", ms=3, color=color(e["allocator"]),
                lw=1.4, label=e["allocator"])
    ticks = [50, 90, 99, 99.9, 99.99]
    ax.xaxis.set_major_locator(FixedLocator([nines(p) for p in ticks]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"p{100 - 100 * 10 ** -x:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_xlabel("percentile")
    ax.set_ylabel("request latency, µs (log)")
    ax.grid(color="#dddddd", lw=0.5, which="both")
    ax.legend(fontsize=8)
    ax.set_title(f"request: latency percentiles, lower is better ({res.curve_note})", fontsize=10)
    save(fig, out_dir, "request-latency.png")


def bars(ax, entries, key, scale, title, higher_better=False, fmt="{:.1f}"):
    names = [e["allocator"] for e in entries]
    values = [e["median"].get(key, float("nan")) * scale for e in entries]
    ax.bar(range(len(names)), values, color=[color(n) for n in names])
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8, rotation=20)
    for i, v in enumerate(values):
        if not math.isnan(v):
            ax.text(i, v, fmt.format(v), ha="center", va="bottom", fontsize=7)
    ax.set_title(f"{title} ({'higher' if higher_better else 'lower'} is better)", fontsize=9)
    ax.grid(axis="y", color="#dddddd", lw=0.5)


def request_summary(res, out_dir):
    entries = res.select("request", "serve")
    if not entries:
        return
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    bars(axes[0], entries, "req_per_s", 1e-3, "throughput, k req/s", True, "{:.0f}")
    bars(axes[1], entries, "p999_us", 1, "p99.9 latency, µs")
    bars(axes[2], entries, "rss_peak", 1 / MIB, "peak RSS, MiB")
    bars(axes[3], entries, "rss_after_phase", 1 / MIB, "RSS after the phase, MiB")
    fig.suptitle(f"request workload ({res.note})", fontsize=10)
    fig.tight_layout()
    save(fig, out_dir, "request-summary.png")


def thread_scaling(res, out_dir):
    entries = res.select("thread-scaling", "tput")
    if not entries:
        return
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for alloc in res.order:
        pts = sorted((e["threads"], e["median"].get("mops_per_s")) for e in entries if e["allocator"] == alloc)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color(alloc), label=alloc)
    ax.set_xlabel("threads")
    ax.set_ylabel("million ops/s, all threads")
    ax.set_xticks(sorted({e["threads"] for e in entries}))
    ax.set_ylim(bottom=0)
    ax.grid(color="#dddddd", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title(f"thread-scaling, higher is better ({res.note})", fontsize=10)
    save(fig, out_dir, "thread-scaling.png")


def simple_bars(res, workload, mode, panels, title, out_dir, name):
    entries = res.select(workload, mode)
    if not entries:
        return
    cases = sorted({e["case"] for e in entries})
    fig, axes = plt.subplots(len(cases), len(panels), figsize=(4.2 * len(panels), 3.3 * len(cases)), squeeze=False)
    for r, case in enumerate(cases):
        row = [e for e in entries if e["case"] == case]
        for c, (key, scale, label, higher) in enumerate(panels):
            bars(axes[r, c], row, key, scale, f"{case}: {label}" if len(cases) > 1 else label, higher)
    fig.suptitle(f"{title} ({res.note})", fontsize=10)
    fig.tight_layout()
    save(fig, out_dir, name)


# The preload group's workloads and the figure that sums each up: (workload, key, scale, label, higher is better).
PRELOAD_FIGURES = [
    ("python-json", "wall_ms", 1, "python-json, ms", False),
    ("sqlite", "wall_ms", 1, "sqlite, ms", False),
    ("git-commit", "wall_ms", 1, "git-commit, ms", False),
    ("cpp-containers", "wall_ms", 1, "cpp-containers, ms", False),
    ("cpp-requests", "rss_after_phase", 1 / MIB, "cpp-requests: RSS after, MiB", False),
    ("larson", "mops_per_s", 1, "larson, Mops/s", True),
    ("xmalloc", "mblocks_per_s", 1, "xmalloc, M blocks/s", True),
    ("cache-scratch", "wall_ms", 1, "cache-scratch, ms", False),
    ("thread-churn", "threads_per_s", 1, "thread-churn, threads/s", True),
    ("large-buffer", "ms_per_buffer", 1, "large-buffer, ms/buffer", False),
]


def preload_entries(res, workload):
    """The workload's entries; cpp-requests' scoped run as an allocator of its own."""
    out = []
    for e in res.select(workload):
        if e["mode"] == "scoped":
            e = dict(e, allocator=e["allocator"] + " + scopes")
        out.append(e)
    return out


def preload_charts(res, out_dir):
    figures = [f for f in PRELOAD_FIGURES if res.has(f[0])]
    if not figures:
        return
    for name, panel in (("preload.png", lambda f: (f[1], f[2], f[3], f[4])),
                        ("preload-rss.png", lambda f: ("rss_peak", 1 / MIB, f"{f[0]}: peak RSS, MiB", False))):
        shown = [f for f in figures if name == "preload.png" or f[0] != "cache-scratch"]
        cols = min(5, len(shown))
        rows = (len(shown) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
        for i, f in enumerate(shown):
            key, scale, label, higher = panel(f)
            ax = axes[i // cols, i % cols]
            bars(ax, preload_entries(res, f[0]), key, scale, label, higher, "{:.3g}")
            for tick in ax.get_xticklabels():
                tick.set_rotation(35)
                tick.set_horizontalalignment("right")
        for i in range(len(shown), rows * cols):
            axes[i // cols, i % cols].axis("off")
        what = "headline figures" if name == "preload.png" else "peak RSS (programs: the program's own)"
        fig.suptitle(f"preload group: {what}, each allocator LD_PRELOADed ({res.note})", fontsize=10)
        fig.tight_layout()
        save(fig, out_dir, name)


def main():
    ap = argparse.ArgumentParser(description="Draws the charts of a tslab JSON report.")
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kind", choices=["demo", "bench"], default="bench")
    args = ap.parse_args()
    with open(args.input) as f:
        res = Results(json.load(f))
    os.makedirs(args.out, exist_ok=True)

    if res.has("request"):
        rss_small_multiples(res, "request", "serve", "request: RSS over time, serve phases shaded, then drain + idle",
                            args.out, "request-rss.png", "rss_after_phase", "after phase")
        latency_percentiles(res, args.out)
        request_summary(res, args.out)
    if args.kind == "demo":
        return
    rss_overlay(res, "steady-churn", "rss", "ops_pct", "checkpoint_rss_mib",
                "steady-churn: RSS as the operations go on", "% of the operations done", args.out,
                "steady-churn-rss.png", phases=False)
    rss_small_multiples(res, "phase-shift", "rss", "phase-shift: burst, free, cool-down, purge", args.out,
                        "phase-shift-rss.png", "rss_after_cooldown", "after cool-down")
    rss_overlay(res, "sustained-phase-shifts", "rss", "cycle", "cycle_rss_mib",
                "sustained-phase-shifts: RSS at the end of each cycle", "cycle", args.out,
                "sustained-phase-shifts-rss.png", phases=False)
    thread_scaling(res, args.out)
    simple_bars(res, "fragmentation-adversary", "rss",
                [("rss_peak", 1 / MIB, "peak RSS, MiB", False), ("rss_after_purge", 1 / MIB, "after purge, MiB", False)],
                "fragmentation-adversary: every 100th object kept", args.out, "fragmentation-adversary.png")
    simple_bars(res, "churn", "tput", [("ns_per_op", 1, "ns per free+alloc", False)], "churn, 128 B", args.out,
                "churn.png")
    simple_bars(res, "bulk", "tput",
                [("alloc_ns", 1, "alloc ns/op", False), ("free_ns", 1, "free ns/op", False)], "bulk, 128 B",
                args.out, "bulk.png")
    preload_charts(res, args.out)
    simple_bars(res, "producer-consumer", "tput",
                [("mitems_per_s", 1, "million items/s", True), ("rss_peak", 1 / MIB, "peak RSS, MiB", False)],
                "producer-consumer", args.out, "producer-consumer.png")


if __name__ == "__main__":
    main()
