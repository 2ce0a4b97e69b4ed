"""The clocks of a matter as deadline rows (policy §五(一); docs/issues.md#clocks): due and warning
times on the official calendar, the provisional flag, and which years a clock's computation touched."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path

from lkg.common.calendar import WorkingCalendar, YearSchedule
from lkg.common.clock import TZ
from lkg.issues.matters.clocks import _years_touched, clock_row, working_due
from lkg.issues.settings import ClockLimits

REPO = Path(__file__).resolve().parents[3]
LABOUR_DAY = datetime(2020, 5, 1, 9, tzinfo=TZ)  # Friday, in the 1–5 May holiday; Saturday 05-09 worked


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def row(cal: WorkingCalendar, **kw) -> dict:
    base = {
        "matter_id": uuid.uuid4(),
        "kind": "reply",
        "layer": 1,
        "charged_unit_id": uuid.uuid4(),
        "start": LABOUR_DAY,
        "limits": ClockLimits(),
    }
    return clock_row(cal, **{**base, **kw})


def test_three_working_days_to_answer_skip_the_labour_day_holiday():
    r = row(WorkingCalendar(), budget=3)
    # Counted: 05-06, 05-07, 05-08; due at the end of 05-08. The warning (60 % → 1 day) ends 05-06.
    assert (r["due_at"], r["warn_at"], r["next_at"]) == (at(2020, 5, 9), at(2020, 5, 7), at(2020, 5, 7))
    assert (r["state"], r["budget"], r["budget_unit"], r["provisional"]) == ("running", 3, "working", False)


def test_five_working_days_of_progress_count_the_make_up_saturday():
    r = row(WorkingCalendar(), kind="progress", budget=5)
    # 05-06, 05-07, 05-08, 05-09 (make-up Saturday), 05-11; the warning after 3 days: end of 05-08.
    assert (r["due_at"], r["warn_at"]) == (at(2020, 5, 12), at(2020, 5, 9))


def test_a_one_day_clock_has_no_warning_and_a_configured_share_moves_it():
    assert row(WorkingCalendar(), kind="acceptance", budget=1)["warn_at"] is None
    late = row(WorkingCalendar(), budget=5, limits=ClockLimits(warning_share=0.9))
    assert late["warn_at"] == at(2020, 5, 10)  # 4 of 5 days used: end of 05-09 (make-up Saturday)


def test_a_resolution_clock_runs_to_the_end_of_the_decided_day_and_warns_at_the_share_of_its_span():
    r = row(WorkingCalendar(), kind="resolution", start=at(2020, 5, 10), due_on=date(2020, 5, 19))
    assert (r["due_at"], r["budget"], r["budget_unit"]) == (at(2020, 5, 20), None, None)
    assert r["warn_at"] == at(2020, 5, 16)  # 60 % of 10 days


def test_a_clock_in_a_year_without_official_calendar_is_provisional_until_the_year_is_loaded():
    cal = WorkingCalendar()
    friday = at(2027, 1, 29, 9)
    limits = ClockLimits()
    assert working_due(cal, friday, 1, limits) == (at(2027, 2, 2), None, True)
    schedule = YearSchedule.model_validate_json((REPO / "docs" / "calendar-2027.example.json").read_text())
    cal.load(schedule)
    # The (example) schedule makes Sunday 2027-01-31 a working day: the day's budget ends there.
    assert working_due(cal, friday, 1, limits) == (at(2027, 2, 1), None, False)
    assert working_due(cal, friday, 3, limits) == (at(2027, 2, 3), at(2027, 2, 1), False)


def test_the_years_a_clock_touched_run_from_its_start_day_to_its_last_day():
    assert list(_years_touched(at(2026, 12, 30, 9), at(2027, 1, 6))) == [2026, 2027]
    # Due at 2027-01-01 00:00 means the last day is 2026-12-31.
    assert list(_years_touched(at(2026, 12, 28, 9), at(2027, 1, 1))) == [2026]
