"""Background tasks that stop when they are asked to, and a stop that does not wait for ever.

On Python 3.11 a cancellation can be lost: ``asyncio.wait_for`` returns the inner result instead of
raising ``CancelledError`` when the awaited future completes in the same loop iteration as the cancel
(python/cpython#86296, fixed in 3.12), and nats-py catches ``CancelledError`` while it closes a failed
connection attempt. A ``while True`` loop whose cancellation was lost runs on, and whoever awaits it to stop
waits for ever. The task still counts the request (``Task.cancelling()``), so every loop of ours checks it
once per turn (:func:`stop_if_cancelled`), and stopping waits a bounded time (:func:`stop_tasks`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lkg.common.log import get_logger

log = get_logger(__name__)

#: How long a stop waits for its cancelled tasks before it logs them and goes on.
STOP_SECONDS = 10.0


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` in a loop whose task was asked to stop, even if the request was swallowed
    on the way (see the module's docstring)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_tasks(tasks: Sequence[asyncio.Task], *, owner: str, timeout: float = STOP_SECONDS) -> None:
    """Cancel ``tasks`` and wait at most ``timeout`` seconds for them to end. One that has not ended by then
    is logged (``tasks.not_stopped``) and left behind, so a stuck task never hangs a process's shutdown (or
    a test's teardown); its errors, and those of the tasks that did end, are not raised."""
    tasks = [t for t in tasks if not t.done()]
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    if pending:
        log.error("tasks.not_stopped", owner=owner, tasks=sorted(t.get_name() for t in pending))
