#!/usr/bin/env bash
# This file contains the test of one workload of `tslab bench` in its tiny
# (--quick) configuration with every allocator it applies to: the run must
# succeed and its JSON report parse with the expected keys and allocator names,
# and its figures pass the sanity checks of check_results.py (never timing).
#   workload_test.sh <path to tslab> <workload>
set -eu
tslab=$1 workload=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

case $workload in
  churn | bulk) allocators=tslab,tslab-handle,tslab-malloc,glibc,mimalloc,jemalloc,tcmalloc ;;
  fragmentation-adversary) allocators=tslab,tslab-epochs,tslab-malloc,glibc,mimalloc,jemalloc,tcmalloc ;;
  epoch-reclamation) allocators=tslab ;;
  # The preload group runs through malloc: tslab takes part as tslab-malloc.
  python-json | sqlite | git-commit | cpp-containers | cpp-requests | larson | xmalloc | cache-scratch | \
    thread-churn | large-buffer | server-buffers) allocators="tslab-malloc,glibc,mimalloc,jemalloc,tcmalloc" ;;
  *) allocators=tslab,tslab-malloc,glibc,mimalloc,jemalloc,tcmalloc ;;
esac
extra=()
# Keep the slowest quick configurations small.
case $workload in
  thread-scaling) extra=(--threads 2) ;;
  sustained-phase-shifts) extra=(--set cycles=20) ;;
esac
"$tslab" bench "$workload" --quick --allocators "$allocators" --json "$dir/results.json" "${extra[@]}" >"$dir/out.txt"
cat "$dir/out.txt"
"$python" "$here/check_results.py" "$dir/results.json" "$workload" "$allocators"
