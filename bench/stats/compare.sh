#!/usr/bin/env bash
# This file contains the side-by-side run of the statistics benchmark: the
# library with statistics (the default) and built with TSLAB_STATS=0, each
# repeated 3 times, medians printed with the ratio.
#   bench/stats/compare.sh [build-dir]     (default: build)
set -euo pipefail
dir=${1:-build}/bench
for v in stats nostats; do
  "$dir/stats_bench_$v" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=json --benchmark_out="$dir/stats_bench_$v.json" >/dev/null
done
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
def medians(v):
    rows = json.load(open(f"{d}/stats_bench_{v}.json"))["benchmarks"]
    return {r["run_name"]: (r["real_time"], r["time_unit"]) for r in rows if r.get("aggregate_name") == "median"}
on, off = medians("stats"), medians("nostats")
print(f"{'benchmark':34} {'stats on':>14} {'stats off':>14} {'on/off':>7}")
for name, (t, unit) in on.items():
    o = off.get(name, (float("nan"), unit))[0]
    print(f"{name:34} {t:11.2f} {unit:>2} {o:11.2f} {unit:>2} {t / o:7.3f}")
PY
