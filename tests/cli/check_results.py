# This file contains the check of a tslab JSON report: it must parse, name the
# expected workloads and allocators, and hold a successful entry with medians
# for every (case, mode, allocator) it lists.
#   check_results.py <results.json> <workload>[,<workload>...] <allocator>[,<allocator>...]
import json
import sys


def fail(msg):
    sys.exit(f"FAIL: {msg}")


path, workloads, allocators = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
with open(path) as f:
    doc = json.load(f)
for key in ("tool", "command", "machine", "runs", "allocators", "skipped", "verified", "errors", "workloads",
            "results"):
    if key not in doc:
        fail(f"{path}: no '{key}' key")
if doc["tool"] != "tslab":
    fail(f"tool is {doc['tool']!r}")
if doc["errors"]:
    fail(f"children failed: {doc['errors']}")
# A peer that is not installed is skipped by the tool (and says so): not an error here.
for a in list(allocators):
    reasons = [s for s in doc["skipped"] if s.startswith(a + ":")]
    if reasons:
        print(f"note: {reasons[0]}")
        allocators.remove(a)
names = [w["name"] for w in doc["workloads"]]
if sorted(names) != sorted(workloads):
    fail(f"workloads {names}, expected {workloads}")
for a in allocators:
    if a not in doc["allocators"]:
        fail(f"allocator {a} was not measured (measured: {doc['allocators']}, skipped: {doc['skipped']})")
    if a not in doc["verified"]:
        fail(f"allocator {a} has no verified live allocator")
for w in workloads:
    entries = [e for e in doc["results"] if e["workload"] == w]
    if not entries:
        fail(f"no results for {w}")
    for e in entries:
        for key in ("case", "threads", "mode", "allocator", "params", "ok", "median", "runs", "series"):
            if key not in e:
                fail(f"{w} entry without '{key}': {sorted(e)}")
        if e["allocator"] not in doc["allocators"]:
            fail(f"{w}: unexpected allocator {e['allocator']}")
        if not e["ok"] or not e["runs"] or not e["median"]:
            fail(f"{w} {e['case']} {e['mode']} {e['allocator']}: no figures")
        if len(e["runs"]) != doc["runs"]:
            fail(f"{w} {e['case']} {e['mode']} {e['allocator']}: {len(e['runs'])} runs, expected {doc['runs']}")
    measured = {e["allocator"] for e in entries}
    for a in allocators:
        if a not in measured and not (w == "epoch-reclamation" and a != "tslab"):
            fail(f"{w}: allocator {a} has no entry (entries: {sorted(measured)})")
request = [e for e in doc["results"] if e["workload"] == "request"]
for e in request:
    for key in ("req_per_s", "p50_us", "p99_us", "p999_us", "rss_peak", "rss_after_phase", "rss_after_purge"):
        if key not in e["median"]:
            fail(f"request {e['allocator']}: no median '{key}'")
    for key in ("t", "rss_mib", "phase_t", "phase_names", "lat_pct", "lat_us"):
        if not e["series"].get(key):
            fail(f"request {e['allocator']}: empty series '{key}'")
print(f"ok: {path}: {len(doc['results'])} entries, workloads {', '.join(names)}, allocators {', '.join(doc['allocators'])}")
