"""Quiet hours hold a non-urgent push to the next working morning on the official calendar (issue 14)."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.notifier.store import hold_until

CAL = WorkingCalendar()
NIGHT = (time(22, 0), time(8, 30))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # A working Wednesday afternoon: not quiet.
        (at(2020, 5, 6, 15, 0), None),
        # A working evening: the next working morning.
        (at(2020, 5, 6, 22, 30), at(2020, 5, 7, 8, 30)),
        # Early on a working day: the same morning.
        (at(2020, 5, 7, 6, 0), at(2020, 5, 7, 8, 30)),
        # The evening before Labour Day: over the holiday (05-01 .. 05-05) to Wednesday 05-06.
        (at(2020, 4, 30, 23, 0), at(2020, 5, 6, 8, 30)),
        # Daytime in the holiday counts as quiet too.
        (at(2020, 5, 2, 11, 0), at(2020, 5, 6, 8, 30)),
        # Friday 05-08 evening: Saturday 05-09 is a make-up working day (调休), so that morning.
        (at(2020, 5, 8, 23, 0), at(2020, 5, 9, 8, 30)),
        # National Day 2020 (10-01 .. 10-08), Sunday 09-27 a make-up day: 09-30 evening → 10-09.
        (at(2020, 9, 30, 22, 0), at(2020, 10, 9, 8, 30)),
    ],
)
def test_hold_until_the_next_working_morning(now: datetime, expected: datetime | None) -> None:
    assert hold_until(CAL, now, *NIGHT) == expected


def test_no_quiet_hours_never_hold() -> None:
    assert hold_until(CAL, at(2020, 5, 2, 3, 0), None, None) is None


def test_a_window_inside_one_day() -> None:
    noon = (time(12, 0), time(14, 0))
    assert hold_until(CAL, at(2020, 5, 6, 12, 30), *noon) == at(2020, 5, 6, 14, 0)
    assert hold_until(CAL, at(2020, 5, 6, 14, 0), *noon) is None
