#!/usr/bin/env bash
# Checks the shipped Prometheus rules (prometheus/tslab-rules.yml) and runs
# their unit tests (prometheus/tslab-rules.test.yml) with promtool.
# Usage: rules_test.sh <source dir>. Exits 77 (skipped) if promtool is not
# installed: the Debian package `prometheus` has it (make deps).
set -euo pipefail

source_dir=${1:?usage: rules_test.sh <source dir>}
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
