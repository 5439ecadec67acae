#!/usr/bin/env bash
# This file contains the test of the tslab command's argument handling: each bad
# command line must exit non-zero with a one-line message naming the problem,
# and a missing peer library must be skipped with a message.
#   arguments_test.sh <path to tslab>
set -u
tslab=$1
failures=0
unset TSLAB_METRICS_PORT
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# expect <status> <text expected on stderr (or stdout for status 0)> -- <args...>
expect() {
  local want=$1 text=$2
  shift 3
  "$tslab" "$@" >"$out" 2>"$err"
  local got=$?
  local where=$err
  [ "$want" = 0 ] && where=$out
  if [ "$got" != "$want" ]; then
    echo "FAIL: tslab $* exited $got, expected $want; stderr: $(cat "$err")"
    failures=$((failures + 1))
  elif ! grep -qF -- "$text" "$where"; then
    echo "FAIL: tslab $*: expected '$text' in $( [ "$where" = "$err" ] && echo stderr || echo stdout), got: $(cat "$where")"
    failures=$((failures + 1))
  elif [ "$want" = 2 ] && [ "$(wc -l <"$err")" != 1 ]; then
    echo "FAIL: tslab $*: the message is not one line: $(cat "$err")"
    failures=$((failures + 1))
  else
    echo "ok: tslab $* -> $got ($(head -n 1 "$where"))"
  fi
}

expect 2 "no command given" --
expect 0 "Usage: tslab" -- help
expect 0 "Usage: tslab" -- --help
expect 2 "unknown command 'frobnicate'" -- frobnicate
expect 0 "tslab " -- --version
expect 0 "License: MIT" -- --version
expect 2 "unknown argument 'extra' for --version" -- --version extra
expect 2 "bench needs a workload, a group or --all" -- bench
expect 2 "unknown workload 'nosuch'" -- bench nosuch
expect 2 "groups: preload)" -- bench nosuch
expect 2 "give workloads (or groups) or --all, not both" -- bench --all churn
expect 2 "give workloads (or groups) or --all, not both" -- bench --all preload
expect 2 "unknown option '--bogus' for bench" -- bench churn --bogus
expect 2 "unknown allocator 'nosuch'" -- bench churn --allocators tslab,nosuch
expect 2 "--allocators needs a value" -- bench churn --allocators
expect 2 "--allocators has an empty item" -- bench churn --allocators tslab,,glibc
expect 2 "--threads expects a whole number (got 'abc')" -- bench request --threads abc
expect 2 "--threads expects a whole number (got '2x')" -- bench request --threads 2x
expect 2 "--threads must be at least 1 (got '0')" -- bench request --threads 0
expect 2 "--threads must be a positive number (got '-3')" -- bench request --threads -3
expect 2 "--threads is too large (got '99999999999999999999999'" -- bench request --threads 99999999999999999999999
expect 2 "--threads is too large (got '100000'; at most 256)" -- bench request --threads 100000
expect 2 "--threads needs a value" -- bench request --threads
expect 2 "--threads needs a value" -- bench request --threads=
expect 2 "--runs expects a whole number (got 'many')" -- bench churn --runs many
expect 2 "--runs must be at least 1 (got '0')" -- bench churn --runs 0
expect 2 "--runs must be a positive number (got '-1')" -- bench churn --runs -1
expect 2 "--runs is too large (got '18446744073709551616'" -- bench churn --runs 18446744073709551616
expect 2 "--runs needs a value (got option --quick)" -- bench churn --runs --quick
expect 2 "--runs must be at least 1 (got '0')" -- demo --runs=0
expect 2 "--json needs a value" -- bench churn --json
expect 2 "--plot needs a value" -- demo --plot
expect 2 "--seed expects a whole number" -- bench churn --seed x
expect 2 "--set expects NAME=VALUE (got 'ops')" -- bench churn --set ops
expect 2 "unknown parameter 'nope' for --set" -- bench churn --set nope=1
expect 2 "--set ops expects a whole number (got 'lots')" -- bench churn --set ops=lots
expect 2 "unknown option '--bogus' for demo" -- demo --bogus
expect 2 "unknown argument 'extra' for demo" -- demo extra
expect 2 "stats takes one of --json and --prometheus, not both" -- stats --json --prometheus
expect 2 "unknown option '--bogus' for stats" -- stats --bogus
expect 2 "--url needs a value" -- stats --url
expect 2 "--url: 'ftp://127.0.0.1/metrics' is not an http:// URL" -- stats --url ftp://127.0.0.1/metrics
expect 2 "--url: bad host in 'http://example.com/metrics'" -- stats --url http://example.com/metrics
expect 2 "--url: bad port in 'http://127.0.0.1:99999/metrics' (1 to 65535)" -- watch --url http://127.0.0.1:99999/metrics
expect 2 "--url needs a value" -- watch --url=
expect 2 "--interval expects seconds such as 1 or 0.5 (got 'abc')" -- watch --url http://127.0.0.1:1/ --interval abc
expect 2 "--interval expects seconds such as 1 or 0.5 (got '-1')" -- watch --url http://127.0.0.1:1/ --interval -1
expect 2 "--interval must be 0.1 to 3600 seconds (got '0')" -- watch --url http://127.0.0.1:1/ --interval 0
expect 2 "--interval must be 0.1 to 3600 seconds (got '7200')" -- watch --url http://127.0.0.1:1/ --interval 7200
expect 2 "--interval needs a value" -- watch --interval
expect 2 "unknown option '--bogus' for watch" -- watch --bogus
expect 2 "unknown argument 'extra' for watch" -- watch extra
expect 2 "watch needs --url http://127.0.0.1:PORT/metrics, or TSLAB_METRICS_PORT set to the port" -- watch
expect 2 "stats takes one of --json and --prometheus, not both" -- stats --url http://127.0.0.1:1/ --json --prometheus
TSLAB_METRICS_PORT=abc expect 2 "TSLAB_METRICS_PORT='abc' is not a port (1 to 65535)" -- watch
# Nothing listens on port 1: a clear error and status 1, before any screen is drawn.
expect 1 "cannot read http://127.0.0.1:1/metrics: Connection refused" -- watch --url http://127.0.0.1:1/metrics
expect 1 "cannot read http://127.0.0.1:1/metrics: Connection refused" -- stats --url http://127.0.0.1:1/metrics
expect 2 "--port is too large (got '70000'; at most 65535)" -- serve --port 70000
expect 2 "--seconds must be at least 1 (got '0')" -- serve --seconds 0
expect 2 "unknown option '--bogus' for serve" -- serve --bogus
expect 0 "tslab watch [--url URL] [--interval SECONDS]" -- help
expect 0 "request" -- bench --list
expect 0 "fragmentation-adversary" -- bench --list
expect 0 "group preload: " -- bench --list
expect 0 "large-buffer  (group preload)" -- bench --list
expect 0 "server-buffers  (group preload)" -- bench --list
expect 0 "tslab-malloc" -- help
expect 2 "unknown allocator 'tslab-mallocx'" -- bench churn --allocators tslab-mallocx

