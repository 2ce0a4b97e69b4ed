"""Reports issued on their cadence (issue 16): produced by the shared clock, numbered per kind (第N期),
stored frozen (the JSON as published; its Word and Excel files rendered from it at their first download and
kept) and announced with ``report.published`` with their audience.

* ``daily_dispatch`` 日调度, a working day: the dispatch board as that day began (00:00), issued then
  (:mod:`lkg.scoring.reports.daily`); told to those who see something of it, read by reach.
* ``weekly_bulletin`` 《要情专报》, Monday..Sunday: issued at the end of the week's cadence day (Friday by
  default; a cadence day that is not a working day falls on the last working day before it; a week with no
  working day up to it has none); told to every unit.
* ``closure_scorecard`` 销号成绩单, a month: issued when the month's assessment closes (its last working day
  plus the rules' grace); every unit.
* ``monthly_assessment`` 月度通报, a month: issued when 重大项目办 publishes the month; every unit.
* ``quarterly_evaluation`` 季度考评, a quarter: issued when a top leader publishes the quarter; the top
  leaders, the assessment office, 重大项目办 and each line's leader.

Bulletins the policy circulates district-wide go to every unit (a stated decision, issue 16); the quarterly
evaluation is read whole by the top leaders, the assessment office and 重大项目办, and by each line leader
for their own line only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import CadenceShift, WorkingCalendar, end_of_day
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.http.problems import NotFound, ValidationFailed
from lkg.common.orgcopy import in_force
from lkg.scoring import rules as rules_mod
from lkg.scoring import service as scoring
from lkg.scoring.access import Caller
from lkg.scoring.models import org_copy, period, report
from lkg.scoring.periods import Span, span_containing
from lkg.scoring.reports import daily, dispatch, quarterly, scorecard, weekly
from lkg.scoring.reports import documents as monthly_documents
from lkg.scoring.reports import schemas as s
from lkg.scoring.reports import service as monthly

_NAMESPACE = uuid.UUID("5d0c3b9e-2f6a-5b1d-8e47-9a3c1f2e6d58")
Kind = c.ReportKind
TITLES = {
    Kind.DAILY_DISPATCH: daily.TITLE,
    Kind.WEEKLY_BULLETIN: "要情专报",
    Kind.CLOSURE_SCORECARD: "困难问题销号成绩单",
    Kind.MONTHLY_ASSESSMENT: "重大产业项目建设月度通报",
    Kind.QUARTERLY_EVALUATION: "包保区级领导季度考评",
}
EVERY_UNIT = c.Audience(all_units=True)
#: Those who read the quarterly evaluation whole (issue 16); each line's leader is added per report.
QUARTERLY_READERS = c.Audience(
    unit_roles=(c.UnitRole.MAJOR_PROJECTS_OFFICE, c.UnitRole.ASSESSMENT_OFFICE),
    post_kinds=(c.PostKind.DISTRICT_LEADER,),
)


def report_id(kind: Kind, start: date) -> UUID:
    """Derived from kind and period, so a rebuilt database and the published events agree."""
    return uuid.uuid5(_NAMESPACE, f"{kind}:{start.isoformat()}")


@dataclass(frozen=True)
class Issue:
    kind: Kind
    period: c.Period
    label: str
    as_of: datetime
    published_at: datetime
    body: s.WeeklyBulletin | s.ClosureScorecard | s.MonthlyBulletin | s.QuarterlyEvaluation | s.DispatchBoard
    audience: c.Audience


def _render(body: Any, number: int, issued: datetime, fmt: str) -> bytes:
    """The Word (``docx``) or Excel (``xlsx``) file of a body issued as 第``number``期 at ``issued``."""
    docx = fmt == "docx"
    if isinstance(body, s.WeeklyBulletin):
        return weekly.to_docx(body, number, issued) if docx else weekly.to_xlsx(body, issued)
    if isinstance(body, s.ClosureScorecard):
        return scorecard.to_docx(body, number, issued) if docx else scorecard.to_xlsx(body, issued)
    if isinstance(body, s.QuarterlyEvaluation):
        return quarterly.to_docx(body, number, issued) if docx else quarterly.to_xlsx(body, issued)
    if isinstance(body, s.DispatchBoard):
        return daily.to_docx(body, number, issued) if docx else daily.to_xlsx(body, issued)
    bulletin = body.model_copy(update={"number": number})
    return monthly_documents.to_docx(bulletin) if docx else monthly_documents.to_xlsx(bulletin)


async def store(session: AsyncSession, issue: Issue) -> bool:
    """Number, store and announce ``issue``; False if that period's report of that kind exists. Only the
    frozen JSON is stored: its Word and Excel files are rendered from it at their first download
    (:func:`download`), so a clock jump over months of working days does not render a document per day
    inside the clock's settle."""
    rid = report_id(issue.kind, issue.period.start)
    number = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.max(report.c.number), 0) + 1).where(
                report.c.kind == str(issue.kind)
            )
        )
    ).scalar_one()
    body = issue.body
    if isinstance(body, s.MonthlyBulletin):
        body = body.model_copy(update={"number": number})
    title = f"{TITLES[issue.kind]}（{issue.label}）"
    inserted = (
        await session.execute(
            pg_insert(report)
            .values(
                id=rid,
                kind=str(issue.kind),
                period_kind=str(issue.period.kind),
                period_start=issue.period.start,
                period_end=issue.period.end,
                number=number,
                title=title,
                as_of=issue.as_of,
                published_at=issue.published_at,
                body=body.model_dump(mode="json"),
            )
            .on_conflict_do_nothing()
            .returning(report.c.id)
        )
    ).first()
    if inserted is None:
        return False
    await stage(
        session,
        c.ReportPublished(
            effective_at=issue.published_at,
            report_id=rid,
            kind=issue.kind,
            period=issue.period,
            title=title,
            path=f"/api/v1/reports/{rid}",
            audience=issue.audience,
            number=number,
        ),
    )
    return True


