"""Evaluation periods (考核周期) and when they close.

Responsible units and streets, offices and departments are assessed monthly (月考核), line leaders
quarterly (季考评, §六(二)). A period closes at the end of its last working day plus the rules' grace in
working days (late reports: the statistics bureau reports by the 28th, a unit records an achievement the
next morning), on the official working calendar (holidays and 调休 make-up days): May 2020 ends on Sunday
the 31st, its last working day is Friday the 29th, and with 2 days of grace the period closes at the end of
Tuesday 2 June (2020-06-03 00:00+08:00).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lkg.common.calendar import WorkingCalendar, end_of_day
from lkg.common.events.contracts import Period, PeriodKind

#: Period ids are derived from kind and start, so a rebuilt database and the published events agree.
_NAMESPACE = uuid.UUID("6b1c8f52-4c2a-5d0e-9a71-3f0d2e5c8a10")

EVALUATED_KINDS = (PeriodKind.MONTH, PeriodKind.QUARTER)


@dataclass(frozen=True)
class Span:
    kind: PeriodKind
    start: date
    end: date

    @property
    def id(self) -> uuid.UUID:
        return period_id(self.kind, self.start)

    @property
    def contract(self) -> Period:
        return Period(kind=self.kind, start=self.start, end=self.end)

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.QUARTER:
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{self.start.year}年{self.start.month}月"

    def closes_at(self, calendar: WorkingCalendar, grace_working_days: int) -> datetime:
        last = calendar.last_working_day_on_or_before(self.end)
        return end_of_day(calendar.add_working_days(last, grace_working_days))

    def following(self) -> Span:
        return span_containing(self.kind, self.end + timedelta(days=1))


def period_id(kind: PeriodKind | str, start: date) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{kind}:{start.isoformat()}")


def span_containing(kind: PeriodKind, day: date) -> Span:
    if kind is PeriodKind.MONTH:
        start = day.replace(day=1)
    elif kind is PeriodKind.QUARTER:
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    else:
        raise ValueError(f"not an evaluation period: {kind}")
    months = 1 if kind is PeriodKind.MONTH else 3
    year, month = divmod(start.month - 1 + months, 12)
    end = date(start.year + year, month + 1, 1) - timedelta(days=1)
    return Span(kind, start, end)


def parse_label(kind: PeriodKind, text: str) -> Span:
    """``2020-05`` (a month) or ``2020-Q2`` (a quarter)."""
    if kind is PeriodKind.QUARTER:
        year, _, q = text.partition("-Q")
        return span_containing(kind, date(int(year), (int(q) - 1) * 3 + 1, 1))
    year, _, month = text.partition("-")
    return span_containing(kind, date(int(year), int(month), 1))
