"""回头看 on a schedule (定期, §四(四)): a round every ``integrity_round_months`` months (to June and December
by default), in which 督查室 with 商务局 review every active project; due by the round's last month's last
working day, with a reminder before. A deadline row per round, acted on by the scan ``integrity_rounds``
once at the warning and once at the due time (docs/time.md); a round with projects not reviewed is missed,
recorded against 督查室 and listed for 重大项目办 (``GET /api/v1/projects/integrity-rounds``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar, end_of_day
from lkg.common.clock import TZ, Clock
from lkg.common.events.contracts import IntegrityRoundDueSoon, IntegrityRoundMissed, ProjectStatus, UnitRole
from lkg.common.events.outbox import stage
from lkg.registry.integrity.models import IntegrityReview, IntegrityRound
from lkg.registry.org import service as org
from lkg.registry.projects.models import Project
from lkg.registry.settings import RegistrySettings


def round_of(day: date, months: int) -> tuple[date, date]:
    """The first and last calendar day of the round that holds ``day`` (rounds end on months divisible by
    ``months``: June and December for 6)."""
    first_month = ((day.month - 1) // months) * months + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + months - 1
    after = date(day.year + 1, 1, 1) if end_month == 12 else date(day.year, end_month + 1, 1)
    return start, after - timedelta(days=1)


async def schedule(
    session: AsyncSession, calendar: WorkingCalendar, settings: RegistrySettings, until: datetime
) -> int:
    """The round holding ``until`` and any round between the last one scheduled and it; idempotent."""
    day = until.astimezone(TZ).date()
    directory = await org.load_directory(session, kinds=["unit"])
    offices = [
        u for u in directory.units.values() if UnitRole.SUPERVISION_OFFICE in u.roles and u.in_force(day)
    ]
    if not offices:
        return 0
    last = await session.scalar(sa.select(sa.func.max(IntegrityRound.due_on)))
    start = last + timedelta(days=1) if last is not None and last < day else day
    rows = []
    while True:
        first, end = round_of(start, settings.integrity_round_months)
        due_on = calendar.cadence_day(end)
        warn = calendar.add_working_days(due_on, -settings.integrity_round_warn_working_days)
        rows.append(
            {
                "id": uuid.uuid4(),
                "starts_on": first,
                "due_on": due_on,
                "due_at": end_of_day(due_on),
                "warn_at": datetime.combine(warn, time(0), TZ),
                "next_at": datetime.combine(warn, time(0), TZ),
                "unit_id": offices[0].id,
                "unit_name": offices[0].name,
                "unreviewed_project_ids": [],
            }
        )
        if end >= day:
            break
        start = end + timedelta(days=1)
    made = await session.execute(
        pg_insert(IntegrityRound).values(rows).on_conflict_do_nothing().returning(IntegrityRound.id)
    )
    return len(made.all())


async def _unreviewed(session: AsyncSession, row: IntegrityRound) -> list[uuid.UUID]:
    reviewed = sa.select(IntegrityReview.project_id).where(
        IntegrityReview.reviewed_on >= row.starts_on, IntegrityReview.reviewed_on <= row.due_on
    )
    rows = await session.execute(
        sa.select(Project.id)
        .where(Project.status == ProjectStatus.ACTIVE.value, Project.id.not_in(reviewed))
        .order_by(Project.id)
    )
    return list(rows.scalars())


async def act(session: AsyncSession, clock: Clock, round_id: uuid.UUID) -> bool:
    """At the warning: a reminder with the projects not reviewed yet (none: met). At the due time: met, or
    missed with them. True when the next time moved."""
    row = await session.get(IntegrityRound, round_id)
    if row is None or row.next_at is None:
        return False
    now = clock.now()
    missing = await _unreviewed(session, row)
    if not missing:
        row.outcome, row.next_at, row.ended_at = "met", None, now
        return False
    warning = row.warned_at is None and row.next_at < row.due_at
    if warning:
        row.warned_at, row.next_at = now, row.due_at
    else:
        row.outcome, row.next_at, row.ended_at, row.unreviewed_project_ids = "missed", None, now, missing
    cls = IntegrityRoundDueSoon if warning else IntegrityRoundMissed
    await stage(
        session,
        cls(
            effective_at=now,
            round_id=row.id,
            starts_on=row.starts_on,
            due_on=row.due_on,
            due_at=row.due_at.astimezone(TZ),
            unit_id=row.unit_id,
            unit_name=row.unit_name,
            project_ids=tuple(missing),
        ),
    )
    return warning


async def rounds(session: AsyncSession) -> list[IntegrityRound]:
    return list(
        (await session.execute(sa.select(IntegrityRound).order_by(IntegrityRound.due_on.desc()))).scalars()
    )
