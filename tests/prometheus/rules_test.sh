#!/usr/bin/env bash
# Checks the shipped Prometheus rules (prometheus/tslab-rules.yml) and runs
# their unit tests (prometheus/tslab-rules.test.yml) with promtool. Given the
# tslab command, also checks that every tslab_ metric the rules name is in the
# text `tslab stats --prometheus` prints, so the rules and the exposition
# cannot drift apart.
# Usage: rules_test.sh <source dir> [<tslab command>]. Exits 77 (skipped) if
# promtool is not installed: the Debian package `prometheus` has it (make deps).
set -euo pipefail

source_dir=${1:?usage: rules_test.sh <source dir> [<tslab command>]}
cli=${2:-}
promtool=""
for dir in /usr/bin /usr/local/bin /bin; do
  if [[ -x "$dir/promtool" ]]; then
    promtool="$dir/promtool"
    break
  fi
done
if [[ -z "$promtool" ]]; then
  echo "skipped: promtool not found; install the Debian package prometheus (make deps)"
  exit 77
fi

cd "$source_dir/prometheus"
"$promtool" check rules tslab-rules.yml
"$promtool" test rules tslab-rules.test.yml
echo "ok: the rules pass promtool check rules and their unit tests"

if [[ -n "$cli" ]]; then
  exposition=$("$cli" stats --prometheus)
  missing=0
  for metric in $(grep -oE '\btslab_[a-z_]+' tslab-rules.yml | sort -u); do
    if ! grep -qE "^${metric}[{ ]" <<<"$exposition"; then
      echo "FAIL: the rules name $metric, which tslab's Prometheus text does not have"
      missing=1
    fi
  done
  [[ $missing -eq 0 ]] || exit 1
  echo "ok: every metric the rules name is in the exposition"
fi
