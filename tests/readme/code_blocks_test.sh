#!/usr/bin/env bash
# This file contains the README test: every ```c and ```cpp block of README.md is
# a complete program; each is compiled (C as GNU C17, the compilers' default;
# C++ as C++20; -Wall -Wextra -Werror) against the public headers, linked with libtslab (or, if it includes
# <tslab/malloc.h> or <tslab/malloc.hpp>, with libtslab-malloc) and run, and must exit 0.
#
#   code_blocks_test.sh <README.md> <cc> <c++> <source include dir> <generated include dir>
#                       <libtslab.so> <libtslab-malloc.so>
set -euo pipefail

readme=$1 cc=$2 cxx=$3 include_dir=$4 generated_dir=$5 lib=$6 malloc_lib=$7
work=$(mktemp -d "${TMPDIR:-/tmp}/tslab-readme.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Split the blocks into block-N.c / block-N.cpp, each with its README line.
awk -v dir="$work" '
  /^```(c|cpp)$/ { n++; ext = substr($0, 4); file = sprintf("%s/block-%02d.%s", dir, n, ext);
                   print "// README.md line " NR + 1 > file; inside = 1; next }
  /^```/         { inside = 0; next }
  inside         { print >> file }
' "$readme"

blocks=("$work"/block-*)
[ -e "${blocks[0]}" ] || { echo "FAIL: no c/cpp blocks in $readme" >&2; exit 1; }
failed=0
for src in "${blocks[@]}"; do
  bin=${src%.*}
  link=$lib
  grep -qE '<tslab/malloc\.h(pp)?>' "$src" && link=$malloc_lib
  case $src in
    *.c) compile=("$cc" -std=gnu17) ;;
    *) compile=("$cxx" -std=c++20) ;;
  esac
  where=$(head -1 "$src")
  if ! "${compile[@]}" -Wall -Wextra -Werror -I"$include_dir" -I"$generated_dir" "$src" \
      -o "$bin" "$link" -Wl,-rpath,"$(dirname "$link")" -pthread; then
    echo "FAIL: $where does not compile" >&2
    failed=1
    continue
  fi
  if ! "$bin" > "$bin.out" 2>&1; then
    echo "FAIL: $where exits with an error:" >&2
    cat "$bin.out" >&2
    failed=1
    continue
  fi
  echo "ok: $where ($(basename "$src"))"
done
echo "${#blocks[@]} README code blocks"
exit "$failed"
