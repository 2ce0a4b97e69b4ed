"""The working-day calendar (docs/calendar.md): agreement with chinese_calendar, loaded and provisional years,
deadlines with pauses, and the cadence-day rule."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from pydantic import ValidationError

from lkg.common.calendar import (
    TZ,
    Due,
    Pause,
    WorkingCalendar,
    YearSchedule,
    chinese_calendar_years,
    end_of_day,
)

FIRST, LAST = date(2004, 1, 1), date(2026, 12, 31)
EXAMPLE_2027 = Path(__file__).resolve().parents[3] / "docs" / "calendar-2027.example.json"


def at(text: str) -> datetime:
    """An instant in Beijing time: ``at("2020-09-25 10:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def schedule_2027(**changes: object) -> YearSchedule:
    """A made-up 2027 National Day: 1–7 October off, Sunday 26 September and Saturday 9 October worked."""
    fields: dict[object, object] = {
        "year": 2027,
        "holidays": [date(2027, 10, day) for day in range(1, 8)],
        "workdays": [date(2027, 9, 26), date(2027, 10, 9)],
        "source": "test schedule",
    }
    fields.update(changes)
    return YearSchedule.model_validate(fields)


@pytest.fixture(scope="module")
def official() -> dict[date, bool]:
    """chinese_calendar's own answer for every day it knows (its is_workday is slow; ask it once a day)."""
    days = (LAST - FIRST).days + 1
    return {FIRST + timedelta(i): chinese_calendar.is_workday(FIRST + timedelta(i)) for i in range(days)}


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


# --- agreement with chinese_calendar ---------------------------------------------------------------------


def test_covered_years_are_detected_from_chinese_calendar() -> None:
    years = chinese_calendar_years()
    assert min(years) == 2004
    assert years == set(range(2004, max(years) + 1))
    assert max(years) >= 2026
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(max(years) + 1, 1, 1))


def test_every_day_agrees_with_chinese_calendar(cal: WorkingCalendar, official: dict[date, bool]) -> None:
    disagreements = [d for d, working in official.items() if cal.is_working_day(d) != working]
    assert disagreements == []
    assert not any(cal.is_provisional(d) for d in (FIRST, LAST))


def test_adding_working_days_agrees_with_a_naive_loop(
    cal: WorkingCalendar, official: dict[date, bool]
) -> None:
    """Every start day 2004–2026, n = 1..5 forwards and backwards, while the answer stays inside 2004–2026."""
    one = timedelta(days=1)
    checked = 0
    mismatches = []
    for start in official:
        for step in (one, -one):
            day, found = start, 0
            for n in range(1, 6):
                while True:  # walk to the next working day in this direction
                    day += step
                    if day not in official:
                        break
                    if official[day]:
                        found += 1
                        break
                if day not in official:
                    break  # left chinese_calendar's range (before 2004 or after 2026)
                signed = n if step == one else -n
                if cal.add_working_days(start, signed) != day:
                    mismatches.append((start, signed, day))
                checked += 1
    assert mismatches == []
    assert checked > 80_000


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 9, 30), 3, date(2026, 10, 10)),  # Saturday 10 October 2026 is a make-up working day
        (date(2020, 4, 30), 3, date(2020, 5, 8)),  # May Day 2020: 1–5 May off, Saturday 9 May worked
        (date(2026, 2, 13), 3, date(2026, 2, 25)),  # Spring Festival 2026, make-up Saturday 14 February
        (date(2026, 9, 30), 0, date(2026, 9, 30)),
        (date(2020, 10, 3), 0, date(2020, 10, 3)),  # n = 0 is the start day, even a holiday
        (date(2020, 10, 3), 1, date(2020, 10, 9)),  # a start on a holiday: the next working day is day 1
        (date(2026, 10, 10), -3, date(2026, 9, 30)),  # back over National Day (1–7 October 2026)
        (date(2026, 12, 31), 0, date(2026, 12, 31)),
    ],
)
def test_known_days(cal: WorkingCalendar, start: date, n: int, expected: date) -> None:
    assert cal.add_working_days(start, n) == expected