async def _latest_start(session: AsyncSession, kind: Kind) -> date | None:
    return (
        await session.execute(sa.select(sa.func.max(report.c.period_start)).where(report.c.kind == str(kind)))
    ).scalar()


# ---- producers: each issues the next report of its kind if its time has come ------------------------


@dataclass(frozen=True)
class Cadence:
    calendar: WorkingCalendar
    weekday: int = 4
    shift: CadenceShift = "previous"
    earliest: date | None = None


def weekly_issue_day(cadence: Cadence, monday: date) -> date | None:
    """The week's cadence day on the official calendar; None when it falls before the week began (a week
    whose days up to the cadence day are all holidays has no bulletin)."""
    day = cadence.calendar.cadence_day(monday + timedelta(days=cadence.weekday), cadence.shift)
    return day if monday <= day <= monday + timedelta(days=6) else None


async def _first_day(session: AsyncSession, cadence: Cadence) -> date | None:
    first = await scoring.first_fact_day(session)
    if first is None:
        return None
    return max(first, cadence.earliest) if cadence.earliest else first


async def next_weekly(
    session: AsyncSession, until: datetime, cadence: Cadence, *, issue: bool = True
) -> bool:
    latest = await _latest_start(session, Kind.WEEKLY_BULLETIN)
    if latest is not None:
        monday = latest + timedelta(days=7)
        first = monday
    else:
        found = await _first_day(session, cadence)
        if found is None:
            return False
        first = found
        monday = found - timedelta(days=found.weekday())
    for _ in range(53):  # skip weeks with no cadence day (or whose cadence day came before the first fact)
        day = weekly_issue_day(cadence, monday)
        if day is not None and day >= first:
            break
        monday += timedelta(days=7)
    else:
        return False
    as_of = end_of_day(day)
    if as_of > until or not issue:
        return as_of <= until
    body = await weekly.build(session, monday, as_of, cadence.calendar)
    period_ = c.Period(kind=c.PeriodKind.WEEK, start=monday, end=monday + timedelta(days=6))
    return await store(
        session,
        Issue(Kind.WEEKLY_BULLETIN, period_, weekly.week_label(monday), as_of, as_of, body, EVERY_UNIT),
    )


