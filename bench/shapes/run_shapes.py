#!/usr/bin/env python3
"""This file contains run_shapes.py, which times the stress shapes of bench/shapes/
under glibc, tslab (libtslab-malloc.so) and the peers, and prints their medians.

Usage, from the repository's root (DIR is the CMake build directory, default build):
    python3 bench/shapes/run_shapes.py [--build DIR] [--runs N] [NAME...]

Each program runs N times (default 3) under every allocator, round-robin (one
run of each allocator in turn, then the next round), so that a change in the
machine's load falls on all of them alike. The allocators are glibc (nothing
preloaded), tslab (DIR/libtslab-malloc.so, LD_PRELOADed) and the peers mimalloc,
jemalloc and tcmalloc, LD_PRELOADed from the paths of Debian's packages
(/usr/lib/x86_64-linux-gnu/libmimalloc.so.2, libjemalloc.so.2 and
libtcmalloc.so.4); a peer whose file is missing is skipped with a message.
Every run is timed by /usr/bin/time.

NAME selects programs: a name of PROGRAMS below (sh6bench, bmt-1t, ...) or a
program's (bench_malloc_thread selects bmt-1t and bmt-2t). Default: all.

For each program it prints a Markdown table of the medians of each column
(wall, user and system time in seconds, peak RSS in MiB, minor page faults),
tslab's wall time and peak RSS over the best peer's (the lowest of glibc,
mimalloc, jemalloc and tcmalloc), and whether every allocator printed the same
output (each program prints a checksum that does not depend on the allocator).

The programs are built by CMake into DIR/bench/shapes/tslab_shape_<name>, the
library as DIR/libtslab-malloc.so:

    cmake -S . -B build
    cmake --build build -j2 --target tslab_malloc tslab_shape_sh6bench ...

Exit status: 0; 1 if a run failed or the outputs differ; 2 for a bad command
line, a missing program, library or /usr/bin/time.
"""

import argparse
import os
import statistics
import subprocess
import sys

# name | program | arguments: the command lines of docs/BENCHMARKS.md's figures
# ("Stress shapes: a third round").
PROGRAMS = [
    ("sh6bench", "sh6bench", "2 3000 5000 1000"),
    ("sh8bench", "sh8bench", "2 1500 5000 1000"),
    ("rptest", "rptest", "2 1000 8000"),
    ("bmt-1t", "bench_malloc_thread", "1 20000000 4000"),
    ("bmt-2t", "bench_malloc_thread", "2 10000000 4000"),
    ("alloc-test", "alloc_test", "2 40000 500 16"),
    ("cache-thrash", "cache_thrash", "2 3000 8 100000"),
    ("mstress", "mstress", "4 50 40"),
    ("cfrac-like", "cfrac_like", "3000000"),
    ("espresso-like", "espresso_like", "40000"),
    ("barnes-like", "barnes_like", "4000 80"),
    ("server-bufs", "server_bufs", "2 1600000 2000"),
]

PEER_DIR = "/usr/lib/x86_64-linux-gnu"
PEERS = [
    ("mimalloc", os.path.join(PEER_DIR, "libmimalloc.so.2")),
    ("jemalloc", os.path.join(PEER_DIR, "libjemalloc.so.2")),
    ("tcmalloc", os.path.join(PEER_DIR, "libtcmalloc.so.4")),
]

TIME = "/usr/bin/time"
MARK = "SHAPES-TIME"
COLUMNS = ["wall s", "user s", "sys s", "peak RSS MiB", "minor faults"]


def fail(message):
    """A missing program, library or tool: exit status 2."""
    print("run_shapes.py: " + message, file=sys.stderr)
    sys.exit(2)


def parse_args():
    parser = argparse.ArgumentParser(
        description="Run the stress shapes under glibc, tslab, mimalloc, jemalloc and tcmalloc.",
        epilog="NAME: " + ", ".join(n for n, _, _ in PROGRAMS) + ", or a program's file name (bench_malloc_thread).",
    )
    parser.add_argument("--build", default="build", metavar="DIR", help="the CMake build directory (default: build)")
    parser.add_argument("--runs", type=int, default=3, metavar="N", help="runs per allocator (default: 3)")
    parser.add_argument("names", nargs="*", metavar="NAME", help="programs to run (default: all)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    known = {n for n, _, _ in PROGRAMS} | {p for _, p, _ in PROGRAMS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error("unknown program %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(known))))
    return args


