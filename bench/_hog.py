"""A CPU hog for the benchmarks: a busy loop pinned to one core, started and stopped around a measurement.

Issue #12 asks for the bus's latency and the approvals burst with one of the machine's two cores taken by
other work for the whole measurement. The hog is a separate Python process spinning on ``--hog-cpu``
(``os.sched_setaffinity``); the processes under test are not pinned, so the kernel runs them beside it on
that core and alone on the other. Its CPU time is read back when it stops (``/proc``), so the report can
show that it really ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

#: The busy loop; argv[1] is the core.
_SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


class CpuHog:
    """``with CpuHog(cpu):`` a busy loop on ``cpu`` for the duration of the block; ``None``: no hog."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self.process: subprocess.Popen[bytes] | None = None
        self.began = 0.0
        #: (CPU seconds the hog used, wall seconds it ran), once stopped.
        self.used: tuple[float, float] | None = None

    def __enter__(self) -> CpuHog:
        if self.cpu is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SPIN, str(self.cpu)], stdin=subprocess.DEVNULL
            )
            self.began = time.perf_counter()
            time.sleep(0.2)  # let it start spinning before the measurement begins
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is None:
            return
        cpu = _cpu_seconds(self.process.pid)
        wall = time.perf_counter() - self.began
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None
        self.used = (cpu, wall) if cpu is not None else None

    def describe(self) -> str:
        if self.cpu is None:
            return "no hog"
        if self.used is None:
            return f"hog on CPU {self.cpu}"
        cpu, wall = self.used
        return f"hog on CPU {self.cpu} ({cpu / wall:.0%} of it over {wall:.1f} s)"


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