async def next_scorecard(
    session: AsyncSession, until: datetime, cadence: Cadence, *, issue: bool = True
) -> bool:
    latest = await _latest_start(session, Kind.CLOSURE_SCORECARD)
    if latest is not None:
        span = span_containing(c.PeriodKind.MONTH, latest).following()
    else:
        found = await _first_day(session, cadence)
        if found is None:
            return False
        span = span_containing(c.PeriodKind.MONTH, found)
    rules = await rules_mod.in_force(session, span.start)
    as_of = span.closes_at(cadence.calendar, rules.body.grace_working_days)
    if as_of > until or not issue:
        return as_of <= until
    body = await scorecard.build(session, span, as_of)
    return await store(
        session, Issue(Kind.CLOSURE_SCORECARD, span.contract, span.label, as_of, as_of, body, EVERY_UNIT)
    )


async def _unreported(session: AsyncSession, kind: c.PeriodKind, report_kind: Kind) -> Any | None:
    """The earliest published period of ``kind`` without its report."""
    reported = sa.select(report.c.period_start).where(report.c.kind == str(report_kind))
    return (
        await session.execute(
            sa.select(period)
            .where(period.c.kind == str(kind), period.c.state == "published", period.c.start.not_in(reported))
            .order_by(period.c.start)
            .limit(1)
        )
    ).first()


async def next_monthly(
    session: AsyncSession, until: datetime, cadence: Cadence, *, issue: bool = True
) -> bool:
    row = await _unreported(session, c.PeriodKind.MONTH, Kind.MONTHLY_ASSESSMENT)
    if row is None or not issue:
        return row is not None
    body = await monthly.monthly_bulletin(session, row.id)
    span = scoring.span_of(row)
    made = Issue(
        Kind.MONTHLY_ASSESSMENT, span.contract, span.label, row.as_of, row.published_at, body, EVERY_UNIT
    )
    return await store(session, made)


async def next_quarterly(
    session: AsyncSession, until: datetime, cadence: Cadence, *, issue: bool = True
) -> bool:
    row = await _unreported(session, c.PeriodKind.QUARTER, Kind.QUARTERLY_EVALUATION)
    if row is None or not issue:
        return row is not None
    body = await quarterly.build(session, row)
    span = scoring.span_of(row)
    audience = QUARTERLY_READERS.model_copy(update={"line_ids": tuple(e.line_id for e in body.entries)})
    made = Issue(
        Kind.QUARTERLY_EVALUATION, span.contract, span.label, row.as_of, row.published_at, body, audience
    )
    return await store(session, made)


async def next_daily(session: AsyncSession, until: datetime, cadence: Cadence, *, issue: bool = True) -> bool:
    latest = await _latest_start(session, Kind.DAILY_DISPATCH)
    first = None if latest is not None else await _first_day(session, cadence)
    if latest is None and first is None:
        return False
    day = daily.next_day(latest, first or date.min, cadence.calendar)
    as_of = daily.issue_moment(day)
    if as_of > until or not issue:
        return as_of <= until
    body = await daily.build(session, day, cadence.calendar)
    ln = org_copy.lines
    service_units = {
        r.id: r.service_unit_id
        for r in await session.execute(sa.select(ln.c.id, ln.c.service_unit_id).where(in_force(ln, day)))
    }
    made = Issue(
        Kind.DAILY_DISPATCH,
        daily.period_of(day),
        daily.day_label(day),
        as_of,
        as_of,
        body,
        daily.audience(body, service_units),
    )
    return await store(session, made)


class Producer(Protocol):
    """Issues the next report of its kind if its time has come (``issue=False``: only says whether it has)."""

    def __call__(
        self, session: AsyncSession, until: datetime, cadence: Cadence, *, issue: bool = True
    ) -> Awaitable[bool]: ...


