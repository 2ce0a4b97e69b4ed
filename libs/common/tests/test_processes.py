"""stop_process(): SIGTERM, a wait, SIGKILL (of the whole group when asked), a wait; the child is reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from lkg.common.runtime.processes import stop_process
from lkg.common.testing import eventually

#: Prints its pid, then its grandchild's (the same process group), then waits to be stopped.
IGNORES_SIGTERM = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid, flush=True)
time.sleep(600)  # the point: it stays until it is killed
"""


def start(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def is_reaped(pid: int) -> bool:
    """Not even a zombie: waitpid() no longer knows the child."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def is_dead(process: psutil.Process) -> bool:
    """Gone, or a zombie: whoever inherited it (PID 1 here) may not reap it at once."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_process_that_ends_on_sigterm_is_not_killed_and_is_reaped() -> None:
    process = start("import time; print(flush=True); time.sleep(600)")
    assert process.stdout is not None and process.stdout.readline() == "\n"
    stop_process(process, timeout=10)
    assert process.returncode == -signal.SIGTERM
    assert is_reaped(process.pid)
    stop_process(process)  # a second call does nothing
    assert process.returncode == -signal.SIGTERM


async def test_one_that_ignores_sigterm_is_killed_after_the_timeout_with_its_group() -> None:
    process = start(IGNORES_SIGTERM)
    assert process.stdout is not None
    grandchild = psutil.Process(int(process.stdout.readline()))
    started = time.monotonic()
    stop_process(process, group=True, timeout=0.5)
    assert time.monotonic() - started >= 0.5
    assert process.returncode == -signal.SIGKILL
    assert is_reaped(process.pid)
    await eventually(lambda: is_dead(grandchild), what="the grandchild killed with the group")


def test_without_group_only_the_process_itself_is_killed() -> None:
    process = start(IGNORES_SIGTERM)
    assert process.stdout is not None
    grandchild = psutil.Process(int(process.stdout.readline()))
    try:
        stop_process(process, timeout=0.5)
        assert process.returncode == -signal.SIGKILL
        assert grandchild.is_running()
    finally:
        grandchild.kill()
        grandchild.wait(10)


def test_a_process_that_already_ended_is_only_reaped() -> None:
    process = start("pass")
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # ended; a zombie until reaped
    stop_process(process)
    assert process.returncode == 0
    assert is_reaped(process.pid)


def test_a_psutil_process_is_stopped_the_same_way() -> None:
    process = start("import time; print(flush=True); time.sleep(600)")
    assert process.stdout is not None and process.stdout.readline() == "\n"
    stop_process(psutil.Process(process.pid), timeout=10)
    assert is_reaped(process.pid)  # psutil's wait reaps a child of ours too
