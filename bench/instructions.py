#!/usr/bin/env python3
# This file contains `make bench-instructions`: it runs tslab_icount
# (bench/micro/icount.cpp) under `valgrind --tool=callgrind` for tslab's pointer
# and handle APIs, for tslab-malloc (malloc/free with libtslab-malloc.so
# LD_PRELOADed: tslab as the process malloc) and for glibc malloc, mimalloc,
# jemalloc and tcmalloc (each LD_PRELOADed) on four workloads (churn, bulk,
# request, handoff), and reports the allocator's instructions per operation as a
# Markdown table with ratios to the best peer (tslab-malloc is not one),
# printed and written to a file (plus the raw counts as JSON).
#
# Counting: callgrind collects only inside the wrapper functions icount_alloc,
# icount_free and icount_phase (--collect-atstart=no --toggle-collect=...), and
# this script takes from the callgrind output file the cost of the calls those
# wrappers make, i.e. the instructions from the allocator entry point's first to
# its return, with everything it calls. The loop, the PRNG, the writes to the
# blocks and the wrappers' own instructions are not counted. Every run has
# libtslab_frozen_clock.so (bench/micro/frozen_clock.c) preloaded too: time
# stands still in the measured process, so timer-driven purges (jemalloc's
# decay, mimalloc's delayed decommit) never come due and the counts are the
# same every run (--real-clock leaves it out).
#
#   bench/instructions.py [--build-dir build] [--out FILE] [--allocators LIST]
#                         [--workloads LIST] [--repeat N] [--set NAME=VALUE ...]
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ALLOCATORS = ["tslab", "tslab-handle", "tslab-malloc", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
# The allocators ratios are taken to: tslab-malloc is measured like them but is not one.
PEERS = ["glibc", "mimalloc", "jemalloc", "tcmalloc"]
# Measured through malloc/free, with a shared object LD_PRELOADed (but glibc).
PRELOADED = ["tslab-malloc", "mimalloc", "jemalloc", "tcmalloc"]
WORKLOADS = ["churn", "bulk", "request", "handoff"]
WRAPPERS = ["icount_alloc", "icount_free", "icount_phase"]
# The defaults of tslab_icount, repeated for the report's description.
DEFAULTS = {"ops": 200000, "slots": 10000, "size": 128, "count": 100000, "requests": 20000,
            "cache": 5000, "cache_bp": 100, "batch": 4096, "obj_min": 16, "obj_max": 1024,
            "req_min": 20, "req_max": 200, "seed": 0x5eedf00d, "handoff_batch": 256}


def fail(msg):
    print(f"bench-instructions: {msg}", file=sys.stderr)
    sys.exit(1)


def parse_callgrind(path):
    """Per function name: its own cost and the inclusive cost of the calls it makes; and the summary."""
    names = {}  # compressed name ids: "(12)" -> name (fn= and cfn= share the table)
    self_cost, call_cost = {}, {}
    current, pending_call = None, False
    summary = None
    name_re = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def resolve(value):
        m = name_re.match(value)
        if not m:
            return value
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), value)

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                fields = line.split()
                ir = int(fields[1]) if len(fields) > 1 else 0
                if pending_call:
                    call_cost[current] = call_cost.get(current, 0) + ir
                    pending_call = False
                elif current is not None:
                    self_cost[current] = self_cost.get(current, 0) + ir
                continue
            key, _, value = line.partition("=")
            if key == "fn":
                current = resolve(value)
            elif key == "cfn":
                resolve(value)  # records a new compressed name
            elif key == "calls":
                pending_call = True  # the next cost line is the call's inclusive cost
            elif line.startswith("summary:"):
                summary = int(line.split()[1])
    return self_cost, call_cost, summary


def run_one(binary, workload, alloc, preload, params, out_file):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    preload = " ".join(p for p in preload if p)
    if preload:
        env["LD_PRELOAD"] = preload
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--collect-atstart=no"]
    cmd += [f"--toggle-collect={w}" for w in WRAPPERS]
    cmd += [binary, workload, alloc] + [f"{k}={v}" for k, v in params.items()]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{workload} {alloc} failed (status {r.returncode}):\n{r.stderr[-3000:]}")
    line = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not line:
        fail(f"{workload} {alloc}: no report on stdout")
    report = json.loads(line[-1])
    self_cost, call_cost, summary = parse_callgrind(out_file)
    counted = {w: call_cost.get(w, 0) for w in WRAPPERS}
    wrapper_self = sum(self_cost.get(w, 0) for w in WRAPPERS)
    # Everything callgrind collected must be the wrappers and their callees.
    if summary != wrapper_self + sum(counted.values()):
        fail(f"{workload} {alloc}: summary {summary} is not the wrappers' {wrapper_self} "
             f"+ their calls' {sum(counted.values())}: was something else collected?")
    report["instr"] = counted
    report["wrapper_self"] = wrapper_self
    return report


def per(n, d):
    return n / d if d else float("nan")


