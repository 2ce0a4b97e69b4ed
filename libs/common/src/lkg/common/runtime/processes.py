"""Servers we start must not outlive us (process hygiene of the embedded runtime, :mod:`.embedded`).

Each server runs in its own session (a terminal's Ctrl-C reaches only us, so shutdown happens in order),
and a per-process :class:`_Reaper` stops them on normal exit (``atexit``), on SIGTERM/SIGHUP, and, through
a small watchdog process that notices our end when its stdin pipe closes, even when we are SIGKILLed.
Ctrl-C raises ``KeyboardInterrupt`` in the main thread and ends in ``atexit``. :func:`stop_process` is the
one way a process we started is stopped; :func:`no_strays` lists what a data directory's servers left running.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol

#: Seconds a server gets to shut down cleanly before it is killed.
STOP_TIMEOUT = 10.0


class _Stoppable(Protocol):
    def stop(self) -> None: ...


class _Process(Protocol):
    """What :func:`stop_process` needs: a :class:`subprocess.Popen` or a :class:`psutil.Process`."""

    @property
    def pid(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> Any: ...


def stop_process(process: _Process, *, group: bool = False, timeout: float = STOP_TIMEOUT) -> None:
    """Stop ``process``: SIGTERM, up to ``timeout`` s for it to end, then SIGKILL and as long again.

    SIGTERM goes to the process alone (it shuts down its own children in order); SIGKILL, with ``group``,
    to its whole process group (a process started in its own session: whatever it left behind goes too).
    The last wait reaps a child of ours (no zombie is left); the second timeout raises the library's
    ``TimeoutExpired``. A process that has already ended is only reaped, so a second call does nothing.
    """
    timeout_expired, gone = _errors(process)
    try:
        process.wait(0)
        return  # already ended: that wait reaped it
    except timeout_expired:
        pass
    with contextlib.suppress(ProcessLookupError, *gone):
        process.terminate()
    try:
        process.wait(timeout)
    except timeout_expired:
        with contextlib.suppress(ProcessLookupError, *gone):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout)


def _errors(process: _Process) -> tuple[type[Exception], tuple[type[Exception], ...]]:
    """The library's "still running after the timeout" and "no such process" exceptions."""
    if isinstance(process, subprocess.Popen):
        return subprocess.TimeoutExpired, ()  # Popen suppresses ProcessLookupError itself
    import psutil

    return psutil.TimeoutExpired, (psutil.NoSuchProcess,)


def _create_time(pid: int) -> float:
    """Start time of ``pid``, so the watchdog never signals a process that merely reused the number."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:  # already gone: 0.0 matches no live process
        return 0.0


class _Reaper:
    """Stops every server this process started, however the process ends.

    One per process. ``atexit`` and signal handlers cover an orderly end; the watchdog child covers
    SIGKILL and crashes, where no Python code of ours runs: it is told each server's pid and stop signal
    and, when its stdin reaches EOF without the server having been forgotten, sends the signal itself.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._live: dict[int, _Stoppable] = {}
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._installed = False
        self._previous: dict[int, Any] = {}

    def watch(self, owner: _Stoppable, pid: int, stop_signal: signal.Signals) -> None:
        with self._lock:
            self._install()
            self._live[id(owner)] = owner
            self._tell(f"watch {pid} {int(stop_signal)} {_create_time(pid)!r}")

    def forget(self, owner: _Stoppable, pid: int | None) -> None:
        with self._lock:
            self._live.pop(id(owner), None)
            if pid is not None:
                self._tell(f"forget {pid}")

    def stop_all(self) -> None:
        with self._lock:
            owners = list(self._live.values())
        # Newest first: NATS (started after PostgreSQL in a stack) goes down before the database.
        for owner in reversed(owners):
            with contextlib.suppress(Exception):
                owner.stop()

    def _at_exit(self) -> None:
        self.stop_all()
        watchdog = self._watchdog
        if watchdog is not None and watchdog.stdin is not None:
            # Nothing is left to watch: let it see EOF and exit now rather than linger.
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                watchdog.stdin.close()
                watchdog.wait(2)

    def _tell(self, line: str) -> None:
        watchdog = self._watchdog
        if watchdog is None or watchdog.stdin is None or watchdog.poll() is not None:
            return
        with contextlib.suppress(OSError):
            watchdog.stdin.write(line.encode() + b"\n")
            watchdog.stdin.flush()

    def _install(self) -> None:
        if self._installed:
            return
        self._installed = True
        atexit.register(self._at_exit)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                previous = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread: atexit and the watchdog still apply
                break
            if previous == signal.SIG_IGN:  # whoever ignores it means it: so do we
                signal.signal(signum, signal.SIG_IGN)
            else:
                self._previous[signum] = previous
        # Its own session, so a Ctrl-C meant for us does not kill it before it can act.
        self._watchdog = subprocess.Popen(
            [sys.executable, "-m", "lkg.common.runtime.processes", "watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_all()
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        else:  # SIG_DFL, or None for a handler installed outside Python
            # Die of the same signal, as the parent (a shell, a supervisor) expects.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


REAPER = _Reaper()


def _watchdog_main(stdin: IO[str]) -> None:
    """Body of the watchdog child: wait for the parent's end, then stop what it still had running."""
    import psutil

    watched: dict[int, tuple[int, float]] = {}
    for line in stdin:
        match line.split():
            case ["watch", pid, signum, created]:
                watched[int(pid)] = (int(signum), float(created))
            case ["forget", pid]:
                watched.pop(int(pid), None)
    processes = []
    for process_id, (signal_number, created_at) in watched.items():
        try:
            process = psutil.Process(process_id)
            if process.create_time() != created_at:  # the pid was reused by someone else
                continue
            process.send_signal(signal_number)
            processes.append(process)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(processes, timeout=STOP_TIMEOUT)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def _is_under(arg: str, root: str) -> bool:
    return arg == root or arg.startswith(root + os.sep)


def no_strays(data_dir: Path) -> list[int]:
    """Pids of live processes whose command line names ``data_dir`` or a path inside it.

    A postmaster carries ``-D <pgdata>`` and our nats-server ``-c <data_dir>/nats.conf``, so after a
    clean stop this list is empty; tests assert exactly that.
    """
    import psutil

    root = str(Path(data_dir).resolve())
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        info = process.info
        if info["pid"] == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(_is_under(arg, root) for arg in info["cmdline"] or ()):
            found.append(info["pid"])
    return sorted(found)


if __name__ == "__main__" and sys.argv[1:] == ["watchdog"]:
    _watchdog_main(sys.stdin)