PRODUCERS: tuple[Producer, ...] = (
    next_daily,
    next_weekly,
    next_scorecard,
    next_monthly,
    next_quarterly,
)


# ---- reading -----------------------------------------------------------------------------------------


def _summary(row: Any) -> s.ReportSummary:
    kind = c.PeriodKind(row.period_kind)
    if kind is c.PeriodKind.WEEK:
        label = weekly.week_label(row.period_start)
    elif kind is c.PeriodKind.DAY:
        label = daily.day_label(row.period_start)
    else:
        label = Span(kind, row.period_start, row.period_end).label
    path = f"/api/v1/reports/{row.id}"
    return s.ReportSummary(
        id=row.id,
        kind=c.ReportKind(row.kind),
        number=row.number,
        title=row.title,
        period=s.ReportPeriod(kind=kind, start=row.period_start, end=row.period_end, label=label),
        as_of=row.as_of.astimezone(TZ),
        published_at=row.published_at.astimezone(TZ),
        json_path=path,
        xlsx_path=f"{path}.xlsx",
        docx_path=f"{path}.docx",
    )


def parse_period(text: str) -> tuple[date, date]:
    """``2020`` (a year), ``2020-05`` (a month), ``2020-05-07`` (a day), ``2020-Q2`` (a quarter) or
    ``2020-W20`` (an ISO week): the days a report's period must start in."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)  # 2020-02-30 matches the pattern: a ValueError, 422
            return day, day
        if "-W" in text:
            year, week = text.split("-W")
            try:
                monday = date.fromisocalendar(int(year), int(week), 1)
            except ValueError:  # week 53 of a year that has 52: no report starts in it
                return date.max, date.min
            return monday, monday + timedelta(days=6)
        if "-Q" in text:
            span = span_containing(c.PeriodKind.QUARTER, date(int(text[:4]), (int(text[-1]) - 1) * 3 + 1, 1))
            return span.start, span.end
        if "-" in text:
            span = span_containing(c.PeriodKind.MONTH, date(int(text[:4]), int(text[5:]), 1))
            return span.start, span.end
        return date(int(text), 1, 1), date(int(text), 12, 31)
    except ValueError as exc:
        raise ValidationFailed(f"无效的期间：{text}", code="invalid_period") from exc


async def _led_lines(session: AsyncSession, caller: Caller, day: date) -> set[UUID]:
    """Lines whose leader post the caller holds today."""
    if not caller.reach.posts:
        return set()
    ln = org_copy.lines
    rows = await session.execute(
        sa.select(ln.c.id).where(in_force(ln, day), ln.c.leader_post_id.in_(list(caller.reach.posts)))
    )
    return set(rows.scalars())


async def _readable(session: AsyncSession, caller: Caller, row: Any, today: date) -> set[UUID] | None:
    """None: the caller reads the whole report; a set: only these lines' entries (a quarterly evaluation
    for a line leader); an empty set: not at all."""
    if row.kind != Kind.QUARTERLY_EVALUATION or caller.sees_all:
        return None
    return await _led_lines(session, caller, today)


async def list_reports(
    session: AsyncSession, caller: Caller, *, kind: Kind | None, period_text: str | None, today: date
) -> list[s.ReportSummary]:
    stmt = sa.select(report).order_by(report.c.published_at.desc(), report.c.kind, report.c.number.desc())
    if kind is not None:
        stmt = stmt.where(report.c.kind == str(kind))
    if period_text is not None:
        first, last = parse_period(period_text)
        stmt = stmt.where(report.c.period_start >= first, report.c.period_start <= last)
    rows = (
        await session.execute(
            stmt.with_only_columns(*(col for col in report.c if col.name not in ("xlsx", "docx", "body")))
        )
    ).all()
    out = []
    for row in rows:
        part = await _readable(session, caller, row, today)
        if part is None or part:
            out.append(_summary(row))
    return out


#: The report's columns but its files (read only by a download, one at a time).
_ROW = tuple(col for col in report.c if col.name not in ("xlsx", "docx"))


async def _load(
    session: AsyncSession, caller: Caller, rid: UUID, today: date
) -> tuple[Any, set[UUID] | None]:
    row = (await session.execute(sa.select(*_ROW).where(report.c.id == rid))).first()
    part = await _readable(session, caller, row, today) if row is not None else set()
    if row is None or (part is not None and not await _has_entries(row, part)):
        raise NotFound("没有该报告，或无权查看", code="report_not_found")
    return row, part


async def _has_entries(row: Any, lines: set[UUID]) -> bool:
    return any(UUID(e["line_id"]) in lines for e in row.body.get("entries", []))


def _frozen(row: Any) -> Any:
    """The report's body as stored (the frozen JSON, whole)."""
    return s.ReportOut.model_validate({**_summary(row).model_dump(), "body": row.body}).body


