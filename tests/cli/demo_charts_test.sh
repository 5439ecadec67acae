#!/usr/bin/env bash
# This file contains the test of `tslab demo` in its tiny configuration: it must
# print the request table and the plain new/delete section (tslab-malloc with
# and without scopes) and write non-empty PNG charts (skipped, status 77, when
# no python3 with matplotlib is installed).
#   demo_charts_test.sh <path to tslab>
set -eu
tslab=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
if ! "$python" -c 'import matplotlib' 2>/dev/null; then
  echo "SKIP: no python3 with matplotlib (Debian: python3-matplotlib)"
  exit 77
fi
"$tslab" demo --quick --plot "$dir/charts" --json "$dir/results.json" >"$dir/out.txt"
cat "$dir/out.txt"
grep -q "^tslab " "$dir/out.txt" || { echo "FAIL: no tslab row in the table"; exit 1; }
grep -q "What this shows" "$dir/out.txt" || { echo "FAIL: no summary"; exit 1; }
grep -q "^tslab-malloc + scopes " "$dir/out.txt" || { echo "FAIL: no tslab-malloc + scopes row"; exit 1; }
# The plain new/delete section measures tslab as tslab-malloc; the request table leaves it out.
"$python" "$here/check_results.py" "$dir/results.json" request,cpp-requests \
  tslab,tslab-malloc,glibc,mimalloc,jemalloc,tcmalloc request:tslab-malloc
for chart in request-rss.png request-latency.png request-summary.png; do
  f="$dir/charts/$chart"
  [ -s "$f" ] || { echo "FAIL: $chart missing or empty"; exit 1; }
  [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || { echo "FAIL: $chart is not a PNG"; exit 1; }
  grep -qF "$f" "$dir/out.txt" || { echo "FAIL: $chart not listed in the output"; exit 1; }
  echo "ok: $chart ($(stat -c %s "$f") bytes)"
done
