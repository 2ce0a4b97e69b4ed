"""Use cases of a project's milestones (节点): add, re-plan, record the actual date, and the missed scan's
``milestone.missed``. The plan's milestones are the year's frozen baseline; a re-plan moves the planned date
only (policy §三(一))."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import (
    MilestoneAchieved,
    MilestoneMissed,
    ProjectStatus,
)
from lkg.common.events.outbox import stage
from lkg.common.http.problems import Conflict, NotFound, ValidationFailed
from lkg.registry.projects.changes import (
    bump,
    get_project,
    milestone_snapshot,
    milestones_of,
    new_milestone,
    passed_at,
    project_fact,
)
from lkg.registry.projects.models import (
    Milestone,
)
from lkg.registry.projects.schemas import (
    MilestonePlan,
)
from lkg.registry.projects.stage import refresh_stage

# ---- milestones ------------------------------------------------------------------------------------


async def _milestone(session: AsyncSession, project_id: uuid.UUID, milestone_id: uuid.UUID) -> Milestone:
    milestone = await session.get(Milestone, milestone_id)
    if milestone is None or milestone.project_id != project_id:
        raise NotFound("节点不存在", code="milestone_not_found")
    return milestone


async def add_milestone(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    plan: MilestonePlan,
    *,
    actor: str,
    reason: str,
) -> Milestone:
    """A milestone added after the plan was approved: it has no baseline date."""
    project = await get_project(session, project_id)
    position = len(await milestones_of(session, project_id))
    milestone = new_milestone(project_id, plan, position, baseline=False)
    session.add(milestone)
    await session.flush()
    key = f"milestones.{milestone.id}"
    # A milestone added with its actual date may move the project on.
    moved = await refresh_stage(session, project)
    await bump(
        session,
        clock,
        project,
        action="milestone_added",
        actor=actor,
        reason=reason,
        changes={key: (None, plan.planned_date), **moved},
    )
    return milestone


async def replan_milestone(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    planned_date: date,
    reason: str,
    actor: str,
) -> Milestone:
    """调整计划: a new planned date, with a reason; the baseline stays as it was. A milestone already
    reported missed may be missed again at its new date (one event per planned date)."""
    project = await get_project(session, project_id)
    milestone = await _milestone(session, project_id, milestone_id)
    if milestone.actual_date is not None:
        raise Conflict("节点已完成，不能再调整计划", code="milestone_achieved")
    before = milestone.planned_date
    milestone.planned_date = planned_date
    milestone.missed_due_at = passed_at(planned_date)
    await bump(
        session,
        clock,
        project,
        action="milestone_replanned",
        actor=actor,
        reason=reason,
        changes={f"milestones.{milestone.id}.planned_date": (before, planned_date)},
    )
    return milestone


async def record_actual(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    actual_date: date,
    actor: str,
) -> Milestone:
    """实际完成: records the actual date; emits ``milestone.achieved`` (and ``project.changed``)."""
    project = await get_project(session, project_id)
    milestone = await _milestone(session, project_id, milestone_id)
    if actual_date > clock.now().date():
        raise ValidationFailed("实际完成日期不能晚于今天", code="actual_date_in_future")
    before = milestone.actual_date
    milestone.actual_date = actual_date
    milestone.missed_due_at = None
    moved = await refresh_stage(session, project)
    await bump(
        session,
        clock,
        project,
        action="milestone_achieved",
        actor=actor,
        changes={f"milestones.{milestone.id}.actual_date": (before, actual_date), **moved},
    )
    await stage(
        session,
        MilestoneAchieved(
            **project_fact(project, clock),
            milestone=milestone_snapshot(milestone),
        ),
    )
    return milestone


async def mark_missed(
    session: AsyncSession, clock: Clock, milestone_id: uuid.UUID, *, history_start: date | None = None
) -> None:
    """The planned date passed without an actual date: ``milestone.missed``, once (the scan's handler).
    A planned date before ``history_start`` (the deployment's history) is marked and announces nothing."""
    milestone = await session.get(Milestone, milestone_id)
    if milestone is None or milestone.missed_due_at is None or milestone.actual_date is not None:
        return
    project = await get_project(session, milestone.project_id)
    milestone.missed_due_at = None
    milestone.missed_at = clock.now()
    if project.status != ProjectStatus.ACTIVE.value:
        return
    if history_start is not None and milestone.planned_date < history_start:
        return
    await stage(
        session,
        MilestoneMissed(
            **project_fact(project, clock),
            milestone=milestone_snapshot(milestone),
        ),
    )
