"""lkg.approvals.clocks: an item's clock in working or calendar days, its warning, its pauses (补正) across
a public holiday, what a person reads of it, and the days over once it stalls. Pure: no database (the ORM
row is built in memory), on China's official 2020 calendar (National Day and Mid-Autumn 1–8 October off,
Sunday 27 September and Saturday 10 October worked)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from lkg.approvals.clocks import days_over, last_day, refresh, view
from lkg.approvals.models import ApprovalClock
from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ

CAL = WorkingCalendar()
SHARE = 0.8


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def clock(
    started: str, budget: int, unit: str = "working", pauses: list[tuple[str, str | None]] = ()
) -> ApprovalClock:
    made = ApprovalClock(
        id=uuid.uuid4(),
        item_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        kind="limit",
        started_at=at(started),
        budget=budget,
        unit=unit,
        pauses=[
            {"started_at": at(s).isoformat(), "ended_at": at(e).isoformat() if e else None} for s, e in pauses
        ],
        state="running",
        provisional=False,
        warned_at=None,
    )
    refresh(made, CAL, SHARE)
    return made


def test_working_days_skip_the_holiday_and_count_the_make_up_days():
    # 5 working days from Friday 09-25: Sunday 09-27 (make-up), 28, 29, 30 Sep, then 9 Oct.
    c = clock("2020-09-25 16:30", 5)
    assert (last_day(c.due_at), c.due_at, c.provisional) == (
        date(2020, 10, 9),
        at("2020-10-10 00:00"),
        False,
    )
    # The warning at 80% of the budget (4 working days: 09-30), then the scan looks at the due time.
    assert c.warn_at == at("2020-10-01 00:00")
    assert c.next_at == c.warn_at


def test_calendar_days_count_every_day_and_a_last_day_on_a_rest_day_moves_to_the_next_working_day():
    # 环评 (环境影响评价法 §22): 30 calendar days from 09-10 end on Saturday 10-10 — a make-up working day, so
    # it stays; from 09-08 they would end on Thursday 10-08, a holiday, so they end on Friday 10-09 (Civil
    # Code §203: the first day after the rest days).
    assert clock("2020-09-10 10:00", 30, "calendar").due_at == at("2020-10-11 00:00")
    assert clock("2020-09-08 10:00", 30, "calendar").due_at == at("2020-10-10 00:00")
    # The same 30 in working days skip the holiday week: last day Monday 10-26.
    assert clock("2020-09-08 10:00", 30, "working").due_at == at("2020-10-27 00:00")
    # Whether the last day is a rest day depends on the holiday calendar, so in a provisional year calendar
    # days are provisional too.
    assert clock("2027-09-28 10:00", 30, "calendar").provisional is True
    assert clock("2027-09-28 10:00", 3, "working").provisional is True


def test_a_supplement_pauses_the_clock_across_the_holiday():
    # Paused 09-29 (that day counts) until the supplement on 10-09: 27, 28, 29 Sep counted, then Saturday
    # 10-10 (make-up) and Monday 10-12.
    c = clock("2020-09-25 16:30", 5, pauses=[("2020-09-29 11:00", "2020-10-09 15:00")])
    assert c.due_at == at("2020-10-13 00:00")
    # Still waiting for the supplement: no due time, nothing for the scan.
    waiting = clock("2020-09-25 16:30", 5, pauses=[("2020-09-29 11:00", None)])
    assert (waiting.due_at, waiting.warn_at, waiting.next_at) == (None, None, None)
    shown = view(waiting, CAL, at("2020-10-06 09:00"))
    assert (shown.used, shown.left, shown.paused, shown.overdue) == (3, 2, True, False)


def test_what_a_person_reads_of_a_running_clock():
    c = clock("2020-09-25 16:30", 5)
    on_the_30th = view(c, CAL, at("2020-09-30 09:00"))
    assert (on_the_30th.used, on_the_30th.left, on_the_30th.overdue) == (4, 1, False)
    # On the due day all 5 are used and it is not yet overdue; at its end it is.
    due_day = view(c, CAL, at("2020-10-09 23:59"))
    assert (due_day.used, due_day.left, due_day.overdue) == (5, 0, False)
    assert view(c, CAL, at("2020-10-10 00:00")).overdue is True


def test_days_over_count_in_the_clocks_own_unit():
    working = clock("2020-09-25 16:30", 5)  # last day Friday 10-09
    assert days_over(CAL, working, at("2020-10-09 20:00")) == 0
    assert days_over(CAL, working, at("2020-10-10 09:00")) == 1  # Saturday 10-10 is a make-up working day
    assert days_over(CAL, working, at("2020-10-12 09:00")) == 2  # Sunday 10-11 is not counted
    calendar = clock("2020-09-10 10:00", 30, "calendar")  # last day Saturday 10-10
    assert days_over(CAL, calendar, at("2020-10-12 09:00")) == 2


def test_a_warning_already_given_is_not_given_again():
    c = clock("2020-09-25 16:30", 5)
    c.warned_at = c.warn_at
    refresh(c, CAL, SHARE)
    assert c.next_at == c.due_at
    c.state = "met"
    refresh(c, CAL, SHARE)
    assert c.next_at is None
