"""Wait for what a test needs, not for a fixed time: :func:`eventually`.

Events travel through the outbox, JetStream and a consumer's inbox, so a test that drove a change sees its
consequences a few milliseconds later, sometimes more on a loaded machine. A fixed ``asyncio.sleep`` before
an assertion is either too short (a flaky test) or too long (a slow one); :func:`eventually` polls until the
check passes and fails with the check's own message when it never does.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: Long enough for a loaded CI machine, short enough that a real failure does not stall the suite.
DEFAULT_TIMEOUT = 10.0


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.02,
    what: str | None = None,
) -> T:
    """Call ``check`` (sync or async) until it passes, and return what it returned.

    ``check`` passes when it returns without raising :class:`AssertionError` and its result is ``None``
    (an assertion-style check: ``def check(): assert got == [...]``) or truthy (a predicate or a look-up:
    ``await eventually(lambda: [m for m in got if m.type == "problem.reported"])`` returns the list once
    it is not empty). A falsy result other than ``None`` (``False``, ``[]``, ``0``) means "not yet".

    After ``timeout`` seconds the last :class:`AssertionError` is raised again (so the failure reads as the
    assertion that did not hold), or, for a check that only stayed falsy, an :class:`AssertionError`
    naming its last result. Any other exception propagates at once: a broken check is not retried.
    ``check`` is called at least once, and again after each ``interval``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    label = what or getattr(check, "__qualname__", repr(check))
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except AssertionError:
            if loop.time() >= deadline:
                raise
        else:
            if result is None or result:
                return result
            if loop.time() >= deadline:
                raise AssertionError(f"{label}: still {result!r} after {timeout:g} s")
        await asyncio.sleep(interval)
