"""China's working-day calendar and deadline arithmetic (docs/calendar.md).

Every clock on the platform (3 working days to answer, a report every 5 working days: policy §五(一)) counts
days on China's official calendar: public holidays *and* make-up working days (调休), not Monday–Friday.
The calendar of a year comes from the first of these that knows it:

1. a :class:`YearSchedule` loaded as data (``lkg calendar load FILE``) when the State Council publishes a
   year, or to correct one;
2. the ``chinese_calendar`` package, for the years it ships (2004–2026 in 1.11; detected, not assumed);
3. a **provisional** calendar: weekends plus the public holidays of the ``holidays`` package. It has no
   make-up working days for years not yet announced, so anything computed on it is flagged provisional and
   recomputed once the official year is loaded.

Counting follows the Civil Code: the start day is not counted (§201) and a period ends at 24:00 of its last
day (§203), represented here as the next day's 00:00 in Asia/Shanghai, an exclusive end.

The module is pure: no I/O and no clock reads; times come in as arguments. Each year is turned once into a
sorted list of working-day ordinals, so counting and adding working days is a bisection, not a day loop.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Literal, Self
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays as holidays_package
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TZ",
    "CadenceShift",
    "Due",
    "Pause",
    "Unit",
    "WorkingCalendar",
    "YearKind",
    "YearSchedule",
    "chinese_calendar_years",
    "end_of_day",
    "local_date",
]

#: Whether a budget counts working days or calendar days (some statutes count calendar days).
Unit = Literal["working", "calendar"]

#: Where a year's calendar comes from.
YearKind = Literal["loaded", "chinese_calendar", "provisional"]

#: What happens to a cadence day (Friday bulletin, report "by the 28th") that is not a working day.
CadenceShift = Literal["previous", "next", "none"]

#: Every day boundary on the platform is a day in Beijing time (docs/calendar.md).
TZ = ZoneInfo("Asia/Shanghai")

# A year chinese_calendar has always covered; the covered range is probed outwards from it.
_CHINESE_CALENDAR_SEED_YEAR = 2020
# Stops the probe should the package ever stop raising for unknown years.
_PROBE_LIMIT = 200

_SATURDAY = 5


class YearSchedule(BaseModel):
    """One year's official arrangement of holidays (放假安排), as published by the State Council.

    This is the file format of ``lkg calendar load FILE`` (JSON, ``YearSchedule.model_validate_json``).
    ``holidays`` lists every official day off, weekend days inside a holiday block included (listing them is
    harmless and makes the file read like the notice). ``workdays`` lists the make-up working days (调休上班),
    which are weekend days. Every other Monday–Friday is a working day, every other weekend day is not.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=1949, le=9998)
    holidays: list[date]
    workdays: list[date] = Field(default_factory=list)
    #: Where the dates come from: the notice's number and/or URL (e.g. 国办发明电〔2025〕N号).
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        for field, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            outside = sorted({d for d in days if d.year != self.year})
            if outside:
                problems.append(f"{field}: {_dates(outside)} not in {self.year}")
            duplicated = sorted({d for d in days if days.count(d) > 1})
            if duplicated:
                problems.append(f"{field}: {_dates(duplicated)} listed twice")
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            problems.append(f"{_dates(both)} both a holiday and a make-up working day")
        # A weekday is a working day already; a make-up day on one is a typo in the file.
        weekdays = sorted(d for d in self.workdays if d.weekday() < _SATURDAY)
        if weekdays:
            problems.append(f"workdays: {_dates(weekdays)} not a Saturday or Sunday")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _dates(days: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in days)


@dataclass(frozen=True, slots=True)
class Pause:
    """A stretch during which a clock stands still: an approved suspension, or an approval waiting for the
    applicant's supplement (补正). ``ended_at`` is None while the pause is still open."""

    started_at: datetime
    ended_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.started_at, "Pause.started_at")
        if self.ended_at is not None:
            _require_aware(self.ended_at, "Pause.ended_at")
            if self.ended_at < self.started_at:
                raise ValueError(f"pause ends ({self.ended_at}) before it starts ({self.started_at})")


