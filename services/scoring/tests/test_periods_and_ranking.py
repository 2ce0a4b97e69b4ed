"""Period arithmetic on the official working calendar and the bottom of the monthly ranking (§六(三)),
without a database."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.common.events.contracts import EvaluationSubject, Grade, PeriodKind
from lkg.scoring.periods import parse_label, span_containing
from lkg.scoring.ranking import bottom, rank_units
from lkg.scoring.rules import Consequences
from lkg.scoring.sheets import Sheet

CAL = WorkingCalendar()


@pytest.mark.parametrize(
    ("kind", "day", "closes"),
    [
        # May 2020 ends on a Sunday: last working day Fri 29th, +2 working days = Tue 2 June.
        (PeriodKind.MONTH, date(2020, 5, 12), datetime(2020, 6, 3, tzinfo=TZ)),
        # September 2020 ends on Wed 30th; 1-8 October is the National Day holiday: +2 working days are
        # Fri 9 October and the make-up Saturday 10 October (调休).
        (PeriodKind.MONTH, date(2020, 9, 1), datetime(2020, 10, 11, tzinfo=TZ)),
        # Q2 2020 ends on Tue 30 June: +2 working days = Thu 2 July.
        (PeriodKind.QUARTER, date(2020, 5, 1), datetime(2020, 7, 3, tzinfo=TZ)),
    ],
)
def test_a_period_closes_after_its_last_working_day_and_the_grace(kind, day, closes):
    assert span_containing(kind, day).closes_at(CAL, 2) == closes


def test_labels_and_spans():
    q = parse_label(PeriodKind.QUARTER, "2020-Q4")
    assert (q.start, q.end, q.label) == (date(2020, 10, 1), date(2020, 12, 31), "2020年第4季度")
    m = parse_label(PeriodKind.MONTH, "2020-02")
    assert (m.start, m.end, m.following().start) == (date(2020, 2, 1), date(2020, 2, 29), date(2020, 3, 1))


def _sheet(score: str, grade: Grade, kind=EvaluationSubject.RESPONSIBLE_UNIT, label: str = "") -> Sheet:
    unit = uuid.uuid4()
    return Sheet(kind, unit, label or str(unit), Decimal(score), grade, {}, [])


def test_a_unit_with_two_sheets_takes_the_lower_grade_and_the_mean_score():
    unit = uuid.uuid4()
    ru = Sheet(EvaluationSubject.RESPONSIBLE_UNIT, unit, "长青街", Decimal("110"), Grade.EXCELLENT, {}, [])
    hu = Sheet(EvaluationSubject.HOST_UNIT, unit, "长青街", Decimal("75"), Grade.FAIL, {}, [])
    (entry,) = rank_units([ru, hu])
    assert (entry.rank, entry.score, entry.grade) == (1, Decimal("92.50"), Grade.FAIL)


def test_units_on_plan_are_not_carded_by_default():
    entries = rank_units([_sheet("100", Grade.PASS), _sheet("100", Grade.PASS), _sheet("0", Grade.FAIL)])
    out = bottom(entries, Consequences(), None)
    assert (len(out.carded), out.tie_candidates) == (1, [])
    everyone = bottom(entries, Consequences(cards_need_fail_grade=False), None)
    assert len(everyone.carded) == 3


def test_a_tie_across_third_place_is_left_to_the_office():
    sheets = [
        _sheet("0", Grade.FAIL),
        _sheet("50", Grade.FAIL),
        _sheet("75", Grade.FAIL),
        _sheet("75", Grade.FAIL),
    ]
    entries = rank_units(sheets)
    out = bottom(entries, Consequences(), None)
    tied = sorted((sheets[2].subject_id, sheets[3].subject_id), key=str)
    assert (set(out.carded), out.tie_candidates, out.tie_places, out.tie_decided) == (
        {sheets[0].subject_id, sheets[1].subject_id},
        tied,
        1,
        False,
    )
    decided = bottom(entries, Consequences(), {"carded": [str(tied[1])]})
    assert set(decided.carded) == {sheets[0].subject_id, sheets[1].subject_id, tied[1]}