def _body(row: Any, part: set[UUID] | None, caller: Caller) -> Any:
    body = _frozen(row)
    if part is not None and isinstance(body, s.QuarterlyEvaluation):
        body = body.model_copy(update={"entries": [e for e in body.entries if e.line_id in part]})
    if isinstance(body, s.DispatchBoard):
        body = dispatch.restrict(body, caller)
    return body


def _whole(row: Any, part: set[UUID] | None, caller: Caller) -> bool:
    """Whether the caller reads the report as stored (else their part is rendered from the frozen JSON)."""
    if row.kind == Kind.DAILY_DISPATCH:
        return caller.sees_every_project
    return part is None


async def get_report(session: AsyncSession, caller: Caller, rid: UUID, today: date) -> s.ReportOut:
    row, part = await _load(session, caller, rid, today)
    return s.ReportOut(**_summary(row).model_dump(), body=_body(row, part, caller))


async def _rendered(body: Any, number: int, issued: datetime, fmt: str) -> bytes:
    """:func:`_render`; a daily dispatch's in a worker thread: its Word file lists every project that needs
    attention (seconds of CPU at 2,450 projects), which on this thread would stall every request the event
    loop serves. Only the daily dispatch, which has no chart: a chart is drawn under matplotlib's
    process-wide settings and warning filters (``lkg.common.documents.charts``), which two threads would
    change under each other."""
    if isinstance(body, s.DispatchBoard):
        return await asyncio.to_thread(_render, body, number, issued, fmt)
    return _render(body, number, issued, fmt)


async def download(
    session: AsyncSession, caller: Caller, rid: UUID, fmt: str, today: date
) -> tuple[bytes, str]:
    """The report's Word or Excel file (``fmt``: ``docx`` or ``xlsx``).

    Read whole, it is rendered from the frozen JSON at its first download and kept: later downloads are
    the stored bytes. Two first downloads at once both render, and the one that stores second keeps what
    the first stored (``COALESCE`` in one UPDATE, which waits for the first's row lock and then sees its
    bytes), so every caller gets the same file. Read in part (a line leader's part of a quarterly
    evaluation, a daily dispatch as one who does not see every project reads it), it is rendered from that
    part of the frozen JSON at each download and not stored."""
    row, part = await _load(session, caller, rid, today)
    name = f"{row.kind}-{row.number}.{fmt}"
    issued = row.published_at.astimezone(TZ)
    if not _whole(row, part, caller):
        return await _rendered(_body(row, part, caller), row.number, issued, fmt), name
    column = report.c[fmt]
    stored = (await session.execute(sa.select(column).where(report.c.id == rid))).scalar_one()
    if stored is None:
        rendered = await _rendered(_frozen(row), row.number, issued, fmt)
        stored = (
            await session.execute(
                sa.update(report)
                .where(report.c.id == rid)
                .values({fmt: sa.func.coalesce(column, rendered)})
                .returning(column)
            )
        ).scalar_one()
    return stored, name