def allocators(build):
    """The allocators to run, as (name, library or None); says which peers are skipped."""
    tslab = os.path.join(build, "libtslab-malloc.so")
    if not os.path.isfile(tslab):
        fail("%s not found (cmake --build %s --target tslab_malloc)" % (tslab, build))
    result = [("glibc", None), ("tslab", os.path.abspath(tslab))]
    for name, path in PEERS:
        if os.path.isfile(path):
            result.append((name, path))
        else:
            print("%s: %s not found, skipped" % (name, path), flush=True)
    return result


def run_once(command, library):
    """One timed run: (figures or None, stdout, message)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if library:
        env["LD_PRELOAD"] = library
    p = subprocess.run(
        [TIME, "-f", MARK + " %e %U %S %M %R"] + command, env=env, capture_output=True, text=True
    )
    lines = [line for line in p.stderr.splitlines() if line.startswith(MARK + " ")]
    if p.returncode != 0 or not lines:
        stderr = "\n".join(line for line in p.stderr.splitlines() if not line.startswith(MARK + " "))
        return None, p.stdout, "exit status %d, stderr: %s" % (p.returncode, stderr[-500:].strip())
    wall, user, sys_, rss_kib, minflt = (float(v) for v in lines[-1].split()[1:])
    return [wall, user, sys_, rss_kib / 1024, minflt], p.stdout, ""


def main():
    args = parse_args()
    if not os.access(TIME, os.X_OK):
        fail("%s not found (Debian package time)" % TIME)
    selected = [entry for entry in PROGRAMS if not args.names or entry[0] in args.names or entry[1] in args.names]
    for _, program, _ in selected:
        path = os.path.join(args.build, "bench", "shapes", "tslab_shape_" + program)
        if not os.access(path, os.X_OK):
            fail("%s not found (cmake --build %s --target tslab_shape_%s)" % (path, args.build, program))
    allocs = allocators(args.build)
    failed = False
    for name, program, arguments in selected:
        command = [os.path.join(args.build, "bench", "shapes", "tslab_shape_" + program)] + arguments.split()
        figures = {a: [] for a, _ in allocs}
        outputs = {}
        for r in range(args.runs):
            for alloc, library in allocs:
                values, stdout, message = run_once(command, library)
                if values is None:
                    print("!! %s under %s, run %d: %s" % (name, alloc, r + 1, message), file=sys.stderr, flush=True)
                    failed = True
                    continue
                figures[alloc].append(values)
                who = outputs.setdefault(stdout.strip(), [])
                if alloc not in who:
                    who.append(alloc)
        same = len(outputs) == 1
        failed = failed or not same
        print("## %s: `%s`\n" % (name, " ".join(command)))
        print("| allocator | " + " | ".join(COLUMNS) + " |")
        print("|:---|" + "---:|" * len(COLUMNS))
        medians = {}
        for alloc, _ in allocs:
            if not figures[alloc]:
                print("| %s | failed |%s" % (alloc, " |" * (len(COLUMNS) - 1)))
                continue
            m = [statistics.median(v[i] for v in figures[alloc]) for i in range(len(COLUMNS))]
            medians[alloc] = m
            print("| %s | %.2f | %.2f | %.2f | %.1f | %d |" % (alloc, m[0], m[1], m[2], m[3], int(m[4])))
        print()
        peers = [a for a in medians if a != "tslab"]
        if "tslab" in medians and peers:
            best_wall = min(medians[a][0] for a in peers)
            best_rss = min(medians[a][3] for a in peers)
            print(
                "tslab / best peer: wall %.2fx, peak RSS %.2fx"
                % (medians["tslab"][0] / max(best_wall, 0.01), medians["tslab"][3] / best_rss)
            )
        if same:
            print("output: identical under every allocator (%s)" % next(iter(outputs)))
        elif outputs:
            print("output: DIFFERS")
            for text, who in outputs.items():
                print("  %s: %s" % (", ".join(who), text))
        else:
            print("output: none (every run failed)")
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
