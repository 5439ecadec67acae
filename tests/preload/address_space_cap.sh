#!/usr/bin/env bash
# This file contains the test of libtslab-malloc.so in a process whose address
# space is capped (ulimit -v, RLIMIT_AS) where the C library's malloc works:
# each program runs under the cap twice, once on the C library's malloc and
# once with the override LD_PRELOADed, and the two outputs must be equal. The
# cap counts reservations without backing too, so tslab's own reservations at
# start must be small: the address space a preloaded program holds at start
# (VmSize) is checked against the same program's without the preload as well.
#
#   address_space_cap.sh LIBTSLAB_MALLOC_SO [LIMIT_KIB]
set -u
lib=$(realpath "$1")
limit=${2:-200000}
test -r "$lib" || { echo "address_space_cap.sh: no library at $lib" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
export LC_ALL=C

# run NAME SUMMARY COMMAND...: compares the command's stdout under the cap
# without and with the preload. SUMMARY=yes: the preloaded run must also show
# that tslab served it (TSLAB_SHOW_STATS=1 prints the process allocator's
# summary at exit; programs that close stderr at exit, as ls does, print none).
run() {
  local name=$1 summary=$2; shift 2
  (ulimit -v "$limit" && "$@") >"$work/$name.glibc.out" 2>"$work/$name.glibc.err"
  local rc_glibc=$?
  (ulimit -v "$limit" && env LD_PRELOAD="$lib" TSLAB_SHOW_STATS=1 "$@") >"$work/$name.tslab.out" 2>"$work/$name.tslab.err"
  local rc_tslab=$?
  local why=""
  if [ "$rc_glibc" -ne 0 ]; then why="fails under the cap without the preload too (exit $rc_glibc)"
  elif [ "$rc_tslab" -ne 0 ]; then why="exit $rc_tslab under the preload"
  elif ! cmp -s "$work/$name.glibc.out" "$work/$name.tslab.out"; then why="output differs from the C library's"
  elif [ "$summary" = yes ] && ! grep -Eq '^tslab allocator [0-9]+: .* in [0-9]+ blocks' "$work/$name.tslab.err"; then
    why="tslab did not serve it (no summary at exit)"
  fi
  report "$name" "$why"
  [ -z "$why" ] && echo "     $(wc -c <"$work/$name.tslab.out") bytes of output"
}

report() {
  if [ -n "$2" ]; then
    echo "FAIL $1 (ulimit -v $limit): $2"
    [ -r "$work/$1.tslab.err" ] && { echo "--- stderr under the preload:"; head -20 "$work/$1.tslab.err"; }
    failures=$((failures + 1))
  else
    echo "ok   $1 (ulimit -v $limit)"
  fi
}

vm_size_kib() { awk '/^VmSize:/ { print $2 }' "$1"; }

run ls-root no ls /
run ls-long no ls -l /usr/bin
run sort no sh -c 'seq 1 200000 | sort -n -r | head -3'
run python-json yes /usr/bin/python3 -c '
import json
data = [{"id": i, "name": "item%d" % i} for i in range(100000)]
text = json.dumps(data)
assert json.loads(text) == data
print(len(text))'

# The preload is in effect under the cap, and what tslab holds at start is small.
(ulimit -v "$limit" && cat /proc/self/status) >"$work/status.glibc" 2>&1
(ulimit -v "$limit" && env LD_PRELOAD="$lib" sh -c 'cat /proc/self/maps /proc/self/status') >"$work/status.tslab" 2>&1
why=""
if ! grep -q "$(basename "$lib")" "$work/status.tslab"; then why="the library is not mapped in the preloaded process"
else
  extra=$(( $(vm_size_kib "$work/status.tslab") - $(vm_size_kib "$work/status.glibc") ))
  echo "     the preloaded cat holds $extra KiB more address space at start"
  [ "$extra" -lt 65536 ] || why="the preloaded cat holds $extra KiB more address space (64 MiB at most)"
fi
report start-reservation "$why"

exit $((failures == 0 ? 0 : 1))
