#!/usr/bin/env bash
# This file contains the test of `tslab stats --url` and of `tslab watch` when
# standard output is not a terminal, against a live process: `tslab serve`
# with TSLAB_METRICS_PORT set to a free port. The table must name the allocator
# and its epochs, the JSON must parse with the same content, the text as served
# must carry the allocator's name; watch prints one table and exits 0.
#   stats_url_test.sh <path to tslab>
set -u
tslab=$1
dir=$(mktemp -d)
. "$(dirname "$0")/serve_background.sh"
trap 'stop_serve; rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

start_serve "$tslab" "$dir" || exit 1
grep -qF "serving metrics at $url" "$dir/serve.out" || fail "serve did not print its URL: $(cat "$dir/serve.out")"

# The table.
if ! "$tslab" stats --url "$url" >"$dir/table" 2>"$dir/err"; then
  fail "stats --url: $(cat "$dir/err")"
fi
cat "$dir/table"
grep -qF "$url" "$dir/table" || fail "the table does not name the URL"
grep -Eq '^allocator [0-9]+ "requests": live [0-9.]+ [KMG]?i?B, resident ' "$dir/table" ||
  fail "no allocator row named \"requests\""
grep -Eq 'closes [0-9]+' "$dir/table" || fail "no closes on the allocator row"
grep -Eq '^ +epoch +state +era +label +live ' "$dir/table" || fail "no epoch header"
# The current epoch is marked and active; an advance may just have put it in a
# fresh slot with no label yet, so the batch labels are looked for on any row.
grep -Eq '^ +\*[0-9]+ +active +[0-9]+ ' "$dir/table" || fail "no current epoch row, active and marked *"
grep -Eq '^ +\*?[0-9]+ +(active|closing) +[0-9]+ +batch \(' "$dir/table" || fail "no epoch row labelled batch"
[ "$(grep -Ec '^ +\*?[0-9]+ +(active|closing) ' "$dir/table")" -ge 2 ] || fail "fewer than two epoch rows"
grep '^allocator ' "$dir/table" | grep -q '/s)' && fail "rates in a single scrape"

# JSON.
if ! "$tslab" stats --url "$url" --json >"$dir/json" 2>"$dir/err"; then
  fail "stats --url --json: $(cat "$dir/err")"
fi
python3 - "$dir/json" <<'PY' || failures=$((failures + 1))
import json, sys
doc = json.load(open(sys.argv[1]))
named = [a for a in doc["allocators"] if a["name"] == "requests"]
if len(named) != 1:
    sys.exit(f"FAIL: JSON: {len(named)} allocators named requests")
a = named[0]
for key in ("live_bytes", "resident_bytes", "epoch_close_calls_total"):
    if key not in a["fields"]:
        sys.exit(f"FAIL: JSON: no {key}")
if a["fields"]["epoch_close_calls_total"] < 1:
    sys.exit("FAIL: JSON: no epoch closed yet")
if len(a["epochs"]) != 16 or not any(e["label"].startswith("batch") for e in a["epochs"]):
    sys.exit("FAIL: JSON: the 16 epoch slots with a batch label")
current = [e for e in a["epochs"] if e["epoch"] == a["fields"].get("current_epoch")]
if len(current) != 1 or current[0]["state"] != "active":
    sys.exit(f"FAIL: JSON: the current epoch {a['fields'].get('current_epoch')} is not an active slot")
if "closes_total" not in a["epochs"][0]["fields"]:
    sys.exit("FAIL: JSON: no closes_total per epoch")
print("ok: JSON parses, allocator 'requests' with its 16 epoch slots")
PY

# The text as served.
"$tslab" stats --url "$url" --prometheus >"$dir/prom" 2>"$dir/err" || fail "stats --url --prometheus: $(cat "$dir/err")"
grep -Eq '^tslab_allocator_info\{allocator="[0-9]+",name="requests"\} 1$' "$dir/prom" ||
  fail "no tslab_allocator_info with the name"

# watch, not on a terminal: one table, status 0; the URL from TSLAB_METRICS_PORT.
TSLAB_METRICS_PORT=$port timeout 20 "$tslab" watch --interval 0.5 >"$dir/watch" 2>"$dir/err" </dev/null
status=$?
[ $status = 0 ] || fail "watch | cat exited $status: $(cat "$dir/err")"
head -n 1 "$dir/watch" | grep -qF "tslab watch  $url" || fail "watch's dump has no header: $(head -n 1 "$dir/watch")"
grep -Eq '^allocator [0-9]+ "requests"' "$dir/watch" || fail "watch's dump has no allocator row"
grep -Eq '^ +\*?[0-9]+ +active ' "$dir/watch" || fail "watch's dump has no epoch row"
grep -q $'\x1b' "$dir/watch" && fail "escape sequences in watch's dump"
"$tslab" watch --url "$url" | cat >"$dir/piped" || fail "watch --url | cat failed"
grep -Eq '^allocator [0-9]+ "requests"' "$dir/piped" || fail "watch --url | cat has no allocator row"

# The endpoint gone: a clear error and status 1.
stop_serve
"$tslab" stats --url "$url" >"$dir/out" 2>"$dir/err"
status=$?
[ $status = 1 ] && grep -qF "cannot read $url" "$dir/err" ||
  fail "stats --url after the process ended: status $status, stderr: $(cat "$dir/err")"

if [ $failures != 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all stats --url checks passed"