def test_working_days_between_is_the_inverse_of_adding(cal: WorkingCalendar) -> None:
    starts = [date(2004, 1, 1) + timedelta(days=37 * i) for i in range(0, 250)]  # 2004 into 2029
    for start in starts:
        for n in (0, 1, 2, 3, 5, 8, 20, 250, 600):
            end = cal.add_working_days(start, n)
            assert cal.working_days_between(start, end) == n, (start, n)
            assert cal.working_days_between(end, start) == -n, (start, n)
            assert cal.add_working_days(end, -n) == (
                start if n == 0 else cal.last_working_day_on_or_before(start)
            )


def test_working_days_between_counts_the_half_open_interval(cal: WorkingCalendar) -> None:
    # (30 Sep 2020, 10 Oct 2020]: 9 October and the make-up Saturday 10 October.
    assert cal.working_days_between(date(2020, 9, 30), date(2020, 10, 10)) == 2
    assert cal.working_days_between(date(2020, 10, 1), date(2020, 10, 8)) == 0
    assert cal.working_days_between(date(2020, 10, 8), date(2020, 10, 8)) == 0
    # Across a year boundary and a whole year: 2019 had 250 working days.
    assert cal.working_days_between(date(2018, 12, 31), date(2019, 12, 31)) == 250
    assert cal.working_days_between(date(2019, 12, 30), date(2020, 1, 2)) == 2  # 31 Dec, 2 Jan


# --- provisional and loaded years ------------------------------------------------------------------------


def test_a_year_without_official_calendar_is_provisional(cal: WorkingCalendar) -> None:
    assert cal.is_provisional(date(2027, 9, 30))
    assert cal.is_provisional(date(2003, 6, 2))
    assert cal.provisional_years(range(2025, 2030)) == {2027, 2028, 2029}
    assert cal.year_kind(2027) == "provisional"
    assert 2027 not in cal.official_years()
    # Weekends plus the holidays package's rule-based days ("observed" Monday and Tuesday included).
    assert [cal.is_working_day(date(2027, 10, d)) for d in range(1, 10)] == [
        False,  # Fri, National Day
        False,  # Sat
        False,  # Sun
        False,  # Mon, observed
        False,  # Tue, observed
        True,
        True,
        True,
        False,  # Sat: no make-up days on a provisional calendar
    ]


def test_loading_an_official_year_replaces_the_provisional_calendar(cal: WorkingCalendar) -> None:
    start = at("2027-09-30 10:00")
    before = cal.compute_due(start, 3, "working")
    assert before == Due(
        due_at=at("2027-10-09 00:00"), due_date=date(2027, 10, 8), provisional=True, paused=False
    )

    cal.load(schedule_2027())

    after = cal.compute_due(start, 3, "working")
    # 8 October (Fri), the make-up Saturday 9 October, Monday 11 October.
    assert after == Due(
        due_at=at("2027-10-12 00:00"), due_date=date(2027, 10, 11), provisional=False, paused=False
    )
    assert cal.is_working_day(date(2027, 10, 9))
    assert cal.year_kind(2027) == "loaded"
    assert 2027 in cal.official_years()
    assert cal.provisional_years(range(2025, 2030)) == {2028, 2029}


def test_loading_again_replaces_the_year_and_its_cache(cal: WorkingCalendar) -> None:
    cal.load(schedule_2027())
    assert cal.add_working_days(date(2027, 9, 30), 3) == date(2027, 10, 11)
    cal.load(schedule_2027(workdays=[], holidays=[date(2027, 10, 1)], source="corrected"))
    assert cal.add_working_days(date(2027, 9, 30), 3) == date(2027, 10, 6)
    assert cal.schedule(2027) is not None and cal.schedule(2027).source == "corrected"


def test_a_loaded_schedule_wins_over_chinese_calendar(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2026, 10, 10))
    cal.load(YearSchedule(year=2026, holidays=[date(2026, 10, 1)], workdays=[], source="correction"))
    assert not cal.is_working_day(date(2026, 10, 10))
    assert cal.is_working_day(date(2026, 10, 2))
    assert cal.year_kind(2026) == "loaded"


