#!/usr/bin/env bash
# This file contains the driver behind `make test-fuzz` and `make fuzz`: for each
# target it replays every saved regression and seed input, then fuzzes for a
# bounded time with a working corpus inside the build tree (the seed corpus in
# fuzz/corpus/ is only read). It fails on the first finding and says where the
# input is and how to keep it as a regression.
#
#   fuzz/run_fuzzers.sh [--fresh] BUILD_DIR SECONDS_PER_TARGET TARGET...
#
# The working corpus is BUILD_DIR/fuzz-corpus/<target>, kept from run to run;
# with --fresh (make test-fuzz) it is BUILD_DIR/fuzz-corpus-fresh/<target>,
# emptied first, so that a short run's time does not grow with the corpus.
set -euo pipefail

corpus_root=fuzz-corpus
if [[ ${1:-} == --fresh ]]; then
  corpus_root=fuzz-corpus-fresh
  shift
fi
if [[ $# -lt 3 ]]; then
  echo "usage: $0 [--fresh] BUILD_DIR SECONDS_PER_TARGET TARGET..." >&2
  exit 2
fi
build_dir=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

# ASan+UBSan settings: stop at the first report, print stacks, keep ASan's
# quarantine modest on a shared machine.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Longest input each target is given (the HTTP parser needs heads past 8 KiB).
max_len_of() {
  case $1 in
    fuzz_http_request) echo 10000 ;;
    *) echo 4096 ;;
  esac
}

# Saved regressions and seeds, each run once.
replay() {
  local target=$1 binary=$2
  local inputs=()
  for dir in "$here/regressions/$target" "$here/corpus/$target"; do
    [[ -d $dir ]] || continue
    while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$dir" -type f ! -name '.*' -print0 | sort -z)
  done
  [[ ${#inputs[@]} -gt 0 ]] || return 0
  echo "== $target: replaying ${#inputs[@]} saved inputs"
  if ! "$binary" -timeout=60 "${inputs[@]}" >"$build_dir/fuzz-logs/$target.replay.log" 2>&1; then
    tail -n 60 "$build_dir/fuzz-logs/$target.replay.log" >&2
    echo "== $target: a saved input fails (log: $build_dir/fuzz-logs/$target.replay.log)" >&2
    return 1
  fi
}

explore() {
  local target=$1 binary=$2
  local corpus="$build_dir/$corpus_root/$target" artifacts="$build_dir/fuzz-artifacts/$target/"
  local log="$build_dir/fuzz-logs/$target.log"
  [[ $corpus_root == fuzz-corpus-fresh ]] && rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  local seeds=()
  [[ -d $here/corpus/$target ]] && seeds=("$here/corpus/$target")
  echo "== $target: fuzzing for ${seconds}s (corpus $corpus)"
  # New inputs go to the first directory only: the working corpus, never the seeds.
  if ! "$binary" -max_total_time="$seconds" -timeout=60 -max_len="$(max_len_of "$target")" \
    -artifact_prefix="$artifacts" -print_final_stats=1 "$corpus" "${seeds[@]}" >"$log" 2>&1; then
    tail -n 80 "$log" >&2
    echo "== $target: FINDING. The input is in $artifacts (log: $log). Minimise it with" >&2
    echo "   $binary -minimize_crash=1 -runs=10000 -exact_artifact_path=fuzz/regressions/$target/NAME INPUT" >&2
    echo "   and keep it in fuzz/regressions/$target/ so that make test replays it." >&2
    return 1
  fi
  grep -E "^(#[0-9]+[[:space:]]+DONE|$target: ran)" "$log" | sed "s/^/   /"
}

mkdir -p "$build_dir/fuzz-logs"
for target in "$@"; do
  binary="$build_dir/fuzz/$target"
  [[ -x $binary ]] || { echo "missing $binary: build the fuzz tree first" >&2; exit 1; }
  replay "$target" "$binary"
  explore "$target" "$binary"
done
echo "== fuzzing: no findings in ${*}"
