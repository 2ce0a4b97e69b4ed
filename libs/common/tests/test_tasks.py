"""Background loops stop when asked even if a cancellation is swallowed on the way, and a stop never
waits for ever (lkg.common.tasks)."""

from __future__ import annotations

import asyncio
import contextlib

from structlog.testing import capture_logs

from lkg.common.tasks import stop_if_cancelled, stop_tasks


async def swallowing(running: asyncio.Event, check: bool, ended: asyncio.Event | None = None) -> None:
    """A loop whose cancellation is lost on the way, as Python 3.11's ``wait_for`` or nats-py's closing of
    a failed connection can lose it (``running``: set on its first turn; ``ended``: how the test ends it for
    good)."""
    while ended is None or not ended.is_set():
        running.set()
        if check:
            stop_if_cancelled()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.01)


async def test_a_loop_that_checks_stops_though_its_cancellation_was_swallowed():
    running = asyncio.Event()
    task = asyncio.create_task(swallowing(running, check=True), name="checks")
    await running.wait()
    with capture_logs() as logs:
        await stop_tasks([task], owner="test", timeout=5)
    assert task.cancelled()
    assert logs == []


async def test_a_loop_that_does_not_check_is_logged_and_left_behind_instead_of_hanging_the_stop():
    ended = asyncio.Event()
    running = asyncio.Event()
    task = asyncio.create_task(swallowing(running, check=False, ended=ended), name="runs-on")
    await running.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with capture_logs() as logs:
        await stop_tasks([task], owner="test", timeout=0.3)
    assert loop.time() - started < 2
    assert not task.done()
    assert [(e["event"], e["owner"], e["tasks"]) for e in logs] == [
        ("tasks.not_stopped", "test", ["runs-on"])
    ]
    ended.set()  # leave nothing running behind the test
    await task
