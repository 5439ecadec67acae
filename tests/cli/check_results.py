# This file contains the check of a tslab JSON report: it must parse, name the
# expected workloads and allocators, and hold a successful entry with medians
# for every (case, mode, allocator) it lists; each workload's figures must be
# sane (sizes positive, deterministic outputs equal for every allocator), never
# judged by their timing.
#   check_results.py <results.json> <workload>[,...] <allocator>[,...] [<workload>:<allocator>[,...]]
# The optional last argument names entries that must be absent (an allocator a
# command leaves out of one workload).
import json
import sys


def fail(msg):
    sys.exit(f"FAIL: {msg}")


# Workloads written against malloc: the tslab C API variants do not run them.
PRELOAD = {"python-json", "sqlite", "git-commit", "cpp-containers", "cpp-requests", "larson", "xmalloc",
           "cache-scratch", "thread-churn", "large-buffer", "server-buffers"}
PROGRAMS = {"python-json", "sqlite", "git-commit", "cpp-containers"}
C_API = {"tslab", "tslab-handle", "tslab-epochs"}
MIB = 1024 * 1024


def applies(workload, alloc):
    if workload == "epoch-reclamation":
        return alloc == "tslab"
    if workload in PRELOAD:
        return alloc not in C_API
    return True


path, workloads, allocators = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
absent = [tuple(x.split(":", 1)) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 and sys.argv[4] else []
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
        if not applies(w, e["allocator"]):
            fail(f"{w}: {e['allocator']} measured, but it does not apply")
        if not e["ok"] or not e["runs"] or not e["median"]:
            fail(f"{w} {e['case']} {e['mode']} {e['allocator']}: no figures")
        if len(e["runs"]) != doc["runs"]:
            fail(f"{w} {e['case']} {e['mode']} {e['allocator']}: {len(e['runs'])} runs, expected {doc['runs']}")
        if "rss_peak" in e["median"] and not e["median"]["rss_peak"] > 0:
            fail(f"{w} {e['mode']} {e['allocator']}: rss_peak is {e['median']['rss_peak']}")
    measured = {e["allocator"] for e in entries}
    for a in allocators:
        if a not in measured and applies(w, a) and (w, a) not in absent:
            fail(f"{w}: allocator {a} has no entry (entries: {sorted(measured)})")
for w, a in absent:
    if any(e["workload"] == w and e["allocator"] == a for e in doc["results"]):
        fail(f"{w}: {a} was measured, but it should have been left out")


def entries_of(workload):
    return [e for e in doc["results"] if e["workload"] == workload]


def require(workload, keys, positive=()):
    for e in entries_of(workload):
        for key in keys:
            if key not in e["median"]:
                fail(f"{workload} {e['mode']} {e['allocator']}: no median '{key}'")
        for key in positive:
            if not e["median"][key] > 0:
                fail(f"{workload} {e['mode']} {e['allocator']}: {key} is {e['median'][key]}, expected > 0")


def same_everywhere(workload, key):
    """A figure or output of deterministic work: the same for every allocator, mode and run."""
    values = {str(r.get(key)) for e in entries_of(workload) for r in e["runs"]}
    if len(values) != 1:
        fail(f"{workload}: '{key}' differs between allocators or runs: {sorted(values)}")
    return values.pop()


require("request", ("req_per_s", "p50_us", "p99_us", "p999_us", "rss_peak", "rss_after_phase", "rss_after_purge"))
for e in entries_of("request"):
    for key in ("t", "rss_mib", "phase_t", "phase_names", "lat_pct", "lat_us"):
        if not e["series"].get(key):
            fail(f"request {e['allocator']}: empty series '{key}'")

for w in PROGRAMS & set(workloads):
    require(w, ("wall_ms", "cpu_ms", "user_ms", "sys_ms", "rss_peak", "minor_faults"), ("wall_ms", "rss_peak"))
    for e in entries_of(w):
        for r in e["runs"]:
            if not r.get("program_check") or not r.get("output"):
                fail(f"{w} {e['allocator']}: no program check or output")
    print(f"ok: {w} printed the same for every allocator: {same_everywhere(w, 'output')}")

if "cpp-requests" in workloads:
    require("cpp-requests", ("req_per_s", "rss_peak", "rss_after_phase", "rss_after_purge", "survivors"),
            ("req_per_s", "rss_after_phase", "survivors"))
    same_everywhere("cpp-requests", "checksum")
    scoped = [e for e in entries_of("cpp-requests") if e["mode"] == "scoped"]
    if any(e["allocator"] != "tslab-malloc" for e in scoped):
        fail("cpp-requests: a scoped entry for an allocator other than tslab-malloc")
    if "tslab-malloc" in doc["allocators"] and ("cpp-requests", "tslab-malloc") not in absent:
        if not scoped:
            fail("cpp-requests: tslab-malloc has no scoped entry")
        m = scoped[0]["median"]
        if m.get("scopes_begun") != m["requests"] or not m.get("scope_epochs_closed", 0) > 0:
            fail(f"cpp-requests scoped: {m.get('scopes_begun')} scopes begun and {m.get('scope_epochs_closed')} "
                 f"epochs closed for {m['requests']} requests")

require("larson", ("mops_per_s", "rss_peak", "rss_after", "rss_after_purge"), ("mops_per_s",))
require("xmalloc", ("mblocks_per_s", "rss_peak", "rss_after", "rss_after_purge", "blocks"), ("mblocks_per_s",))
for e in entries_of("xmalloc"):
    if e["median"]["blocks"] != e["params"]["blocks"] * (e["threads"] // 2):
        fail(f"xmalloc {e['allocator']}: {e['median']['blocks']} blocks handed over")
require("cache-scratch", ("wall_ms", "ns_per_write", "given_sharing_line", "first_sharing_line"),
        ("wall_ms", "ns_per_write"))
require("thread-churn", ("threads_per_s", "spawned", "rss_peak", "rss_after", "rss_after_purge"),
        ("threads_per_s",))
for e in entries_of("thread-churn"):
    if e["median"]["spawned"] != e["params"]["spawned"]:
        fail(f"thread-churn {e['allocator']}: {e['median']['spawned']} threads spawned")
require("large-buffer", ("ms_per_buffer", "faults_per_buffer", "rss_peak", "rss_after", "rss_after_purge"),
        ("ms_per_buffer",))
for e in entries_of("large-buffer"):
    # Every page of a buffer of at least min_mib was written: the peak holds one.
    if e["median"]["rss_peak"] < e["params"]["min_mib"] * MIB:
        fail(f"large-buffer {e['allocator']}: peak RSS {e['median']['rss_peak']} below one buffer")
require("server-buffers", ("kops_per_s", "replacements", "rss_peak", "rss_after", "rss_after_purge"),
        ("kops_per_s",))
for e in entries_of("server-buffers"):
    if e["median"]["replacements"] != e["params"]["ops"] * e["threads"]:
        fail(f"server-buffers {e['allocator']}: {e['median']['replacements']} replacements")
print(f"ok: {path}: {len(doc['results'])} entries, workloads {', '.join(names)}, allocators {', '.join(doc['allocators'])}")