def test_schedules_can_be_given_to_the_constructor() -> None:
    cal = WorkingCalendar([schedule_2027()])
    assert not cal.is_provisional(date(2027, 1, 1))


def test_a_deadline_is_provisional_only_if_it_reaches_a_provisional_year(cal: WorkingCalendar) -> None:
    inside_2026 = cal.compute_due(at("2026-12-25 09:00"), 3, "working")
    assert inside_2026.due_date == date(2026, 12, 30)
    assert not inside_2026.provisional
    into_2027 = cal.compute_due(at("2026-12-29 09:00"), 3, "working")
    assert into_2027.due_date == date(2027, 1, 4)  # 30, 31 Dec, then 1 Jan 2027 is New Year's Day
    assert into_2027.provisional
    # Calendar days do not depend on the calendar: never provisional.
    assert not cal.compute_due(at("2027-09-30 10:00"), 3, "calendar").provisional


def test_the_example_file_is_a_valid_schedule() -> None:
    schedule = YearSchedule.model_validate_json(EXAMPLE_2027.read_text(encoding="utf-8"))
    assert schedule.year == 2027
    assert "NOT OFFICIAL" in schedule.source
    cal = WorkingCalendar([schedule])
    assert cal.add_working_days(date(2027, 9, 30), 3) == date(2027, 10, 11)


