"""What the 日调度 dispatch board reads, in a few set-based queries whose size follows what the board shows,
not the history scoring holds (:func:`load`).

* projects: the active ones, only the fields the board prints (picked out of the snapshot by PostgreSQL,
  not the whole project document);
* matters: those reported by ``now`` and not closed before ``since``, with their steps up to ``now``;
* approvals past their limit (``approval.stalled``) up to ``now`` and not decided before ``since`` (granted
  or refused), with the decision;
* milestones reported missed and not achieved before ``since``, or achieved or missed in ``(since, now]``;
  and the plan dates of this week (from the project copies' plans), with their achievement.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.orgcopy import in_force
from lkg.scoring.models import (
    approval_fact,
    approval_rejection,
    breach_fact,
    matter_fact,
    matter_step,
    milestone_fact,
    org_copy,
    project_copy,
)


@dataclass
class World:
    """What the board needs as of one moment and the start of the previous working day."""

    projects: dict[UUID, Any]
    """Active projects: ``id``, ``line_id``, ``name``, ``code``, ``unit_id``, ``unit_name``, ``stage``,
    ``project_class``, ``fast_track``, ``provincial_municipal``."""
    lines: dict[UUID, Any]
    streets: set[UUID]
    matters: list[Any]
    steps: dict[UUID, list[Any]]
    stalls: list[Any]
    """``breach_fact`` rows of approvals, with ``decided_at`` and ``granted`` (granted, else refused)."""
    milestones: list[Any]
    """``milestone_fact`` rows missed or achieved around the window (see the module)."""
    week: list[Any]
    """This week's plan dates: ``project_id``, ``milestone_id``, ``label``, ``planned_date``,
    ``baseline_date``, ``actual_date`` (the plan's), ``achieved_on`` (the fact's)."""


def _projects() -> sa.Select[Any]:
    pc = project_copy.c
    snap = pc.snapshot
    return sa.select(
        pc.id,
        pc.line_id,
        snap["name"].astext.label("name"),
        snap["project_code"].astext.label("code"),
        snap["responsible_unit_id"].astext.label("unit_id"),
        snap["responsible_unit_name"].astext.label("unit_name"),
        sa.func.coalesce(snap["stage"].astext, "preliminary").label("stage"),
        snap["project_class"].astext.label("project_class"),
        sa.func.coalesce(snap["fast_track"].as_boolean(), False).label("fast_track"),
        sa.func.coalesce(snap["provincial_municipal"].as_boolean(), False).label("provincial_municipal"),
    ).where(pc.status == "active")


def _week(monday: date, sunday: date) -> sa.Select[Any]:
    pc = project_copy.c
    ms = sa.func.jsonb_array_elements(pc.snapshot["milestones"]).table_valued(sa.column("value", JSONB))
    value = ms.c.value
    planned = value["planned_date"].astext
    mid = value["id"].astext
    mf = milestone_fact.c
    return (
        sa.select(
            pc.id.label("project_id"),
            mid.label("milestone_id"),
            value["label"].astext.label("label"),
            planned.label("planned_date"),
            value["baseline_date"].astext.label("baseline_date"),
            value["actual_date"].astext.label("actual_date"),
            mf.achieved_on,
        )
        .select_from(project_copy.join(ms, sa.true()))
        .outerjoin(
            milestone_fact,
            sa.and_(mf.milestone_id == sa.cast(mid, mf.milestone_id.type), mf.achieved_at.is_not(None)),
        )
        .where(pc.status == "active", planned >= monday.isoformat(), planned <= sunday.isoformat())
    )


async def load(
    session: AsyncSession, since: datetime, now: datetime, day: date, week: tuple[date, date]
) -> World:
    projects = {row.id: row for row in await session.execute(_projects())}
    ln, un = org_copy.lines, org_copy.units
    lines = {row.id: row for row in await session.execute(sa.select(ln).where(in_force(ln, day)))}
    streets = set(
        (await session.execute(sa.select(un.c.id).where(in_force(un, day), un.c.kind == "street"))).scalars()
    )
    mf = matter_fact.c
    live = sa.and_(
        mf.reported_at.is_not(None),
        mf.reported_at <= now,
        sa.or_(mf.closed_at.is_(None), mf.closed_at > since),
    )
    matters = list(await session.execute(sa.select(matter_fact).where(live)))
    steps: dict[UUID, list[Any]] = defaultdict(list)
    if matters:
        ms = matter_step.c
        wanted = sa.select(mf.matter_id).where(live)
        for row in await session.execute(
            sa.select(matter_step).where(ms.matter_id.in_(wanted), ms.at <= now).order_by(ms.matter_id, ms.at)
        ):
            steps[row.matter_id].append(row)
    b, a, r = breach_fact.c, approval_fact.c, approval_rejection.c
    decided = sa.func.coalesce(a.granted_at, r.rejected_at)
    stalls = list(
        await session.execute(
            sa.select(breach_fact, decided.label("decided_at"), a.granted_at.is_not(None).label("granted"))
            .select_from(
                breach_fact.outerjoin(approval_fact, a.approval_item_id == b.subject_id).outerjoin(
                    approval_rejection, r.approval_item_id == b.subject_id
                )
            )
            .where(b.kind == "approval", b.recorded_at <= now, sa.or_(decided.is_(None), decided > since))
        )
    )
    m = milestone_fact.c
    milestones = list(
        await session.execute(
            sa.select(milestone_fact).where(
                sa.or_(
                    sa.and_(m.missed_at <= now, sa.or_(m.achieved_at.is_(None), m.achieved_at > since)),
                    sa.and_(m.achieved_at > since, m.achieved_at <= now),
                )
            )
        )
    )
    this_week = list(await session.execute(_week(*week)))
    return World(projects, lines, streets, matters, steps, stalls, milestones, this_week)
