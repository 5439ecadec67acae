#!/usr/bin/env bash
# Package test: installs a tslab build tree into a temporary prefix, then builds
# and runs consumers of it through find_package(tslab) and pkg-config: C with
# both include styles (<slab_alloc.h>, <tslab/slab_alloc.h>), C++20 and C++17.
# Every public header must compile on its own, C headers as C99 and C++17, C++
# headers as C++17; the installed version files must agree; no generic header
# name may land in <prefix>/include itself.
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

includedir="$prefix/include"
for h in slab_alloc.h slab_arena.h slab_stats.h epoch_domain.h tslab/tslab.hpp tslab/error.h tslab/version.h; do
  test -f "$includedir/tslab/$h" || fail "$h not installed in $includedir/tslab"
done
at_root=$(find "$includedir" -mindepth 1 -maxdepth 1 -printf '%f ')
[ "$at_root" = "tslab " ] || fail "$includedir holds more than tslab/: $at_root"
test -f "$prefix/share/doc/tslab/LICENSE" || fail "LICENSE not installed"
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
for prog in consumer_cpp consumer_cpp_static consumer_cpp17 consumer_cpp17_static consumer_c consumer_c_prefixed; do
  "$work/build/$prog" || fail "$prog"
done

step "pkg-config: build and run C and C++17 programs"
PKG_CONFIG_PATH=$(dirname "$pc_file")
export PKG_CONFIG_PATH
pkg-config --exists --print-errors tslab
cflags=$(pkg-config --cflags tslab)
echo "tslab $(pkg-config --modversion tslab): $cflags $(pkg-config --libs tslab)"
case " $cflags " in *" -std="*) fail "tslab.pc Cflags set a language standard: $cflags" ;; esac
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# shellcheck disable=SC2046  # word splitting of pkg-config output is intended
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_consumer" "$here/main.c" $(pkg-config --cflags --libs tslab)
"$work/pc_consumer" || fail "pkg-config consumer"
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Werror -o "$work/pc_consumer_prefixed" "$here/main_prefixed.c" \
  $(pkg-config --cflags --libs tslab)
"$work/pc_consumer_prefixed" || fail "pkg-config consumer (<tslab/...> headers)"
# shellcheck disable=SC2046
"$cxx" -std=c++17 -Wall -Wextra -Werror -o "$work/pc_consumer_cpp17" "$here/main17.cpp" \
  $(pkg-config --cflags --libs tslab)
"$work/pc_consumer_cpp17" || fail "pkg-config consumer (C++17)"

step "pkg-config tslab-malloc: a C program whose malloc is tslab's"
pkg-config --exists --print-errors tslab-malloc
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_consumer_malloc" "$here/main_malloc.c" \
  $(pkg-config --cflags --libs tslab-malloc)
"$work/pc_consumer_malloc" || fail "pkg-config tslab-malloc consumer"
# The C++ API through tslab-malloc as well, EpochScope included (its inline
# calls are the prefixed slab_epoch_domain_* names the library exports).
# shellcheck disable=SC2046
"$cxx" -std=c++17 -Wall -Wextra -Werror -o "$work/pc_consumer_cpp17_malloc" "$here/main17.cpp" \
  $(pkg-config --cflags --libs tslab-malloc)
"$work/pc_consumer_cpp17_malloc" || fail "pkg-config tslab-malloc consumer (C++17)"

step "programs linked with libtslab.so under LD_PRELOAD=libtslab-malloc.so"
# Each call reaches the library the program linked (the two libraries' names
# are versioned apart); malloc is the preload's.
for prog in pc_consumer pc_consumer_prefixed pc_consumer_cpp17; do
  LD_PRELOAD="$libdir/libtslab-malloc.so" "$work/$prog" || fail "$prog under the preload"
done
[ "$(pkg-config --modversion tslab-malloc)" = "$(pkg-config --modversion tslab)" ] ||
  fail "tslab-malloc.pc and tslab.pc state different versions"

step "every public header on its own: C99 and C++17 for C headers, C++17 for C++ headers, both styles"
headers=$(cd "$includedir/tslab" && find . -type f \( -name '*.h' -o -name '*.hpp' \) | sed 's|^\./||' | sort)
[ "$(wc -l <<<"$headers")" -ge 13 ] || fail "too few headers installed: $headers"
for h in $headers; do
  for style in "$h" "tslab/$h"; do
    # <tslab/tslab/x.hpp> is not a style; the C++ headers are <tslab/x.hpp>.
    case "$style" in tslab/tslab/*) continue ;; esac
    if [ "${h%.h}" != "$h" ]; then
      # shellcheck disable=SC2086
      printf '#include <%s>\nint main(void) { return 0; }\n' "$style" |
        "$cc" -std=c99 -pedantic -Wall -Wextra -Werror $cflags -x c -fsyntax-only - ||
        fail "<$style> does not compile as C99"
    fi
    # shellcheck disable=SC2086
    printf '#include <%s>\nint main() { return 0; }\n' "$style" |
      "$cxx" -std=c++17 -pedantic -Wall -Wextra -Werror $cflags -x c++ -fsyntax-only - ||
      fail "<$style> does not compile as C++17"
  done
done
echo "ok: $(wc -l <<<"$headers") headers"

step "the installed version: header, tslab.pc and the CMake package agree"
header_version=$(sed -n 's/^#define TSLAB_VERSION_STRING "\(.*\)"$/\1/p' "$includedir/tslab/tslab/version.h")
pc_version=$(pkg-config --modversion tslab)
cmake_version=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' "$(dirname "$config_file")/tslabConfigVersion.cmake")
if [ -z "$header_version" ] || [ "$header_version" != "$pc_version" ] || [ "$pc_version" != "$cmake_version" ]; then
  fail "versions differ: version.h '$header_version', tslab.pc '$pc_version', tslabConfigVersion '$cmake_version'"
fi
echo "ok: $header_version"

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