# --- schedule validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"holidays": [date(2026, 12, 31)]}, "holidays: 2026-12-31 not in 2027"),
        ({"workdays": [date(2028, 1, 1)]}, "workdays: 2028-01-01 not in 2027"),
        ({"workdays": [date(2027, 10, 2)]}, "2027-10-02 both a holiday and a make-up working day"),
        ({"holidays": [date(2027, 10, 1), date(2027, 10, 1)]}, "holidays: 2027-10-01 listed twice"),
        ({"workdays": [date(2027, 10, 8)]}, "workdays: 2027-10-08 not a Saturday or Sunday"),
        ({"source": ""}, "at least 1 character"),
        ({"comment": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_an_inconsistent_schedule_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        schedule_2027(**changes)


def test_a_schedule_file_with_a_bad_date_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"holidays\.0"):
        YearSchedule.model_validate_json('{"year": 2027, "holidays": ["2027-02-30"], "source": "x"}')


# --- deadlines -------------------------------------------------------------------------------------------


def test_a_due_time_is_the_end_of_the_last_working_day(cal: WorkingCalendar) -> None:
    # Reply within 3 working days: policy §五(一). Reported Friday 25 September 2020, before the 2020
    # National Day / Mid-Autumn holiday (1–8 October off, Sunday 27 September and Saturday 10 October worked).
    due = cal.compute_due(at("2020-09-25 16:30"), 3, "working")
    assert due == Due(
        due_at=at("2020-09-30 00:00"), due_date=date(2020, 9, 29), provisional=False, paused=False
    )
    assert due.due_at == datetime(2020, 9, 29, 16, 0, tzinfo=UTC)
    five = cal.compute_due(at("2020-09-25 16:30"), 5, "working")
    assert five.due_date == date(2020, 10, 9)


def test_the_start_day_is_taken_in_beijing_time(cal: WorkingCalendar) -> None:
    # 17:00 UTC on the 24th is 01:00 on the 25th in Beijing.
    assert cal.compute_due(datetime(2020, 9, 24, 17, 0, tzinfo=UTC), 3, "working").due_date == date(
        2020, 9, 29
    )
    assert cal.compute_due(datetime(2020, 9, 24, 15, 59, tzinfo=UTC), 3, "working").due_date == date(
        2020, 9, 28
    )


def test_a_zero_budget_ends_with_the_start_day(cal: WorkingCalendar) -> None:
    due = cal.compute_due(at("2020-10-03 10:00"), 0, "working", [Pause(at("2020-10-03 11:00"), None)])
    assert due == Due(
        due_at=at("2020-10-04 00:00"), due_date=date(2020, 10, 3), provisional=False, paused=False
    )


def test_a_pause_across_the_national_day_holiday(cal: WorkingCalendar) -> None:
    start = at("2020-09-25 16:30")
    # Waiting for a supplement from Tuesday 29 September to Monday 12 October: 27, 28, 29 September count,
    # nothing up to and including the 12th (the make-up Saturday 10 October is inside the pause), then 13, 14.
    pause = Pause(at("2020-09-29 15:00"), at("2020-10-12 09:00"))
    due = cal.compute_due(start, 5, "working", [pause])
    assert due == Due(
        due_at=at("2020-10-15 00:00"), due_date=date(2020, 10, 14), provisional=False, paused=False
    )
    # Supplement back on Friday 9 October: counting resumes with the make-up Saturday 10 October.
    back_on_9th = Pause(at("2020-09-29 15:00"), at("2020-10-09 17:00"))
    assert cal.compute_due(start, 5, "working", [back_on_9th]).due_date == date(2020, 10, 12)


def test_an_open_pause_holds_the_clock(cal: WorkingCalendar) -> None:
    start = at("2020-09-25 16:30")
    waiting = Pause(at("2020-09-29 15:00"), None)
    assert cal.compute_due(start, 5, "working", [waiting]) == Due(
        due_at=None, due_date=None, provisional=False, paused=True
    )
    assert cal.elapsed(start, at("2020-11-30 12:00"), "working", [waiting]) == 3


def test_a_pause_from_the_due_day_on_does_not_move_the_deadline(cal: WorkingCalendar) -> None:
    start = at("2020-09-25 16:30")
    late = Pause(at("2020-10-09 10:00"), None)  # opened on the due day: the budget was spent
    assert cal.compute_due(start, 5, "working", [late]) == Due(
        due_at=at("2020-10-10 00:00"), due_date=date(2020, 10, 9), provisional=False, paused=False
    )
    same_day = Pause(at("2020-09-28 09:00"), at("2020-09-28 17:00"))  # begun and ended within one day
    assert cal.compute_due(start, 5, "working", [same_day]).due_date == date(2020, 10, 9)


def test_pauses_that_overlap_or_begin_before_the_start(cal: WorkingCalendar) -> None:
    start = at("2020-09-25 16:30")
    pauses = [
        Pause(at("2020-10-12 10:00"), at("2020-10-14 10:00")),
        Pause(at("2020-09-20 10:00"), at("2020-09-28 10:00")),  # began before the clock: 26–28 Sep off
        Pause(at("2020-10-13 10:00"), at("2020-10-15 10:00")),  # overlaps the first: 13–15 Oct off
    ]
    # Counted: 29, 30 Sep, 9, 10 (Sat, make-up), 12 Oct, then 16 Oct.
    due = cal.compute_due(start, 6, "working", pauses)
    assert due.due_date == date(2020, 10, 16)
    assert cal.elapsed(start, at("2020-10-16 09:00"), "working", pauses) == 6


def test_calendar_day_budgets(cal: WorkingCalendar) -> None:
    start = at("2020-09-25 16:30")
    assert cal.compute_due(start, 15, "calendar") == Due(
        due_at=at("2020-10-11 00:00"), due_date=date(2020, 10, 10), provisional=False, paused=False
    )
    # A pause from 1 to 5 October holds 2–5 October: four days later.
    pause = Pause(at("2020-10-01 10:00"), at("2020-10-05 10:00"))
    assert cal.compute_due(start, 15, "calendar", [pause]).due_date == date(2020, 10, 14)
    assert cal.elapsed(start, at("2020-10-06 08:00"), "calendar", [pause]) == 7
    # Civil Code §203 ¶1, on request: a last day on a rest day moves to the next working day.
    assert cal.compute_due(start, 7, "calendar").due_date == date(2020, 10, 2)
    rolled = cal.compute_due(start, 7, "calendar", extend_past_rest_day=True)
    assert rolled.due_date == date(2020, 10, 9)
    assert rolled.due_at == at("2020-10-10 00:00")
    assert cal.compute_due(at("2027-09-28 09:00"), 3, "calendar", extend_past_rest_day=True).provisional


def test_elapsed_counts_today_once_it_has_begun(cal: WorkingCalendar) -> None:
    start = at("2020-09-25 16:30")
    due = cal.compute_due(start, 3, "working")
    assert due.due_date == date(2020, 9, 29)
    assert cal.elapsed(start, at("2020-09-24 12:00"), "working") == 0  # before the start
    assert cal.elapsed(start, at("2020-09-25 23:59"), "working") == 0  # the start day is not counted
    assert cal.elapsed(start, at("2020-09-26 12:00"), "working") == 0  # Saturday off
    assert cal.elapsed(start, at("2020-09-27 00:00"), "working") == 1  # make-up Sunday
    assert (
        cal.elapsed(start, at("2020-09-29 23:59"), "working") == 3
    )  # the due day: budget used, not breached
    assert cal.elapsed(start, at("2020-10-05 12:00"), "working") == 4
    assert cal.elapsed(start, at("2020-09-29 12:00"), "calendar") == 4


def test_end_of_day_is_the_next_midnight_in_beijing() -> None:
    assert end_of_day(date(2020, 12, 31)) == datetime(2021, 1, 1, tzinfo=TZ)
    assert end_of_day(date(2020, 12, 31)).utcoffset() == timedelta(hours=8)


def test_bad_arguments_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.compute_due(datetime(2020, 9, 25, 10, 0), 3, "working")  # noqa: DTZ001
    with pytest.raises(ValueError, match="budget must be >= 0"):
        cal.compute_due(at("2020-09-25 10:00"), -1, "working")
    with pytest.raises(ValueError, match="before it starts"):
        Pause(at("2020-09-25 10:00"), at("2020-09-24 10:00"))
    with pytest.raises(ValueError, match="timezone-aware"):
        Pause(datetime(2020, 9, 25, 10, 0))  # noqa: DTZ001


# --- cadence days ----------------------------------------------------------------------------------------


def test_a_cadence_day_off_work_falls_on_the_last_working_day_before(cal: WorkingCalendar) -> None:
    # Friday bulletin on Friday 2 October 2020 (National Day holiday): out on Wednesday 30 September.
    assert cal.last_working_day_on_or_before(date(2020, 10, 2)) == date(2020, 9, 30)
    # Statistics report "by the 28th" on Sunday 28 February 2021: Friday the 26th.
    assert cal.last_working_day_on_or_before(date(2021, 2, 28)) == date(2021, 2, 26)
    # Sunday 28 June 2020 was a make-up working day (Dragon Boat Festival): it stays.
    assert cal.last_working_day_on_or_before(date(2020, 6, 28)) == date(2020, 6, 28)
    assert cal.cadence_day(date(2020, 10, 2)) == date(2020, 9, 30)
    assert cal.cadence_day(date(2020, 10, 2), "next") == date(2020, 10, 9)
    assert cal.cadence_day(date(2020, 10, 2), "none") == date(2020, 10, 2)
    assert cal.first_working_day_on_or_after(date(2020, 10, 9)) == date(2020, 10, 9)


# --- speed -----------------------------------------------------------------------------------------------


def test_deadline_arithmetic_is_fast_once_a_year_is_built(cal: WorkingCalendar) -> None:
    cal.working_days_between(date(2004, 1, 1), date(2027, 12, 31))  # build every year once
    starts = [at("2004-01-01 09:00") + timedelta(days=i, hours=i % 24) for i in range(0, 8766, 3)]
    began = time.perf_counter()
    for start in starts:
        cal.compute_due(start, 5, "working", [Pause(start + timedelta(days=2), start + timedelta(days=9))])
    per_call = (time.perf_counter() - began) / len(starts)
    # About 30 µs here. The bound is loose for slow CI machines; what it catches is a year rebuilt per call
    # (milliseconds), not a few microseconds.
    assert per_call < 250e-6
