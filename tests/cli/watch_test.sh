#!/usr/bin/env bash
# This file contains the test of `tslab watch` in a real terminal: a detached
# tmux session of a fixed size runs it against a live `tslab serve`; the pane
# must show the header, the allocator by name and its epoch rows, then rates;
# `q` must end it with status 0 and C-c with the status of SIGINT, each time
# with the terminal's mode as it was before (stty -g) and the shell's screen
# back. Skipped (77) when tmux is not installed.
#   watch_test.sh <path to tslab>
set -u
tslab=$1
command -v tmux >/dev/null 2>&1 || {
  echo "SKIP: tmux is not installed"
  exit 77
}
dir=$(mktemp -d)
. "$(dirname "$0")/serve_background.sh"
socket="tslab-watch-test-$$"
tmux_() { tmux -L "$socket" -f /dev/null "$@"; }
trap 'tmux_ kill-server 2>/dev/null; stop_serve; rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

start_serve "$tslab" "$dir" || exit 1

# Waits until the pane shows a line matching the extended regex $1 (up to $2 s).
wait_for_pane() {
  local pattern=$1 seconds=$2
  for _ in $(seq $((seconds * 10))); do
    tmux_ capture-pane -p -t watch >"$dir/pane"
    grep -Eq -- "$pattern" "$dir/pane" && return 0
    sleep 0.1
  done
  return 1
}

# One run of watch in the pane: the terminal mode before and after it, and its status.
cat >"$dir/run.sh" <<RUN
trap '' INT  # the shell outlives a C-c that ends watch, to report on it
stty -g >"$dir/before.\$1"
"$tslab" watch --url "$url" --interval 0.5
echo "watch exited \$?"
stty -g >"$dir/after.\$1"
echo "run \$1 done"
RUN

tmux_ new-session -d -s watch -x 160 -y 50 "env PS1='shell\$ ' bash --norc --noprofile" ||
  { echo "FAIL: tmux could not start a session"; exit 1; }
wait_for_pane 'shell\$' 10 || fail "no shell prompt in the pane"

tmux_ send-keys -t watch "bash $dir/run.sh 1" Enter
if wait_for_pane '^allocator [0-9]+ "requests"' 15; then
  cat "$dir/pane"
  grep -qF "tslab watch  $url  every 0.5 s" "$dir/pane" || fail "no header"
  grep -Eq '^ +epoch +state +era +label +live +live/s +committed +reclaimable +closes +closes/s +last close' \
    "$dir/pane" || fail "no epoch header"
  grep -Eq '^ +\*[0-9]+ +active ' "$dir/pane" || fail "no current epoch row, active and marked *"
  grep -Eq '^ +\*?[0-9]+ +(active|closing) +[0-9]+ +batch \(' "$dir/pane" || fail "no epoch row labelled batch"
  # After a refresh or two, the rates since the previous one.
  wait_for_pane '^allocator [0-9]+ "requests": live .*closes [0-9]+ \([0-9.]+/s\)' 10 ||
    fail "no closes/s after a refresh: $(head -n 3 "$dir/pane")"
  tmux_ send-keys -t watch q
  if wait_for_pane '^run 1 done' 10; then
    grep -qx 'watch exited 0' "$dir/pane" || fail "q: watch did not exit 0: $(cat "$dir/pane")"
    grep -q '^allocator ' "$dir/pane" && fail "q: the watch screen is still shown"
    cmp -s "$dir/before.1" "$dir/after.1" || fail "q: the terminal mode was not restored"
    echo "ok: q quits with status 0 and the terminal restored"
  else
    fail "q did not end watch: $(cat "$dir/pane")"
  fi
else
  fail "watch showed no allocator: $(cat "$dir/pane")"
fi

# C-c (SIGINT): the terminal is restored, and the status says SIGINT.
tmux_ send-keys -t watch "clear; bash $dir/run.sh 2" Enter
if wait_for_pane '^allocator [0-9]+ "requests"' 15; then
  tmux_ send-keys -t watch C-c
  if wait_for_pane '^run 2 done' 10; then
    grep -qx 'watch exited 130' "$dir/pane" || fail "C-c: status is not 130: $(cat "$dir/pane")"
    cmp -s "$dir/before.2" "$dir/after.2" || fail "C-c: the terminal mode was not restored"
    echo "ok: C-c ends watch with the terminal restored"
  else
    fail "C-c did not end watch: $(cat "$dir/pane")"
  fi
else
  fail "the second watch showed no allocator: $(cat "$dir/pane")"
fi

if [ $failures != 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all watch checks passed"
