"""eventually(): polls a sync or async check until it passes, fails with the check's own message."""

from __future__ import annotations

import asyncio

import pytest

from lkg.common.testing import eventually


async def test_an_assertion_passes_once_the_state_arrives() -> None:
    got: list[int] = []

    async def arrive() -> None:
        for n in range(3):
            await asyncio.sleep(0.01)  # the point: the state arrives while eventually() polls
            got.append(n)

    task = asyncio.create_task(arrive())

    def check() -> None:
        assert got == [0, 1, 2]

    assert await eventually(check, timeout=5) is None
    assert got == [0, 1, 2]
    await task


async def test_an_async_look_up_returns_its_first_truthy_result() -> None:
    calls = 0

    async def look_up() -> list[str]:
        nonlocal calls
        calls += 1
        return ["found"] if calls >= 3 else []

    assert await eventually(look_up, timeout=5, interval=0.001) == ["found"]
    assert calls == 3


async def test_the_last_assertion_error_is_raised_after_the_timeout() -> None:
    seen = 0

    def check() -> None:
        nonlocal seen
        seen += 1
        if seen >= 0:
            raise AssertionError(f"attempt {seen}")

    with pytest.raises(AssertionError) as info:
        await eventually(check, timeout=0.05, interval=0.001)
    assert info.value.args == (f"attempt {seen}",)
    assert seen >= 2


async def test_a_predicate_that_stays_false_names_its_last_result() -> None:
    with pytest.raises(AssertionError, match=r"^nothing yet: still \[\] after 0.03 s$"):
        await eventually(lambda: [], timeout=0.03, interval=0.001, what="nothing yet")


async def test_other_errors_propagate_at_once() -> None:
    calls = 0

    def broken() -> bool:
        nonlocal calls
        calls += 1
        raise KeyError("gone")

    with pytest.raises(KeyError):
        await eventually(broken, timeout=5)
    assert calls == 1


async def test_a_check_that_passes_at_once_is_called_once_even_with_no_time() -> None:
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        return True

    assert await eventually(check, timeout=0) is True
    assert calls == 1
