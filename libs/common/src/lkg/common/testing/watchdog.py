"""pytest plugin: what a slow asyncio test is waiting on.

pytest's ``faulthandler_timeout`` and pytest-timeout print every *thread's* stack when a test runs too
long, but an asyncio test that waits forever shows only its event loop in ``select()``. At the same
``faulthandler_timeout`` this plugin prints the stack of every task of every running event loop as well
(the coroutine that awaits a reply that never comes), to the stderr the run started with, which test
output capture does not swallow. The test goes on; pytest-timeout's ``timeout`` is what ends a hung run.
"""

from __future__ import annotations

import asyncio
import gc
import io
import os
import threading
from collections.abc import Generator

import pytest

_STDERR = pytest.StashKey[io.TextIOWrapper]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STDERR] = open(os.dup(2), "w", encoding="utf-8", closefd=True)  # noqa: SIM115


def pytest_unconfigure(config: pytest.Config) -> None:
    stream = config.stash.get(_STDERR, None)
    if stream is not None:
        stream.close()


def running_loops() -> list[asyncio.AbstractEventLoop]:
    return [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]


def task_stacks(loop: asyncio.AbstractEventLoop) -> str:
    """Each task of ``loop`` with where it waits (read from another thread: best effort, never raises)."""
    out = io.StringIO()
    try:
        tasks = list(asyncio.all_tasks(loop))
    except RuntimeError as exc:
        return f"(tasks not readable: {exc})\n"
    for task in tasks:
        try:
            out.write(f"-- {task!r}\n")
            task.print_stack(limit=12, file=out)
        except Exception as exc:  # a task finishing under our feet
            out.write(f"(stack not readable: {exc!r})\n")
    return out.getvalue()


def _dump(item: pytest.Item, after: float) -> None:
    stream = item.config.stash.get(_STDERR, None)
    if stream is None:
        return
    text = [f"\n+++ {item.nodeid} still running after {after:.0f} s: asyncio tasks +++\n"]
    for loop in running_loops():
        text.append(f"== {loop!r}\n{task_stacks(loop)}")
    stream.write("".join(text))
    stream.flush()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    after = float(item.config.getini("faulthandler_timeout") or 0)
    timer = threading.Timer(after, _dump, args=(item, after)) if after > 0 else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        return (yield)
    finally:
        if timer is not None:
            timer.cancel()
