"""Use cases of the statistics work (统计工作, §三(四)二): "区统计局 ... 建立联系人制度，每月定期
上门服务 ... 在每月28日前将上月未能通过审核入库项目及原因反馈至区重大项目办".

Two monthly duties, each a deadline row (:class:`StatisticsDuty`) the scan acts on twice, exactly once each
(docs/time.md): a warning some working days before the due day, then the due time itself.

- ``enrolment_list``: 统计局's list of last month's projects that failed enrolment is due by the 28th; when
  the 28th is not a working day, by the last working day before it (the cadence rule of docs/calendar.md).
  An empty list (no project failed) is a list too. Missed: recorded against 统计局 (``outcome`` missed)
  and shown to 重大项目办 (``GET /api/v1/projects/statistics-duties``), with ``enrolment_list.missed``;
  there is no layer to escalate to.
- ``visits``: each statistics contact visits each of their active projects once in the month
  (每月定期上门服务), by the month's last working day. Missed: recorded against the contact's unit, with the
  projects not visited.

Use cases change rows and stage events in the caller's transaction; they never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar, end_of_day
from lkg.common.clock import TZ, Clock
from lkg.common.events.contracts import (
    EnrolmentListDueSoon,
    EnrolmentListMissed,
    ProjectStatus,
    StatisticsVisitDueSoon,
    StatisticsVisitMissed,
    UnitRole,
)
from lkg.common.events.outbox import stage
from lkg.common.http.problems import ValidationFailed
from lkg.registry.org import service as org
from lkg.registry.projects.models import Project
from lkg.registry.settings import RegistrySettings
from lkg.registry.statistics.models import EnrolmentList, StatisticsDuty, StatisticsVisit

LIST, VISITS = "enrolment_list", "visits"


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def due_day(calendar: WorkingCalendar, settings: RegistrySettings, kind: str, year: int, month: int) -> date:
    """The due day of a duty of ``kind`` in the month: the list's 28th (configurable), the visits' month
    end, moved to the last working day on or before it when it is not a working day."""
    if kind == LIST:
        planned = date(year, month, settings.statistics_list_day)
    else:
        after = _month_after(year, month)
        planned = date(after[0], after[1], 1) - timedelta(days=1)
    return calendar.cadence_day(planned)


def _times(
    calendar: WorkingCalendar, settings: RegistrySettings, kind: str, year: int, month: int
) -> tuple[date, datetime, datetime]:
    """(due day, due time = the end of the due day, warning = the start of the day that many working days
    before it)."""
    day = due_day(calendar, settings, kind, year, month)
    days = (
        settings.statistics_list_warn_working_days
        if kind == LIST
        else settings.statistics_visit_warn_working_days
    )
    warn = datetime.combine(calendar.add_working_days(day, -days), time(0), TZ)
    return day, end_of_day(day), warn


async def schedule(
    session: AsyncSession, calendar: WorkingCalendar, settings: RegistrySettings, until: datetime
) -> int:
    """Make the duties of every month after the last one scheduled (or ``until``'s month, the first time) up
    to ``until``'s month, and of ``until``'s month for contacts named since; idempotent (a duty exists once
    per kind, month and subject). Returns how many were made."""
    last = (
        await session.execute(
            sa.select(StatisticsDuty.year, StatisticsDuty.month)
            .order_by(StatisticsDuty.year.desc(), StatisticsDuty.month.desc())
            .limit(1)
        )
    ).first()
    local = until.astimezone(TZ)
    end = (local.year, local.month)
    # The months not scheduled yet, and the current one again (a contact named this month joins it); a
    # month already past keeps the duties it had.
    month = min(_month_after(last[0], last[1]), end) if last else end
    directory = await org.load_directory(session, kinds=["unit", "post", "holding"])
    bureau = next(
        (
            u
            for u in directory.units.values()
            if UnitRole.STATISTICS_BUREAU in u.roles and u.in_force(local.date())
        ),
        None,
    )
    contacts = (
        await session.execute(
            sa.select(Project.statistics_contact_id)
            .where(Project.statistics_contact_id.is_not(None), Project.status == ProjectStatus.ACTIVE.value)
            .distinct()
        )
    ).scalars()
    people = sorted({c for c in contacts if c is not None}, key=str)
    rows: list[dict[str, Any]] = []
    while month <= end:
        year, m = month
        if bureau is not None:
            rows.append(_row(calendar, settings, LIST, year, m, bureau.id, bureau.id, bureau.name))
        for person in people:
            unit = _unit_of(directory, person, local.date())
            if unit is not None:
                rows.append(_row(calendar, settings, VISITS, year, m, person, unit.id, unit.name))
        month = _month_after(year, m)
    if not rows:
        return 0
    made = await session.execute(
        pg_insert(StatisticsDuty).values(rows).on_conflict_do_nothing().returning(StatisticsDuty.id)
    )
    return len(made.all())


def _unit_of(directory: org.Directory, person: uuid.UUID, day: date) -> Any:
    """The unit of the person's statistics-contact post (the one a missed visit is recorded against)."""
    for holding in directory.holdings.values():
        post = directory.posts.get(holding.post_id)
        if holding.person_id == person and holding.in_force(day) and post is not None:
            unit = directory.units.get(post.unit_id)
            if unit is not None and post.kind.value == "statistics_contact":
                return unit
    return None


def _row(
    calendar: WorkingCalendar,
    settings: RegistrySettings,
    kind: str,
    year: int,
    month: int,
    subject: uuid.UUID,
    unit_id: uuid.UUID,
    unit_name: str,
) -> dict[str, Any]:
    day, due, warn = _times(calendar, settings, kind, year, month)
    return {
        "id": uuid.uuid4(),
        "kind": kind,
        "year": year,
        "month": month,
        "subject_id": subject,
        "unit_id": unit_id,
        "unit_name": unit_name,
        "due_on": day,
        "due_at": due,
        "warn_at": warn,
        "next_at": warn,
        "missed_project_ids": [],
    }


async def _unvisited(session: AsyncSession, duty: StatisticsDuty) -> list[uuid.UUID]:
    """The contact's active projects with no visit recorded in the duty's month."""
    visited = sa.select(StatisticsVisit.project_id).where(
        StatisticsVisit.year == duty.year, StatisticsVisit.month == duty.month
    )
    rows = await session.execute(
        sa.select(Project.id)
        .where(
            Project.statistics_contact_id == duty.subject_id,
            Project.status == ProjectStatus.ACTIVE.value,
            Project.id.not_in(visited),
        )
        .order_by(Project.id)
    )
    return list(rows.scalars())


async def _list_in(session: AsyncSession, duty: StatisticsDuty) -> bool:
    year, month = _month_before(duty.year, duty.month)
    found = await session.scalar(
        sa.select(EnrolmentList.id).where(EnrolmentList.year == year, EnrolmentList.month == month)
    )
    return found is not None


async def act(session: AsyncSession, clock: Clock, duty_id: uuid.UUID) -> bool:
    """The scan's handler: at the warning, a reminder unless the duty is already met; at the due time, met
    or missed. Returns True when it moved the duty's next time (the scan looks again in due order)."""
    duty = await session.get(StatisticsDuty, duty_id)
    if duty is None or duty.next_at is None:
        return False
    now = clock.now()
    missing = await _unvisited(session, duty) if duty.kind == VISITS else []
    met = await _list_in(session, duty) if duty.kind == LIST else not missing
    if met:
        duty.outcome, duty.next_at, duty.ended_at = "met", None, now
        return False
    at_warning = duty.warned_at is None and duty.next_at < duty.due_at
    if at_warning:
        duty.warned_at, duty.next_at = now, duty.due_at
    else:
        duty.outcome, duty.next_at, duty.ended_at = "missed", None, now
        duty.missed_project_ids = missing
    await stage(session, _event(duty, now, missing, warning=at_warning))
    return at_warning


def _event(duty: StatisticsDuty, now: datetime, missing: Sequence[uuid.UUID], *, warning: bool) -> Any:
    common = {
        "effective_at": now,
        "duty_id": duty.id,
        "year": duty.year,
        "month": duty.month,
        "due_at": duty.due_at.astimezone(TZ),
        "unit_id": duty.unit_id,
        "unit_name": duty.unit_name,
    }
    if duty.kind == LIST:
        year, month = _month_before(duty.year, duty.month)
        cls = EnrolmentListDueSoon if warning else EnrolmentListMissed
        return cls(**common, reported_year=year, reported_month=month)
    visit = StatisticsVisitDueSoon if warning else StatisticsVisitMissed
    return visit(**common, person_id=duty.subject_id, project_ids=tuple(missing))


async def list_submitted(
    session: AsyncSession, clock: Clock, *, year: int, month: int, unit_id: uuid.UUID, failures: int
) -> None:
    """统计局 submitted its list for ``year``/``month`` (the month reported on): the first submission is
    kept (it decides the 28th); the duty of the month after is met at once."""
    now = clock.now()
    existing = await session.scalar(
        sa.select(EnrolmentList).where(EnrolmentList.year == year, EnrolmentList.month == month)
    )
    if existing is not None:
        existing.failures += failures
        return
    session.add(
        EnrolmentList(
            id=uuid.uuid4(), year=year, month=month, unit_id=unit_id, failures=failures, submitted_at=now
        )
    )
    due_year, due_month = _month_after(year, month)
    await session.execute(
        sa.update(StatisticsDuty)
        .where(
            StatisticsDuty.kind == LIST,
            StatisticsDuty.year == due_year,
            StatisticsDuty.month == due_month,
            StatisticsDuty.next_at.is_not(None),
        )
        .values(outcome="met", next_at=None, ended_at=now)
    )


async def record_visit(
    session: AsyncSession,
    clock: Clock,
    project: Project,
    *,
    visited_on: date,
    note: str,
    actor: str,
) -> StatisticsVisit:
    """上门服务: the project's statistics contact visited it on ``visited_on`` (today or earlier, 422
    ``visit_in_future``); 422 ``statistics_contact_missing`` when the project has no contact."""
    if project.statistics_contact_id is None:
        raise ValidationFailed("项目尚未指定统计联系人", code="statistics_contact_missing")
    if visited_on > clock.now().date():
        raise ValidationFailed("上门服务日期不能晚于今天", code="visit_in_future")
    visit = StatisticsVisit(
        id=uuid.uuid4(),
        project_id=project.id,
        year=visited_on.year,
        month=visited_on.month,
        visited_on=visited_on,
        person_id=project.statistics_contact_id,
        person_name=project.statistics_contact_name,
        note=note,
        actor=actor,
        recorded_at=clock.now(),
    )
    session.add(visit)
    await session.flush()
    return visit


async def visits_of(session: AsyncSession, project_id: uuid.UUID) -> list[StatisticsVisit]:
    rows = await session.execute(
        sa.select(StatisticsVisit)
        .where(StatisticsVisit.project_id == project_id)
        .order_by(StatisticsVisit.visited_on, StatisticsVisit.recorded_at)
    )
    return list(rows.scalars())


async def duties(
    session: AsyncSession, *, kind: str | None, outcome: str | None, year: int | None, month: int | None
) -> list[StatisticsDuty]:
    """The duties, newest month first (重大项目办 sees every missed 28th here)."""
    stmt = sa.select(StatisticsDuty)
    if kind is not None:
        stmt = stmt.where(StatisticsDuty.kind == kind)
    if outcome == "open":
        stmt = stmt.where(StatisticsDuty.outcome.is_(None))
    elif outcome is not None:
        stmt = stmt.where(StatisticsDuty.outcome == outcome)
    if year is not None:
        stmt = stmt.where(StatisticsDuty.year == year)
    if month is not None:
        stmt = stmt.where(StatisticsDuty.month == month)
    stmt = stmt.order_by(
        StatisticsDuty.year.desc(), StatisticsDuty.month.desc(), StatisticsDuty.kind, StatisticsDuty.unit_name
    ).limit(1000)
    return list((await session.execute(stmt)).scalars())