# A peer whose shared object is missing is skipped, and said so.
TSLAB_BENCH_JEMALLOC_SO=/nonexistent/libjemalloc.so.2 \
  expect 1 "skipping jemalloc: /nonexistent/libjemalloc.so.2 not found" -- bench churn --quick --allocators jemalloc
TSLAB_BENCH_JEMALLOC_SO=/nonexistent/libjemalloc.so.2 "$tslab" bench churn --quick --allocators glibc,jemalloc \
  --threads 2 --set ops=1000 >"$out" 2>"$err"
status=$?
if [ $status != 0 ] || ! grep -qF "skipping jemalloc: /nonexistent/libjemalloc.so.2 not found" "$err" ||
  ! grep -qF "note: --threads does not apply to churn" "$err" || ! grep -q "^glibc " "$out"; then
  echo "FAIL: a run with a missing peer: status $status, stderr: $(cat "$err")"
  failures=$((failures + 1))
else
  echo "ok: a missing peer is skipped and the others are measured"
fi

# tslab-malloc's shared object comes from the build; a missing one is skipped too.
TSLAB_BENCH_TSLAB_MALLOC_SO=/nonexistent/libtslab-malloc.so \
  expect 1 "skipping tslab-malloc: /nonexistent/libtslab-malloc.so not found" -- bench larson --quick --allocators tslab-malloc
# A workload written against malloc does not run the tslab C API variants, and says so.
"$tslab" bench larson --quick --allocators tslab,glibc --set rounds=1 --set ops=100 >"$out" 2>"$err"
status=$?
if [ $status != 0 ] || ! grep -q "^glibc " "$out" || grep -q "^tslab " "$out"; then
  echo "FAIL: larson with tslab,glibc: status $status, stdout: $(cat "$out"), stderr: $(cat "$err")"
  failures=$((failures + 1))
else
  echo "ok: larson leaves the tslab C API out and measures glibc"
fi
"$tslab" bench larson --quick --allocators tslab >"$out" 2>"$err"
status=$?
if [ $status != 0 ] || ! grep -qF "note: none of the selected allocators applies to larson" "$err"; then
  echo "FAIL: larson with tslab only: status $status, stderr: $(cat "$err")"
  failures=$((failures + 1))
else
  echo "ok: larson with tslab only says that nothing applies"
fi

if [ $failures != 0 ]; then
  echo "$failures argument test(s) failed"
  exit 1
fi
echo "all argument tests passed"
