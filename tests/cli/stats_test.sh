#!/usr/bin/env bash
# This file contains the test of `tslab stats`: the summary, the JSON (which must
# parse and carry the global snapshot) and the Prometheus text (HELP/TYPE lines,
# tslab_ metrics).
#   stats_test.sh <path to tslab>
set -eu
tslab=$1
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

summary=$("$tslab" stats)
[ -n "$summary" ] || { echo "FAIL: empty summary"; exit 1; }
echo "$summary" | head -n 5

"$tslab" stats --json | "$python" -c '
import json, sys
doc = json.load(sys.stdin)
text = json.dumps(doc)
for key in ("live_bytes", "committed_bytes", "epoch_close_calls_total"):
    if key not in text:
        sys.exit(f"FAIL: no {key} in the JSON snapshot")
print("ok: JSON snapshot parses and has live_bytes, committed_bytes, epoch_close_calls_total")
'

prom=$("$tslab" stats --prometheus)
echo "$prom" | grep -q "^# HELP tslab_" || { echo "FAIL: no HELP line"; exit 1; }
echo "$prom" | grep -q "^# TYPE tslab_" || { echo "FAIL: no TYPE line"; exit 1; }
echo "$prom" | grep -Eq '^tslab_[a-z_]+(\{[^}]*\})? [0-9.e+-]+$' || { echo "FAIL: no sample line"; exit 1; }
bad=$(echo "$prom" | grep -Ev '^(# (HELP|TYPE) tslab_|tslab_[a-z_]+(\{[^}]*\})? [0-9.e+-]+$|$)' || true)
[ -z "$bad" ] || { echo "FAIL: lines that are not Prometheus text: $bad"; exit 1; }
echo "ok: Prometheus text ($(echo "$prom" | grep -c '^tslab_') samples)"
