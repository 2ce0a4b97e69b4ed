"""What the issues service answers about matters: one matter, the list, its clocks, breaches and audit
trail, the ledger's rows. Each query decides what the caller may see first (a matter it may not see is
404, as a missing one), then reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.pagination import Keyset, PageParams, apply_updated_since, fetch_page
from lkg.common.http.problems import NotFound
from lkg.issues.access import Caller
from lkg.issues.audit import trail
from lkg.issues.models import OPEN_STATES, breach, deadline, matter, project_copy

KIND_LABEL = {"problem": "问题", "meeting_matter": "会议议定事项"}
BY_REPORTED = Keyset(sort=matter.c.reported_at, id=matter.c.id, name="reported")
BY_UPDATED = Keyset(sort=matter.c.updated_at, id=matter.c.id, name="updated")


async def get_matter(session: AsyncSession, kind: str, matter_id: UUID, caller: Caller | None) -> Any:
    """The matter if the caller may see it (``None``: the service itself); 404 otherwise (hidden and
    missing look the same)."""
    stmt = sa.select(matter).where(matter.c.id == matter_id, matter.c.kind == kind)
    if caller is not None and (visible := caller.visibility()) is not None:
        stmt = stmt.where(visible)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"{KIND_LABEL[kind]}不存在", code=f"{kind}_not_found")
    return row


async def project_of(session: AsyncSession, project_id: UUID, caller: Caller | None) -> Any:
    """The project's read copy, if the caller sees it (``None``: the service itself). A project this
    service does not know is 404 ``unknown_project``: the id is well-formed (the schema admits it), the
    resource it names is just not here (yet — the copy follows the registry's events); one the caller does
    not see answers the same, so that nothing tells another unit's project from a random id."""
    row = (await session.execute(sa.select(project_copy).where(project_copy.c.id == project_id))).first()
    if row is None or (caller is not None and not caller.sees_project(row)):
        raise NotFound("项目不存在或尚未同步到问题督办服务", code="unknown_project")
    return row


async def list_matters(
    session: AsyncSession,
    kind: str,
    caller: Caller,
    page: PageParams,
    *,
    now: datetime,
    project_id: UUID | None = None,
    unit_id: UUID | None = None,
    line_id: UUID | None = None,
    layer: int | None = None,
    state: str | None = None,
    overdue: bool | None = None,
    awaiting_me: bool | None = None,
    updated_since: datetime | None = None,
) -> tuple[list[Any], str | None]:
    stmt = sa.select(matter).where(matter.c.kind == kind)
    if (visible := caller.visibility()) is not None:
        stmt = stmt.where(visible)
    if project_id is not None:
        stmt = stmt.where(matter.c.project_id == project_id)
    if unit_id is not None:
        stmt = stmt.where(
            sa.or_(
                matter.c.resolving_unit_id == unit_id,
                matter.c.reported_by_unit_id == unit_id,
                matter.c.project_unit_id == unit_id,
            )
        )
    if line_id is not None:
        stmt = stmt.where(matter.c.line_id == line_id)
    if layer is not None:
        stmt = stmt.where(matter.c.layer == layer)
    if state is not None:
        stmt = stmt.where(matter.c.state == state)
    if overdue is not None:
        late = sa.exists().where(
            deadline.c.matter_id == matter.c.id,
            sa.or_(
                sa.and_(deadline.c.state == "running", deadline.c.due_at <= now),
                sa.and_(deadline.c.state == "breached", matter.c.state.in_(OPEN_STATES)),
            ),
        )
        stmt = stmt.where(late if overdue else ~late)
    if awaiting_me is not None:
        mine = sa.func.coalesce(awaiting(caller), sa.false())
        stmt = stmt.where(mine if awaiting_me else ~mine)
    keyset = BY_UPDATED if updated_since is not None else BY_REPORTED
    stmt = apply_updated_since(stmt, matter.c.updated_at, updated_since)
    return await fetch_page(session, stmt, keyset, page, scalars=False)


def awaiting(caller: Caller) -> sa.ColumnElement[bool]:
    """The open matters whose next step is for a unit, line or post the caller acts for (待我处理), by
    state: a reported one to accept (the coordinators: the line's, the holders above layer 1; a meeting
    matter also its resolving unit, which acknowledges it), an accepted one to assign (the coordinators),
    an assigned, answered or in-progress one to answer, report on or resolve (the resolving unit), a
    resolved one to close (the holders at its layer); and any open one a running clock charges to a unit
    the caller acts for (重大项目办 accepting an unrouted project's problem). As ``Caller.coordinates``,
    ``resolves`` and ``holds`` decide, but by what the caller acts for only: a role that may act on every
    matter (重大项目办, the top leaders) finds those its own unit or posts hold, not all."""
    m = matter.c
    units, lines, posts = list(caller.reach.units), list(caller.reach.lines), list(caller.reach.posts)
    holds = sa.or_(
        sa.and_(m.layer <= 1, sa.or_(m.project_unit_id.in_(units), m.reported_by_unit_id.in_(units))),
        sa.and_(
            m.layer >= 2,
            sa.or_(
                m.holder_unit_ids.overlap(sa.cast(units, m.holder_unit_ids.type)),
                m.holder_post_ids.overlap(sa.cast(posts, m.holder_post_ids.type)),
                m.line_id.in_(lines),
            ),
        ),
    )
    coordinates = sa.or_(m.line_id.in_(lines), sa.and_(m.layer >= 2, holds))
    resolves = m.resolving_unit_id.in_(units)
    charged = sa.exists().where(
        deadline.c.matter_id == m.id, deadline.c.state == "running", deadline.c.charged_unit_id.in_(units)
    )
    return sa.or_(
        sa.and_(m.state.in_(OPEN_STATES), charged),
        sa.and_(m.state == "reported", m.kind == "problem", coordinates),
        sa.and_(m.state == "reported", m.kind == "meeting_matter", sa.or_(resolves, coordinates)),
        sa.and_(m.state == "accepted", coordinates),
        sa.and_(m.state.in_(("assigned", "answered", "in_progress")), resolves),
        sa.and_(m.state == "resolved", holds),
    )


async def clocks_of(session: AsyncSession, matter_id: UUID) -> list[Any]:
    """Every clock of a matter, running or ended (all are visible to whoever sees the matter)."""
    result = await session.execute(
        sa.select(deadline)
        .where(deadline.c.matter_id == matter_id)
        .order_by(deadline.c.started_at, deadline.c.kind)
    )
    return list(result.all())


async def breaches_of(session: AsyncSession, matter_id: UUID) -> list[Any]:
    result = await session.execute(
        sa.select(breach).where(breach.c.matter_id == matter_id).order_by(breach.c.breached_at)
    )
    return list(result.all())


async def audit_of(session: AsyncSession, kind: str, matter_id: UUID, caller: Caller) -> list[Any]:
    """The append-only audit trail of a matter the caller sees."""
    m = await get_matter(session, kind, matter_id, caller)
    return await trail(session, m.id)


async def ledger_rows(session: AsyncSession, caller: Caller, *, line_id: UUID | None) -> list[Any]:
    """The problems of the ledger (问题台账) the caller sees, oldest first, each with its next due time and
    its number of breaches."""
    next_due = (
        sa.select(sa.func.min(deadline.c.due_at))
        .where(deadline.c.matter_id == matter.c.id, deadline.c.state == "running")
        .scalar_subquery()
    )
    breaches = sa.select(sa.func.count()).where(breach.c.matter_id == matter.c.id).scalar_subquery()
    stmt = sa.select(matter, next_due.label("next_due"), breaches.label("breaches")).where(
        matter.c.kind == "problem"
    )
    if (visible := caller.visibility()) is not None:
        stmt = stmt.where(visible)
    if line_id is not None:
        stmt = stmt.where(matter.c.line_id == line_id)
    return list((await session.execute(stmt.order_by(matter.c.reported_at, matter.c.id))).all())