@dataclass(frozen=True, slots=True)
class Due:
    """The result of :meth:`WorkingCalendar.compute_due`.

    ``due_date`` is the last day of the budget; ``due_at`` is the end of that day (the next day's 00:00 in
    Asia/Shanghai): the deadline is breached when ``now >= due_at``. Both are None while an open pause holds
    the clock (``paused``). ``provisional`` says that some day examined lies in a year on the provisional
    calendar, so the result must be recomputed when that year's official schedule is loaded.
    """

    due_at: datetime | None
    due_date: date | None
    provisional: bool
    paused: bool


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")


def local_date(moment: datetime) -> date:
    """The calendar day of an aware instant in Asia/Shanghai."""
    _require_aware(moment, "moment")
    return moment.astimezone(TZ).date()


def end_of_day(day: date) -> datetime:
    """The exclusive end of ``day`` in Asia/Shanghai: the next day's 00:00+08:00 (Civil Code §203: 24:00)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=TZ)


@cache
def chinese_calendar_years() -> frozenset[int]:
    """The years the installed ``chinese_calendar`` knows (2004–2026 for 1.11).

    Probed through its public API, outwards from a year it has always covered, so upgrading the package to
    one that knows 2027 makes 2027 official without a code change.
    """

    def known(year: int) -> bool:
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    if not known(_CHINESE_CALENDAR_SEED_YEAR):
        return frozenset()
    first = last = _CHINESE_CALENDAR_SEED_YEAR
    while first > _CHINESE_CALENDAR_SEED_YEAR - _PROBE_LIMIT and known(first - 1):
        first -= 1
    while last < _CHINESE_CALENDAR_SEED_YEAR + _PROBE_LIMIT and known(last + 1):
        last += 1
    return frozenset(range(first, last + 1))


@dataclass(frozen=True, slots=True)
class _Year:
    """One year made ready for bisection: a working flag per day and the sorted working-day ordinals."""

    year: int
    kind: YearKind
    first: int  # ordinal of 1 January
    flags: bytes  # flags[ordinal - first] == 1 on a working day
    ordinals: list[int]  # sorted ordinals of the working days

    @property
    def provisional(self) -> bool:
        return self.kind == "provisional"

    def through(self, ordinal: int) -> int:
        """Working days of this year on or before ``ordinal``."""
        return bisect_right(self.ordinals, ordinal)

    def before(self, ordinal: int) -> int:
        """Working days of this year strictly before ``ordinal``."""
        return bisect_left(self.ordinals, ordinal)


def _days_of(year: int) -> list[date]:
    start = date(year, 1, 1)
    return [start + timedelta(days=i) for i in range((date(year + 1, 1, 1) - start).days)]


def _build_year(year: int, kind: YearKind, schedule: YearSchedule | None) -> _Year:
    days = _days_of(year)
    if kind == "loaded":
        assert schedule is not None
        off, on = set(schedule.holidays), set(schedule.workdays)
        flags = [d in on or (d.weekday() < _SATURDAY and d not in off) for d in days]
    elif kind == "chinese_calendar":
        flags = [chinese_calendar.is_workday(d) for d in days]
    else:
        # Rule-based public holidays ("observed" days included); make-up working days only where the
        # package happens to know them, which for unannounced years is never.
        china = holidays_package.country_holidays("CN", years=year)
        make_up = {d for d in getattr(china, "weekend_workdays", ()) if d.year == year}
        flags = [d in make_up or (d.weekday() < _SATURDAY and d not in china) for d in days]
    first = days[0].toordinal()
    return _Year(
        year=year,
        kind=kind,
        first=first,
        flags=bytes(flags),
        ordinals=[first + i for i, working in enumerate(flags) if working],
    )


# Exclusion intervals are half-open on the left, (lo, hi], as ordinals; an open pause never ends.
_FOREVER = date.max.toordinal()


class WorkingCalendar:
    """Which days are working days, and deadline arithmetic on them.

    One instance per process is enough; :meth:`load` may be called at any time (the official schedule
    arrives through the NATS key-value bucket) and takes effect for every later call. Reads are lock-free;
    loading and filling the per-year cache take a lock.
    """

    def __init__(self, schedules: Iterable[YearSchedule] = ()) -> None:
        self._lock = threading.Lock()
        self._schedules: dict[int, YearSchedule] = {}
        self._years: dict[int, _Year] = {}
        for schedule in schedules:
            self.load(schedule)

    # --- sources -------------------------------------------------------------------------------------

    def load(self, schedule: YearSchedule) -> None:
        """Install (or replace) the official schedule of ``schedule.year``; it wins over chinese_calendar."""
        with self._lock:
            self._schedules[schedule.year] = schedule
            self._years.pop(schedule.year, None)

    def schedule(self, year: int) -> YearSchedule | None:
        """The loaded schedule of ``year``, if any."""
        return self._schedules.get(year)

    def year_kind(self, year: int) -> YearKind:
        """Where ``year``'s calendar comes from."""
        if year in self._schedules:
            return "loaded"
        if year in chinese_calendar_years():
            return "chinese_calendar"
        return "provisional"

    def official_years(self) -> set[int]:
        """Years on an official calendar: those chinese_calendar knows and those loaded."""
        return set(chinese_calendar_years()) | set(self._schedules)

    def is_provisional(self, day: date) -> bool:
        """Whether ``day`` lies in a year with no official calendar (neither chinese_calendar nor loaded)."""
        return self.year_kind(day.year) == "provisional"

    def provisional_years(self, years: Iterable[int]) -> set[int]:
        """Those of ``years`` still on the provisional calendar (readiness warns about them)."""
        return {year for year in years if self.year_kind(year) == "provisional"}

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._years.get(year)
            if cached is None:
                kind = self.year_kind(year)
                cached = self._years[year] = _build_year(year, kind, self._schedules.get(year))
            return cached

    # --- days ----------------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        entry = self._year(day.year)
        return entry.flags[day.toordinal() - entry.first] == 1

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (Civil Code §201: ``start`` itself is not counted).

        ``n == 0`` returns ``start`` unchanged, working day or not; a negative ``n`` counts backwards (the
        ``-n``-th working day before ``start``).
        """
        return date.fromordinal(self._add_working(start.toordinal(), n))

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative (minus those in (b, a]) when ``b < a``.

        The inverse of :meth:`add_working_days`: ``working_days_between(d, add_working_days(d, n)) == n``.
        """
        if b < a:
            return -self._count_working(b.toordinal(), a.toordinal())
        return self._count_working(a.toordinal(), b.toordinal())

    def last_working_day_on_or_before(self, day: date) -> date:
        """``day`` if it is a working day, else the last working day before it (docs/calendar.md)."""
        return day if self.is_working_day(day) else self.add_working_days(day, -1)

    def first_working_day_on_or_after(self, day: date) -> date:
        """``day`` if it is a working day, else the first working day after it."""
        return day if self.is_working_day(day) else self.add_working_days(day, 1)

    def cadence_day(self, day: date, shift: CadenceShift = "previous") -> date:
        """The day a cadence event planned for ``day`` (Friday bulletin, report by the 28th) falls on.

        By default a non-working day moves to the last working day before it, so a bulletin due on a
        holiday Friday comes out before the holiday (docs/calendar.md); ``"next"`` moves it after, ``"none"``
        keeps it. Which one applies is configuration of the caller.
        """
        if shift == "previous":
            return self.last_working_day_on_or_before(day)
        if shift == "next":
            return self.first_working_day_on_or_after(day)
        return day

    def _count_working(self, a: int, b: int) -> int:
        """Working days with ordinal in (a, b], for a <= b."""
        if b <= a:
            return 0
        year_a, year_b = date.fromordinal(a).year, date.fromordinal(b).year
        if year_a == year_b:
            entry = self._year(year_a)
            return entry.through(b) - entry.through(a)
        first = self._year(year_a)
        total = len(first.ordinals) - first.through(a)
        for year in range(year_a + 1, year_b):
            total += len(self._year(year).ordinals)
        return total + self._year(year_b).through(b)

    def _add_working(self, start: int, n: int) -> int:
        year = date.fromordinal(start).year
        if n > 0:
            entry = self._year(year)
            index = entry.through(start) + n - 1  # index of the answer within this year's working days
            while index >= len(entry.ordinals):
                index -= len(entry.ordinals)
                year += 1
                entry = self._year(year)
            return entry.ordinals[index]
        if n < 0:
            entry = self._year(year)
            index = entry.before(start) + n  # n < 0: that many working days back
            while index < 0:
                year -= 1
                entry = self._year(year)
                index += len(entry.ordinals)
            return entry.ordinals[index]
        return start

    def _years_between(self, a: int, b: int) -> range:
        """The years of the days in (a, b]."""
        return range(date.fromordinal(a + 1).year, date.fromordinal(b).year + 1)

    # --- deadlines -----------------------------------------------------------------------------------

    def compute_due(
        self,
        start: datetime,
        budget: int,
        unit: Unit,
        pauses: Sequence[Pause] = (),
        *,
        extend_past_rest_day: bool = False,
    ) -> Due:
        """When a clock of ``budget`` working (or calendar) days started at ``start`` runs out.

        The start day is not counted (Civil Code §201); the due time is the end of the ``budget``-th counted
        day after it (§203), i.e. the next day's 00:00 Asia/Shanghai. A pause stops the clock: the days after
        the day it started, up to and including the day it ended, are not counted (counting resumes the day
        after the applicant's supplement arrives). While a pause is open the due time is unknown
        (``paused=True``), unless the budget ran out on or before the day the pause began.

        ``extend_past_rest_day`` (calendar budgets only) applies Civil Code §203 ¶1: a period whose last day
        is a rest day ends on the first working day after it.
        """
        if budget < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        working = unit == "working"
        cursor = local_date(start).toordinal()
        remaining = budget
        examined: list[tuple[int, int]] = []  # (a, b]: stretches whose days were looked at
        for lo, hi in self._exclusions(cursor, pauses):
            if remaining == 0:
                break  # a zero budget ends with the start day, whatever pauses follow
            if lo > cursor:
                available = self._count_working(cursor, lo) if working else lo - cursor
                if available >= remaining:
                    break
                remaining -= available
                examined.append((cursor, lo))
            if hi == _FOREVER:
                return Due(
                    due_at=None, due_date=None, provisional=self._on_provisional(examined), paused=True
                )
            cursor = max(cursor, hi)
        due = self._add_working(cursor, remaining) if working else cursor + remaining
        examined.append((cursor, due))
        if extend_past_rest_day and not working:
            due_day = date.fromordinal(due)
            rolled = self.first_working_day_on_or_after(due_day).toordinal()
            examined.append((due - 1, rolled))  # the last day's calendar decides whether it rolls
            due = rolled
        due_date = date.fromordinal(due)
        provisional = self._on_provisional(examined) if working or extend_past_rest_day else False
        return Due(due_at=end_of_day(due_date), due_date=due_date, provisional=provisional, paused=False)

    def elapsed(self, start: datetime, now: datetime, unit: Unit, pauses: Sequence[Pause] = ()) -> int:
        """Days of a budget used by ``now``: counted days in (start day, today], paused days left out.

        Today counts as used once it has begun (on the due day ``elapsed == budget`` and the deadline is not
        yet breached; breach is ``now >= due_at``). Never negative. ``budget - elapsed`` is the days left
        after today.
        """
        working = unit == "working"
        cursor = local_date(start).toordinal()
        today = local_date(now).toordinal()
        total = 0
        for lo, hi in self._exclusions(cursor, pauses):
            if lo >= today:
                break
            if lo > cursor:
                total += self._count_working(cursor, lo) if working else lo - cursor
            cursor = max(cursor, hi)
            if cursor >= today:
                return total
        if today > cursor:
            total += self._count_working(cursor, today) if working else today - cursor
        return total

    def _exclusions(self, start: int, pauses: Sequence[Pause]) -> list[tuple[int, int]]:
        """The pauses as merged, sorted (lo, hi] ordinal intervals that end after ``start``."""
        intervals = sorted(
            (
                local_date(p.started_at).toordinal(),
                _FOREVER if p.ended_at is None else local_date(p.ended_at).toordinal(),
            )
            for p in pauses
        )
        merged: list[tuple[int, int]] = []
        for lo, hi in intervals:
            if hi <= start or hi <= lo:
                continue  # over before the clock started, or a pause within a single day
            lo = max(lo, start)
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return merged

    def _on_provisional(self, stretches: Iterable[tuple[int, int]]) -> bool:
        # The years were built while counting, so this reads the per-year cache.
        return any(
            self._year(year).provisional for a, b in stretches if b > a for year in self._years_between(a, b)
        )
