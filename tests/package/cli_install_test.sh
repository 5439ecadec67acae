#!/usr/bin/env bash
# This file contains the test of the installed command: `cmake --install` of a
# build tree into an empty temporary prefix must give bin/tslab, which runs and
# says its version, the man page tslab(1) that man renders, and what the command
# uses at run time (the plot script, libtslab-malloc.so, tslab_containers,
# tslab_launch),
# which the installed command finds next to itself.
#
#   cli_install_test.sh <build-dir> <config> <cmake> <project version> <help2man found: 0|1>
set -euo pipefail
build_dir=$(cd "$1" && pwd)
config=$2 cmake=$3 version=$4 have_help2man=$5

work=$(mktemp -d "${TMPDIR:-/tmp}/tslab-cli-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

"$cmake" --install "$build_dir" --config "$config" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log"; fail "cmake --install"; }

tslab="$prefix/bin/tslab"
[ -x "$tslab" ] || fail "bin/tslab not installed"
out=$("$tslab" --version) || fail "installed tslab --version failed"
[ "${out%%$'\n'*}" = "tslab $version" ] || fail "installed tslab --version says '${out%%$'\n'*}', expected 'tslab $version'"
echo "ok: $tslab --version: tslab $version"
help=$("$tslab" --help) || fail "installed tslab --help failed"
grep -q "^Usage: tslab" <<<"$help" || fail "installed tslab --help prints no usage"

# What the installed command finds next to itself.
[ -r "$prefix/share/tslab/tslab_plot.py" ] || fail "share/tslab/tslab_plot.py not installed"
[ -n "$(find "$prefix" -name 'libtslab-malloc.so*' -print -quit)" ] || fail "libtslab-malloc.so not installed"
[ -x "$prefix/libexec/tslab/tslab_containers" ] || fail "libexec/tslab/tslab_containers not installed"
[ -x "$prefix/libexec/tslab/tslab_launch" ] || fail "libexec/tslab/tslab_launch not installed"
# The installed command preloads the installed libtslab-malloc.so: it measures
# tslab-malloc with it, and once that file is made unloadable it no longer can
# (the build tree's copy, still in place, is not used instead).
larson() {
  env -u TSLAB_BENCH_TSLAB_MALLOC_SO "$tslab" bench larson --quick --allocators tslab-malloc \
    --set rounds=1 --set ops=100 >"$work/larson.out" 2>"$work/larson.err"
}
larson || { cat "$work/larson.err"; fail "installed tslab bench larson --allocators tslab-malloc"; }
grep -q "^tslab-malloc " "$work/larson.out" || { cat "$work/larson.out" "$work/larson.err"; fail "no tslab-malloc row"; }
installed_so=$(find "$prefix" -name 'libtslab-malloc.so.*' -type f -print -quit)
[ -n "$installed_so" ] || fail "no installed libtslab-malloc.so.* file"
echo "not a shared object" >"$installed_so"
if larson && grep -q "^tslab-malloc " "$work/larson.out"; then
  fail "the installed command measured tslab-malloc without the installed libtslab-malloc.so"
fi
echo "ok: the installed command preloads the installed libtslab-malloc.so"
"$tslab" stats --json >"$work/stats.json" || fail "installed tslab stats --json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/stats.json" || fail "tslab stats --json is not JSON"
echo "ok: the installed tslab stats prints JSON"

if [ "$have_help2man" != 1 ]; then
  echo "help2man was not found when this tree was configured: no man page to check (apt-get install help2man)"
  exit 77
fi
page="$prefix/share/man/man1/tslab.1"
[ -f "$page" ] || fail "share/man/man1/tslab.1 not installed"
grep -q '^\.TH TSLAB "1"' "$page" || fail "tslab.1 has no .TH TSLAB \"1\" header"
grep -qF "tslab $version" "$page" || fail "tslab.1 does not name version $version"
# man -l renders it (groff underneath); no warnings, and the sections are there.
text=$(MANWIDTH=80 man -l "$page" 2>"$work/man.err" | col -b) || fail "man -l failed: $(cat "$work/man.err")"
[ ! -s "$work/man.err" ] || fail "man -l warned: $(cat "$work/man.err")"
for section in NAME SYNOPSIS DESCRIPTION ENVIRONMENT "EXIT STATUS" COPYRIGHT; do
  grep -q "^$section" <<<"$text" || fail "the rendered page has no $section section"
done
grep -qE 'tslab[[:space:]]+demo' <<<"$text" || fail "the rendered page does not describe tslab demo"
MANPATH="$prefix/share/man" man -w tslab >/dev/null || fail "man does not find tslab(1) under the prefix"
echo "ok: man -l renders tslab(1) with its sections"
