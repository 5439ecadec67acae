#!/usr/bin/env bash
# This file contains the version test: project(VERSION) in CMakeLists.txt, the
# generated header's macros, tslab_version() of the shared library and the first
# line of `tslab --version` must all state the same version.
#
#   version_test.sh <project version> <version_print> [<tslab command>]
set -euo pipefail
want=$1 print=$2 command=${3:-}
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[[ $want =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || fail "project version '$want' is not MAJOR.MINOR.PATCH"
number=$((BASH_REMATCH[1] * 10000 + BASH_REMATCH[2] * 100 + BASH_REMATCH[3]))

got=$("$print") || fail "version_print failed"
[ "$got" = "$want $number $number" ] ||
  fail "header and library say '$got', expected '$want $number $number' (string, TSLAB_VERSION, tslab_version())"
echo "ok: TSLAB_VERSION_STRING $want, TSLAB_VERSION and tslab_version() $number"

if [ -n "$command" ]; then
  out=$("$command" --version) || fail "tslab --version failed"
  line=${out%%$'\n'*}
  [ "$line" = "tslab $want" ] || fail "tslab --version says '$line', expected 'tslab $want'"
  echo "ok: tslab --version says '$line'"
else
  echo "note: the tslab command is not built here (TSLAB_BUILD_CLI=OFF); its --version is not checked"
fi
