#!/usr/bin/env bash
# Package test: installs a tslab build tree into a temporary prefix, then builds
# and runs consumers of it through find_package(tslab) and pkg-config.
#
#   run.sh <build-dir> [config] [cmake] [cc] [c++]
set -euo pipefail

build_dir=$(cd "$1" && pwd)
config=${2:-Release}
cmake=${3:-cmake}
cc=${4:-cc}
cxx=${5:-c++}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(cd "$here/../.." && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/tslab-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

step "install into $prefix"
"$cmake" --install "$build_dir" --config "$config" --prefix "$prefix"

test -f "$prefix/include/slab_alloc.h" || fail "slab_alloc.h not installed"
test -f "$prefix/include/tslab/tslab.hpp" || fail "tslab/tslab.hpp not installed"
pc_file=$(find "$prefix" -name tslab.pc -print -quit)
config_file=$(find "$prefix" -name tslabConfig.cmake -print -quit)
[ -n "$pc_file" ] || fail "tslab.pc not installed"
[ -n "$config_file" ] || fail "tslabConfig.cmake not installed"
libdir=$(dirname "$(dirname "$pc_file")")
test -f "$libdir/libtslab.a" || fail "libtslab.a not installed in $libdir"
test -e "$libdir/libtslab.so" || fail "libtslab.so not installed in $libdir"
# The installed package must not point back into the build or source tree.
if grep -rlF -e "$build_dir" -e "$source_dir" "$(dirname "$config_file")" "$pc_file"; then
  fail "installed package files mention the build or source tree"
fi

step "find_package(tslab): configure and build the consumer project"
"$cmake" -S "$here" -B "$work/build" \
  -DCMAKE_BUILD_TYPE="$config" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx"
found_dir=$(sed -n 's/^tslab_DIR:PATH=//p' "$work/build/CMakeCache.txt")
case "$found_dir" in
  "$prefix"/*) ;;
  *) fail "find_package found tslab in '$found_dir', not in $prefix" ;;
esac
"$cmake" --build "$work/build" --config "$config" -j 2

step "run the find_package consumers"
for prog in consumer_cpp consumer_cpp_static consumer_c; do
  "$work/build/$prog" || fail "$prog"
done

step "pkg-config: build and run a C program"
PKG_CONFIG_PATH=$(dirname "$pc_file")
export PKG_CONFIG_PATH
pkg-config --exists --print-errors tslab
echo "tslab $(pkg-config --modversion tslab): $(pkg-config --cflags --libs tslab)"
# shellcheck disable=SC2046  # word splitting of pkg-config output is intended
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_consumer" "$here/main.c" $(pkg-config --cflags --libs tslab)
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/pc_consumer" || fail "pkg-config consumer"

step "pkg-config --static: link the static library into a C program"
static_libs=$(pkg-config --static --libs-only-l tslab | sed 's/-ltslab//')
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_consumer_static" "$here/main.c" \
  $(pkg-config --cflags tslab) "$libdir/libtslab.a" $static_libs
if ldd "$work/pc_consumer_static" | grep -q libtslab; then
  fail "static consumer links libtslab.so"
fi
"$work/pc_consumer_static" || fail "static pkg-config consumer"

step "package test passed"
