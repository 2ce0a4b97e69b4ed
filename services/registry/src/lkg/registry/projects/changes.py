"""How a project changes: its revision, its history row, its snapshot and ``project.changed``.

Every use case of the register reads a project with :func:`get_project` and records a change with
:func:`bump`: the revision goes up, a history row says who changed what, when on the shared clock and why,
and ``project.changed`` carries the full snapshot (the contract in :mod:`lkg.common.events.contracts`);
facts (a milestone achieved, a termination) go out beside it in the same transaction. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.access import visible
from lkg.common.clock import TZ, Clock
from lkg.common.events.contracts import (
    MilestoneSnapshot,
    MilestoneType,
    ProjectChanged,
    ProjectSnapshot,
)
from lkg.common.events.outbox import stage
from lkg.common.http.problems import NotFound, PreconditionFailed
from lkg.registry.access import Caller
from lkg.registry.projects.models import (
    Milestone,
    Project,
    ProjectChange,
)
from lkg.registry.projects.schemas import (
    MilestonePlan,
)

MILESTONE_LABELS = {
    MilestoneType.NEGOTIATION: "洽谈",
    MilestoneType.SIGNING: "签约",
    MilestoneType.LAND_DEPOSIT: "缴纳土地保证金",
    MilestoneType.CAPITAL_INJECTION: "进资",
    MilestoneType.CONSTRUCTION_START: "开工",
    MilestoneType.COMPLETION: "竣工",
    MilestoneType.PRODUCTION_START: "投产",
    MilestoneType.FULL_PRODUCTION: "达产",
    MilestoneType.OTHER: "其他",
}


def plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _json(value: Any) -> Any:
    if isinstance(value, Decimal | date | datetime | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def passed_at(day: date) -> datetime:
    """When a planned date has passed: the start of the next day on the shared clock's zone."""
    return datetime.combine(day + timedelta(days=1), time.min, TZ)


# ---- snapshots and history -------------------------------------------------------------------------


def project_fact(project: Project, clock: Clock) -> dict[str, Any]:
    """What every registry fact about a project carries: when (on the shared clock) and which project."""
    return {
        "effective_at": clock.now(),
        "project_id": project.id,
        "project_name": project.name,
        "responsible_unit_id": project.responsible_unit_id,
    }


async def milestones_of(session: AsyncSession, project_id: uuid.UUID) -> list[Milestone]:
    rows = await session.execute(
        sa.select(Milestone).where(Milestone.project_id == project_id).order_by(Milestone.position)
    )
    return list(rows.scalars())


#: The snapshots' fields that are the row's columns as they are (the contract reads its enums from them).
_MILESTONE_COLUMNS = ("id", "type", "label", "planned_date", "baseline_date", "actual_date")
_PROJECT_COLUMNS = tuple(
    name for name in ProjectSnapshot.model_fields if name not in {"milestones", "integrity_flags"}
)


def milestone_snapshot(m: Milestone) -> MilestoneSnapshot:
    return MilestoneSnapshot.model_validate({name: getattr(m, name) for name in _MILESTONE_COLUMNS})


def snapshot(project: Project, milestones: Sequence[Milestone] = ()) -> ProjectSnapshot:
    return ProjectSnapshot.model_validate(
        {
            **{name: getattr(project, name) for name in _PROJECT_COLUMNS},
            "milestones": tuple(milestone_snapshot(m) for m in milestones),
            "integrity_flags": tuple(project.integrity_flags),
        }
    )


async def full_snapshot(session: AsyncSession, project: Project) -> ProjectSnapshot:
    return snapshot(project, await milestones_of(session, project.id))


def snapshot_field(column: str) -> str:
    """The :class:`ProjectSnapshot` field a project column feeds (``site_park`` → ``site``,
    ``agent_name`` → ``agent_id``), for ``project.changed``'s ``changes``."""
    if column.startswith("site_"):
        return "site"
    if column.endswith("_name") and f"{column[:-5]}_id" in ProjectSnapshot.model_fields:
        return f"{column[:-5]}_id"
    return column


def record_history(
    session: AsyncSession,
    project: Project,
    *,
    action: str,
    actor: str,
    changes: dict[str, Any],
    reason: str | None,
    now: datetime,
) -> None:
    session.add(
        ProjectChange(
            id=uuid.uuid4(),
            project_id=project.id,
            revision=project.revision,
            action=action,
            actor=actor,
            reason=reason,
            changes={k: [_json(a), _json(b)] for k, (a, b) in changes.items()},
            changed_at=now,
        )
    )


async def bump(
    session: AsyncSession,
    clock: Clock,
    project: Project,
    *,
    action: str,
    actor: str,
    changes: dict[str, tuple[Any, Any]],
    reason: str | None = None,
    expected_revision: int | None = None,
) -> ProjectSnapshot:
    """Advance the project's revision, write history and stage ``project.changed`` with the full snapshot."""
    now = clock.now()
    if expected_revision is not None and project.revision != expected_revision:
        raise PreconditionFailed()
    project.revision += 1
    project.updated_at = now
    project.effective_at = now
    await session.flush()
    record_history(session, project, action=action, actor=actor, changes=changes, reason=reason, now=now)
    snap = await full_snapshot(session, project)
    await stage(
        session,
        ProjectChanged(
            aggregate_id=project.id,
            revision=project.revision,
            project=snap,
            changes=tuple(sorted({snapshot_field(k.partition(".")[0]) for k in changes})),
            reason=reason,
        ),
    )
    return snap


def new_milestone(project_id: uuid.UUID, plan: MilestonePlan, position: int, *, baseline: bool) -> Milestone:
    kind = MilestoneType(plan.type)
    return Milestone(
        id=uuid.uuid4(),
        project_id=project_id,
        type=kind.value,
        label=plan.label or MILESTONE_LABELS[kind],
        planned_date=plan.planned_date,
        baseline_date=plan.planned_date if baseline else None,
        actual_date=plan.actual_date,
        missed_due_at=None if plan.actual_date else passed_at(plan.planned_date),
        position=position,
    )


async def get_project(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("项目不存在", code="project_not_found")
    return project


async def visible_project(session: AsyncSession, caller: Caller, project_id: uuid.UUID) -> Project:
    """The project, if ``caller`` sees it; otherwise the 404 of a project that does not exist, so nobody
    learns what exists outside their reach."""
    return visible(
        await session.get(Project, project_id),
        lambda p: caller.sees(p.responsible_unit_id, p.line_id),
        NotFound("项目不存在", code="project_not_found"),
    )


async def editable_project(session: AsyncSession, caller: Caller, project_id: uuid.UUID) -> Project:
    """The project, if ``caller`` sees it (else 404) and may change its facts (else 403): its responsible
    unit, 重大项目办, or a client system with the write scope."""
    project = await visible_project(session, caller, project_id)
    caller.ensure_may_edit(project.responsible_unit_id)
    return project
