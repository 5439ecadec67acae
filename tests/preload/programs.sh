#!/usr/bin/env bash
# This file contains the test of libtslab-malloc.so under real programs: each
# one runs twice, once on the C library's malloc and once with the override
# LD_PRELOADed, and the two outputs must be equal. The preloaded run must show
# that tslab served it (TSLAB_SHOW_STATS=1 prints the process allocator's
# summary at exit: "tslab allocator ... N blocks") and print no diagnostic.
# Then the project's own test programs that do not replace malloc themselves
# run under the preload.
#
#   programs.sh LIBTSLAB_MALLOC_SO TEST_BINARY_DIR
set -u
lib=$(realpath "$1")
bindir=$(realpath "$2")
test -r "$lib" || { echo "programs.sh: no library at $lib" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
py=/usr/bin/python3
export LC_ALL=C

# run NAME COMMAND...: compares the command's stdout without and with the preload.
run() {
  local name=$1; shift
  local dir="$work/$name"
  mkdir -p "$dir/glibc" "$dir/tslab"
  (cd "$dir/glibc" && "$@") >"$dir/glibc.out" 2>"$dir/glibc.err"
  local rc_glibc=$?
  (cd "$dir/tslab" && env LD_PRELOAD="$lib" TSLAB_SHOW_STATS=1 "$@") >"$dir/tslab.out" 2>"$dir/tslab.err"
  local rc_tslab=$?
  local why=""
  if [ "$rc_glibc" -ne 0 ]; then why="fails without the preload too (exit $rc_glibc)"
  elif [ "$rc_tslab" -ne 0 ]; then why="exit $rc_tslab under the preload"
  elif ! cmp -s "$dir/glibc.out" "$dir/tslab.out"; then why="output differs from the C library's"
  elif ! grep -Eq '^tslab allocator [0-9]+: .* in [0-9]+ blocks' "$dir/tslab.err"; then why="tslab did not serve it (no summary at exit)"
  elif grep -q '^tslab: \|ld.so' "$dir/tslab.err"; then why="tslab or ld.so printed a diagnostic"
  fi
  if [ -n "$why" ]; then
    echo "FAIL $name: $why"
    echo "--- stderr under the preload:"; head -20 "$dir/tslab.err"
    diff <(head -c 2000 "$dir/glibc.out") <(head -c 2000 "$dir/tslab.out") | head -10
    failures=$((failures + 1))
  else
    echo "ok   $name ($(wc -c <"$dir/tslab.out") bytes of output)"
  fi
}

json_round_trip='
import hashlib, json
data = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7)] * (i % 5), "v": i * 0.5} for i in range(200000)]
text = json.dumps(data, sort_keys=True)
assert json.loads(text) == data
print(len(text), hashlib.sha256(text.encode()).hexdigest())
'
threaded='
import threading
results = [0] * 8
def work(k):
    d = {}
    for i in range(60000):
        d[(k, i)] = [i] * (i % 9) + [str(i)]
        if i % 3 == 0:
            d.pop((k, i // 2), None)
    results[k] = sum(len(v) for v in d.values())
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(results)
'
run python-json "$py" -c "$json_round_trip"
run python-json-pymalloc-off env PYTHONMALLOC=malloc "$py" -c "$json_round_trip"
run python-threads "$py" -c "$threaded"
run python-threads-pymalloc-off env PYTHONMALLOC=malloc "$py" -c "$threaded"

run sqlite3 sqlite3 :memory: "
  create table t(id integer primary key, k text, v blob);
  with recursive c(x) as (select 1 union all select x + 1 from c where x < 200000)
    insert into t(k, v) select printf('key%08d', (x * 7919) % 200000), zeroblob(x % 300) from c;
  create index tk on t(k);
  select count(*), sum(length(v)), min(k), max(k) from t;
  select id, k from t where k between 'key00100000' and 'key00100010' order by k;"

git_steps='
set -e
export GIT_AUTHOR_NAME=tslab GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=tslab GIT_COMMITTER_EMAIL=t@example.org
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
git init -q repo && cd repo
for i in $(seq 1 2000); do echo "file $i $((i * i))" > "f$i.txt"; done
git add . && git commit -qm "first"
for i in $(seq 1 2000 | awk "NR % 3 == 0"); do echo change >> "f$i.txt"; done
git commit -qam "second"
git log --format="%H %s" && git count-objects | cut -d" " -f1
'
run git bash -c "$git_steps"

run perl perl -e '
  my %h; $h{"k$_"} = [($_) x ($_ % 13)] for 1 .. 200000;
  delete $h{"k" . ($_ * 3)} for 1 .. 60000;
  my $n = 0; $n += scalar(@{$h{$_}}) for keys %h;
  print scalar(keys %h), " $n\n"; print join(",", (sort keys %h)[0 .. 9]), "\n";'

awk 'BEGIN { srand(7); for (i = 0; i < 300000; i++) printf "%d %s\n", int(rand() * 1e9), i }' >"$work/numbers"
run sort bash -c "sort -k1,1n -S 64M '$work/numbers' | md5sum"
# With an open-files limit of at least 1024 (the copy of stderr kept for the
# summary is the highest free descriptor below it; none is kept under a lower limit):
if [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 1024 ]; then
  # sort itself, whose exit handler closes stderr before tslab's summary is printed
  # (the summary goes to the copy of stderr kept for it).
  run sort-closes-stderr sort -k1,1n -S 64M "$work/numbers"
  # A script's own descriptors, the numbers lock-file idioms pick: the copy is
  # none of them (bash undoes a redirection onto a close-on-exec descriptor it
  # did not open).
  run bash-redirects bash -c 'for n in 3 9 100 200 1000; do eval "exec $n>fd$n" && eval "echo to-$n >&$n"; done; cat fd3 fd9 fd100 fd200 fd1000'
else
  echo "skip sort-closes-stderr, bash-redirects: the open-files limit is $(ulimit -n), below 1024"
fi

# malloc at the edges of a process's life (tests/preload/process_life.c).
if env LD_PRELOAD="$lib" "$bindir/process_life" >"$work/process_life.log" 2>&1 &&
   grep -qx 'process_life: ok' "$work/process_life.log" && ! grep -q '^tslab: \|ld.so' "$work/process_life.log"; then
  echo "ok   process_life under the preload"
else
  echo "FAIL process_life under the preload"; cat "$work/process_life.log"; failures=$((failures + 1))
fi

# The project's own tests, under the preload: everything but the programs that
# replace malloc or count its calls themselves.
for t in test_cpp_api test_pointer_api test_epochs test_handles test_sizes test_lifecycle test_options \
         test_mt_remote test_mt_churn test_mt_thread_exit test_mt_fork c_api_test; do
  if [ ! -x "$bindir/$t" ]; then echo "FAIL $t: not built"; failures=$((failures + 1)); continue; fi
  if env LD_PRELOAD="$lib" TSLAB_TEST_SCALE=1 "$bindir/$t" >"$work/$t.log" 2>&1 && ! grep -q '^tslab: \|ld.so' "$work/$t.log"; then
    echo "ok   $t under the preload"
  else
    echo "FAIL $t under the preload"; tail -20 "$work/$t.log"; failures=$((failures + 1))
  fi
done

if [ "$failures" -ne 0 ]; then echo "programs.sh: $failures failed"; exit 1; fi
echo "programs.sh: all passed"