def figures(results):
    """The report's figures per allocator, from the raw counts."""
    out = {}
    for alloc, by_w in results.items():
        f = {}
        if "churn" in by_w:
            r = by_w["churn"]
            f["churn_alloc"] = per(r["instr"]["icount_alloc"], r["allocs"])
            f["churn_free"] = per(r["instr"]["icount_free"], r["frees"])
            f["churn_pair"] = per(r["instr"]["icount_alloc"] + r["instr"]["icount_free"], r["allocs"])
        if "bulk" in by_w:
            r = by_w["bulk"]
            f["bulk_alloc"] = per(r["instr"]["icount_alloc"], r["allocs"])
            f["bulk_free"] = per(r["instr"]["icount_free"], r["frees"])
        if "request" in by_w:
            r = by_w["request"]
            total = sum(r["instr"].values())
            f["req_object"] = per(total, r["allocs"])
            f["req_request"] = per(total, r["requests"])
            f["req_alloc"] = per(r["instr"]["icount_alloc"], r["allocs"])
            f["req_free"] = per(r["instr"]["icount_free"], r["frees"])
            f["req_phase"] = per(r["instr"]["icount_phase"], r["requests"])
        if "handoff" in by_w:
            r = by_w["handoff"]
            f["handoff_alloc"] = per(r["instr"]["icount_alloc"], r["allocs"])
            f["handoff_free"] = per(r["instr"]["icount_free"], r["frees"])
            f["handoff_pair"] = per(r["instr"]["icount_alloc"] + r["instr"]["icount_free"], r["allocs"])
        out[alloc] = f
    return out


