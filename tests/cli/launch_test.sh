#!/usr/bin/env bash
# This file contains the test of tslab_launch (bench/programs/launch.c): a
# program started through it from a process holding 256 MiB reports a peak RSS
# of its own, where the same program forked and executed straight from that
# process reports the 256 MiB too; and its exit status, a missing program and
# its environment come back as they are.
#
#   launch_test.sh <tslab_launch>
set -euo pipefail
launch=$1
exec python3 - "$launch" <<'PY'
import os, struct, sys

launch = sys.argv[1]
held = bytearray(256 << 20)
for i in range(0, len(held), 4096):
    held[i] = 1  # resident

def through_launcher(argv, env=()):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 3)
        os.execve(launch, [launch, "3", *env, "--", *argv], {})
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    _, launcher_status = os.waitpid(pid, 0)
    assert os.WIFEXITED(launcher_status) and os.WEXITSTATUS(launcher_status) == 0, launcher_status
    # an int (the wait status), then struct rusage: two timevals, then ru_maxrss in KiB
    status, = struct.unpack_from("i", data, 0)
    maxrss, = struct.unpack_from("l", data, 4 + 32)
    return status, maxrss

def fail(why):
    print("FAIL:", why)
    sys.exit(1)

pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["/bin/true"])
_, _, direct = os.wait4(pid, 0)
if direct.ru_maxrss < 200 * 1024:
    fail(f"a program forked straight from this process reports {direct.ru_maxrss} KiB: the test cannot tell")
status, maxrss = through_launcher(["/bin/true"])
if status != 0:
    fail(f"/bin/true through the launcher: status {status}")
if maxrss >= 32 * 1024:
    fail(f"/bin/true through the launcher reports {maxrss} KiB of peak RSS (directly: {direct.ru_maxrss})")
print(f"ok: peak RSS of /bin/true: {maxrss} KiB through the launcher, {direct.ru_maxrss} KiB directly")

status, _ = through_launcher(["/bin/false"])
if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1):
    fail(f"/bin/false through the launcher: status {status}")
status, _ = through_launcher(["/nonexistent/program"])
if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 127):
    fail(f"a missing program through the launcher: status {status}")
status, _ = through_launcher(["/bin/sh", "-c", 'test "$LAUNCH_TEST" = yes && test -z "$HOME"'], ["LAUNCH_TEST=yes"])
if status != 0:
    fail("the program did not get exactly the environment given")
print("ok: exit status, a missing program and the environment")
PY
