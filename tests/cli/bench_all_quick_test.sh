#!/usr/bin/env bash
# This file contains the smoke test of the whole suite: `tslab bench --all` in its
# tiny configuration, one run, with every allocator and the charts (charts are
# left out when no python3 with matplotlib is installed). It fails only if a
# child fails or refuses, never because a target is missed.
#   bench_all_quick_test.sh <path to tslab>
set -eu
tslab=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
plot=()
"$python" -c 'import matplotlib' 2>/dev/null && plot=(--plot "$dir/charts")
"$tslab" bench --all --quick --threads 2 --set cycles=20 --json "$dir/results.json" "${plot[@]}"
"$python" "$here/check_results.py" "$dir/results.json" \
  churn,steady-churn,bulk,phase-shift,sustained-phase-shifts,fragmentation-adversary,epoch-reclamation,thread-scaling,request,producer-consumer \
  tslab,tslab-malloc,glibc,mimalloc,jemalloc,tcmalloc
if [ ${#plot[@]} != 0 ]; then
  n=$(find "$dir/charts" -name '*.png' -size +1k | wc -l)
  [ "$n" -ge 10 ] || { echo "FAIL: only $n charts"; exit 1; }
  echo "ok: $n charts"
fi