def table(allocs, figs, columns):
    """Markdown table; each cell is the value and its ratio to the lowest peer's."""
    lines = ["| allocator | " + " | ".join(title for _, title in columns) + " |",
             "|:---|" + "---:|" * len(columns)]
    best = {}
    for key, _ in columns:
        vals = [figs[a][key] for a in PEERS if a in figs and key in figs[a]]
        best[key] = min(vals) if vals else None
    for a in allocs:
        cells = []
        for key, _ in columns:
            v = figs[a].get(key)
            if v is None:
                cells.append("n/a")
            elif best[key]:
                cells.append(f"{v:,.1f} ({v / best[key]:.2f}x)")
            else:
                cells.append(f"{v:,.1f}")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def git_commit():
    try:
        r = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.abspath(__file__)))
        return r.stdout.strip() or "?"
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description="callgrind instruction counts per operation, tslab and peers")
    ap.add_argument("--build-dir", default="build",
                    help="build tree holding bench/tslab_icount (default: build)")
    ap.add_argument("--out", help="Markdown report (default: BUILD/bench-results/instructions.md)")
    ap.add_argument("--allocators", default=",".join(ALLOCATORS), help="comma-separated (default: all)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated (default: all)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each measurement N times and fail unless the counts are equal")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a tslab_icount parameter: " + ", ".join(DEFAULTS))
    ap.add_argument("--real-clock", action="store_true",
                    help="do not preload the frozen clock (timer-driven purges then make counts vary)")
    args = ap.parse_args()

    allocs = [a for a in args.allocators.split(",") if a]
    workloads = [w for w in args.workloads.split(",") if w]
    for a in allocs:
        if a not in ALLOCATORS:
            fail(f"unknown allocator {a} (known: {', '.join(ALLOCATORS)})")
    for w in workloads:
        if w not in WORKLOADS:
            fail(f"unknown workload {w} (known: {', '.join(WORKLOADS)})")
    if args.repeat < 1:
        fail("--repeat needs a number >= 1")
    params = dict(DEFAULTS)
    for s in args.set:
        name, eq, value = s.partition("=")
        if not eq or name not in DEFAULTS or not value.isdigit():
            fail(f"bad --set {s} (NAME=VALUE with NAME one of {', '.join(DEFAULTS)})")
        params[name] = int(value)
    if shutil.which("valgrind") is None:
        fail("valgrind not found (Debian package valgrind; `make deps` installs it)")
    binary = os.path.join(args.build_dir, "bench", "tslab_icount")
    if not os.access(binary, os.X_OK):
        fail(f"{binary} not found: cmake --build {args.build_dir} --target tslab_icount")
    clock = "" if args.real_clock else os.path.abspath(os.path.join(args.build_dir, "bench",
                                                                    "libtslab_frozen_clock.so"))
    if clock and not os.path.exists(clock):
        fail(f"{clock} not found: cmake --build {args.build_dir} --target tslab_frozen_clock")
    out_md = args.out or os.path.join(args.build_dir, "bench-results", "instructions.md")
    out_dir = os.path.dirname(os.path.abspath(out_md))
    cg_dir = os.path.join(out_dir, "callgrind")
    os.makedirs(cg_dir, exist_ok=True)

    # Which parameters each workload reads.
    used = {"churn": ["ops", "slots", "size", "seed"], "bulk": ["count", "size"],
            "request": ["requests", "cache", "cache_bp", "batch", "obj_min", "obj_max", "req_min", "req_max",
                        "seed"],
            "handoff": ["ops", "handoff_batch", "obj_min", "obj_max", "seed"]}
    results, live, skipped = {}, {}, []
    for alloc in allocs:
        preload = ""
        if alloc in PRELOADED:
            preload = subprocess.run([binary, "--preload", alloc], capture_output=True, text=True,
                                     check=True).stdout.strip()
            if not os.path.exists(preload):
                print(f"bench-instructions: skipping {alloc}: {preload} not found", file=sys.stderr)
                skipped.append(alloc)
                continue
        for w in workloads:
            p = {k: params[k] for k in used[w]}
            counts = []
            for i in range(args.repeat):
                suffix = f"-{i + 1}" if args.repeat > 1 else ""
                out_file = os.path.join(cg_dir, f"{w}-{alloc}{suffix}.out")
                print(f"bench-instructions: {w:8} {alloc:13} run {i + 1}/{args.repeat}", file=sys.stderr)
                r = run_one(binary, w, alloc, [preload, clock], p, out_file)
                counts.append(r["instr"])
            if any(c != counts[0] for c in counts[1:]):
                fail(f"{w} {alloc}: counts differ between runs: {counts}")
            results.setdefault(alloc, {})[w] = r
            live[alloc] = r["live"]
    allocs = [a for a in allocs if a not in skipped]
    figs = figures(results)

    main_cols = [("churn_pair", "churn instr/pair"), ("bulk_alloc", "bulk alloc instr/op"),
                 ("bulk_free", "bulk free instr/op"), ("req_object", "request instr/object"),
                 ("req_request", "request instr/request"), ("handoff_pair", "handoff instr/pair")]
    split_cols = [("churn_alloc", "churn alloc instr/op"), ("churn_free", "churn free instr/op"),
                  ("req_alloc", "request alloc instr/object"), ("req_free", "request free instr/object"),
                  ("req_phase", "request epoch calls instr/request"),
                  ("handoff_alloc", "handoff alloc instr/op"), ("handoff_free", "handoff free instr/op")]
    main_cols = [c for c in main_cols if any(c[0] in figs[a] for a in allocs)]
    split_cols = [c for c in split_cols if any(c[0] in figs[a] for a in allocs)]
    pr = params
    req = results.get(allocs[0], {}).get("request") if allocs else None
    desc = {
        "churn": f"churn: 1 thread, {pr['ops']:,} free + allocate pairs of {pr['size']} B at random places "
                 f"in a window of {pr['slots']:,} blocks.",
        "bulk": f"bulk: 1 thread allocates {pr['count']:,} x {pr['size']} B, then frees them all.",
        "request": f"request: 1 thread serves {pr['requests']:,} requests of {pr['req_min']}-{pr['req_max']} "
                   f"objects of {pr['obj_min']}-{pr['obj_max']} B"
                   + (f" ({req['allocs']:,} objects)" if req else "")
                   + f", {pr['cache_bp'] / 100:g}% of them into a FIFO cache of {pr['cache']:,} whose "
                   f"evictions are freed, then the cache drains; tslab: an epoch per {pr['batch']:,} "
                   "requests closed by epoch_advance, the cache in a long-lived epoch of the same "
                   "allocator held outside the rotation, closed after the drain (instr/object "
                   "counts those calls too).",
        "handoff": f"handoff: 1 thread allocates {pr['ops'] // pr['handoff_batch'] * pr['handoff_batch']:,} "
                   f"blocks of {pr['obj_min']}-{pr['obj_max']} B in batches of {pr['handoff_batch']:,}, a "
                   "second thread frees each batch (every free is of another thread's block); the two "
                   "take turns.",
    }
    desc = [desc[w] for w in WORKLOADS if w in workloads]
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    clock_note = ("the real clock (timer-driven purges may run)" if args.real_clock else
                  "the clock frozen so that no timer-driven purge runs")
    md = ["# Instructions per operation (`make bench-instructions`)", "",
          f"Counted by callgrind ({valgrind}) on tslab at {git_commit()}: only the instructions inside "
          "the allocator's calls (callgrind collects only inside the wrappers that make them, and only "
          f"their callees' costs are taken), with {clock_note}. Each cell: instructions per operation and "
          "the ratio to the lowest peer (lower is better). tslab: slab_malloc_epoch / slab_free_checked; "
          "tslab-handle: alloc_obj_epoch / free_obj; tslab-malloc: malloc / free with libtslab-malloc.so "
          "LD_PRELOADed (tslab as the process malloc; not a peer, no ratio is taken to it); peers: malloc / "
          "free with the peer LD_PRELOADed.",
          "", *[f"- {d}" for d in desc], "",
          table(allocs, figs, main_cols), "",
          "Split by call (request epoch calls: tslab's epoch_advance per batch and the cache epoch's "
          "open and close, which the request columns above include; none for the peers):", "",
          table(allocs, figs, split_cols), "",
          "Allocator serving each run: " + "; ".join(f"{a}: {live[a]}" for a in allocs if a in live)
          + "."]
    text = "\n".join(md) + "\n"
    print(text)
    with open(out_md, "w") as f:
        f.write(text)
    json_path = os.path.splitext(out_md)[0] + ".json"
    with open(json_path, "w") as f:
        json.dump({"params": params, "results": results, "figures": figs}, f, indent=1)
    print(f"bench-instructions: wrote {out_md} and {json_path}; callgrind files in {cg_dir}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
