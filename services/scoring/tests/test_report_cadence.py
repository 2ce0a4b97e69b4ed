"""The weekly bulletin's cadence day on the official calendar (issue 16; docs/reports.md): a Friday that is
not a working day falls on the last working day before it; a week whose working days all come after its
Friday has no bulletin; the weekday and the shift are settings."""

from __future__ import annotations

from datetime import date

from lkg.common.calendar import WorkingCalendar
from lkg.scoring.reports.issued import Cadence, weekly_issue_day

CALENDAR = WorkingCalendar()


def test_a_working_friday_is_the_cadence_day() -> None:
    assert weekly_issue_day(Cadence(CALENDAR), date(2020, 5, 11)) == date(2020, 5, 15)


def test_a_holiday_friday_falls_on_the_last_working_day_before_it() -> None:
    # National Day 2020: Friday 2 October is a holiday; Wednesday 30 September is the last working day.
    assert weekly_issue_day(Cadence(CALENDAR), date(2020, 9, 28)) == date(2020, 9, 30)
    # May Day 2020: Friday 1 May is a holiday; Thursday 30 April is the last working day.
    assert weekly_issue_day(Cadence(CALENDAR), date(2020, 4, 27)) == date(2020, 4, 30)


def test_a_week_with_no_working_day_up_to_its_friday_has_no_bulletin() -> None:
    # Spring Festival 2020 (extended): 27–31 January are holidays; the last working day before Friday the
    # 31st is in the week before, so the week of the 27th has none.
    assert weekly_issue_day(Cadence(CALENDAR), date(2020, 1, 27)) is None


def test_the_weekday_and_the_shift_are_settings() -> None:
    assert weekly_issue_day(Cadence(CALENDAR, weekday=0), date(2020, 5, 11)) == date(2020, 5, 11)
    # Shifted forward instead, the May Day Friday falls on the next working day, Wednesday 6 May, outside
    # its week: no bulletin that week.
    assert weekly_issue_day(Cadence(CALENDAR, shift="next"), date(2020, 4, 27)) is None
    assert weekly_issue_day(Cadence(CALENDAR, shift="none"), date(2020, 4, 27)) == date(2020, 5, 1)
