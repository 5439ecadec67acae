#!/usr/bin/env bash
# This file contains the subproject test: a parent project (this directory) adds
# the tslab source tree with add_subdirectory. With tslab's defaults there, the
# parent must configure without GoogleTest and Google Benchmark (find_package of
# either is made to fail), keep its own (empty) build type, see only tslab_*
# targets, and build and run a C program and a C++17 program that link
# tslab::tslab and tslab::tslab_static. Then, with the command and the
# benchmarks switched on, every target must still be named tslab_*.
#
#   run.sh [cmake] [cc] [c++]
set -euo pipefail
cmake=${1:-cmake}
cc=${2:-cc}
cxx=${3:-c++}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(cd "$here/../.." && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/tslab-subproject.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

step "configure the parent (no build type), tslab's options at their defaults"
"$cmake" -S "$here" -B "$work/build" -DTSLAB_SOURCE_DIR="$source_dir" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON | tee "$work/configure.log"
cache="$work/build/CMakeCache.txt"
for option in TSLAB_BUILD_TESTS TSLAB_BUILD_BENCH TSLAB_BUILD_CLI TSLAB_BUILD_FUZZ; do
  grep -qx "$option:BOOL=OFF" "$cache" || fail "$option is not OFF in a parent project: $(grep "^$option:" "$cache")"
done
grep -qx "CMAKE_BUILD_TYPE:STRING=" "$cache" || fail "the parent's build type was changed: $(grep '^CMAKE_BUILD_TYPE:' "$cache")"
if grep -qx "CMAKE_CXX_FLAGS_RELEASE:STRING=-O2 -g -DNDEBUG" "$cache"; then
  fail "tslab set the parent's release flags"
fi
if grep -E '^(benchmark|GTest)_DIR:' "$cache"; then fail "tslab looked for Google Benchmark or GoogleTest"; fi
targets=$(sed -n 's/^-- tslab targets: //p' "$work/configure.log")
[ "$targets" = "tslab_malloc;tslab_malloc_override;tslab_objects;tslab_shared;tslab_static" ] ||
  fail "unexpected tslab targets in a parent project: $targets"

step "build and run the parent's programs"
"$cmake" --build "$work/build" -j 2
"$work/build/parent_c" || fail "parent_c"
"$work/build/parent_cpp17" || fail "parent_cpp17"
# Nothing but the library was built: no command, no tests, no benchmarks.
if find "$work/build/tslab" -type f -perm -u+x \( -name tslab -o -name 'test_*' -o -name 'tslab_*bench*' \) | grep -q .; then
  fail "the parent's build built tslab's command, tests or benchmarks"
fi

step "configure again with the command and the benchmarks on: still only tslab_* targets"
"$cmake" -S "$here" -B "$work/build-all" -DTSLAB_SOURCE_DIR="$source_dir" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DTSLAB_BUILD_CLI=ON -DTSLAB_BUILD_BENCH=ON >"$work/configure-all.log" ||
  { cat "$work/configure-all.log"; fail "configure with TSLAB_BUILD_CLI and TSLAB_BUILD_BENCH"; }
sed -n 's/^-- tslab targets: /tslab targets: /p' "$work/configure-all.log"
grep -q "tslab_cli" "$work/configure-all.log" || fail "TSLAB_BUILD_CLI=ON defined no tslab_cli"

step "subproject test passed"
