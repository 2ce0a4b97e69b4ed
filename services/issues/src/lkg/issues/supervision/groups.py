"""四督四促 (§三(三)三): the supervision office's full-cycle supervision of the ≥100M projects, in four groups
by project class — preliminary projects 促抓紧办理手续, planned new starts 促尽早开工, continuing projects
促建设进度, completing projects 促尽快投产 — each with its 督办 list and the evidence for it, and 督查室's
follow-ups (督办记录) on the projects it pushes.

This is supervision, not a sanction: it issues no red card (the month-end round's four categories,
§五(三), stay as they are, :mod:`lkg.issues.supervision.rounds`). The list is computed on request from the
read copies on the shared clock's day: a project is **lagging** when it has evidence — a milestone of its
group's goal past its planned date and not achieved, or an open system problem on one of its approvals
(stalled, or the planned start at risk); otherwise on track. The follow-ups are stored.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events import contracts as c
from lkg.common.http.problems import Conflict, Forbidden, NotFound
from lkg.issues.access import Caller
from lkg.issues.models import OPEN_STATES, matter, project_copy
from lkg.issues.settings import IssuesRuntime
from lkg.issues.supervision.models import supervision_follow_up
from lkg.issues.supervision.report import line_names
from lkg.issues.supervision.schemas import (
    EvidenceOut,
    FollowUpOut,
    GroupOut,
    SupervisionEntry,
    SupervisionGroup,
    SupervisionList,
)

#: group → (label, goal, the milestone types its goal is about; None: every milestone).
GROUPS: dict[str, tuple[str, str, frozenset[str] | None]] = {
    "preliminary": (
        "前期项目",
        "促抓紧办理手续",
        frozenset({"negotiation", "signing", "land_deposit", "capital_injection", "other"}),
    ),
    "new_start": ("计划新开工项目", "促尽早开工", frozenset({"construction_start"})),
    "continuing": ("结转续建项目", "促建设进度", None),
    "completing": (
        "完工投产项目",
        "促尽快投产",
        frozenset({"completion", "production_start", "full_production"}),
    ),
}


def _group(group: str) -> tuple[str, str, frozenset[str] | None]:
    if group not in GROUPS:
        raise NotFound("督办分组不存在", code="supervision_group_not_found")
    return GROUPS[group]


def _late_milestones(snapshot: dict[str, Any], types: frozenset[str] | None, on: date) -> list[EvidenceOut]:
    return [
        EvidenceOut(
            kind="milestone",
            id=str(ms["id"]),
            note=f"{ms['label']}计划{ms['planned_date']}完成，至{on.isoformat()}未完成",
        )
        for ms in sorted(snapshot.get("milestones") or [], key=lambda m: (m["planned_date"], str(m["id"])))
        if ms.get("actual_date") is None
        and date.fromisoformat(ms["planned_date"]) < on
        and (types is None or ms["type"] in types)
    ]


async def _projects(session: AsyncSession, group: str) -> list[Any]:
    """The active ≥100M projects of the group's class, by name."""
    rows = (
        await session.execute(
            sa.select(project_copy)
            .where(
                project_copy.c.status == "active", project_copy.c.snapshot["project_class"].astext == group
            )
            .order_by(project_copy.c.name, project_copy.c.id)
        )
    ).all()
    return [r for r in rows if Decimal(r.snapshot["total_investment"]) >= c.ONE_HUNDRED_MILLION_YUAN]


async def _approval_problems(session: AsyncSession, projects: list[UUID]) -> dict[UUID, list[EvidenceOut]]:
    """Open system problems on the projects' approvals (a stalled item, the planned start at risk)."""
    if not projects:
        return {}
    rows = (
        await session.execute(
            sa.select(matter.c.id, matter.c.project_id, matter.c.title)
            .where(
                matter.c.project_id.in_(projects),
                matter.c.origin == "system",
                matter.c.cause_key.like("approval.%"),
                matter.c.state.in_(OPEN_STATES),
            )
            .order_by(matter.c.reported_at, matter.c.id)
        )
    ).all()
    found: dict[UUID, list[EvidenceOut]] = {}
    for r in rows:
        found.setdefault(r.project_id, []).append(EvidenceOut(kind="problem", id=str(r.id), note=r.title))
    return found


async def _follow_ups(
    session: AsyncSession, group: str, projects: list[UUID]
) -> dict[UUID, list[FollowUpOut]]:
    if not projects:
        return {}
    t = supervision_follow_up
    rows = (
        await session.execute(
            sa.select(t).where(t.c.group == group, t.c.project_id.in_(projects)).order_by(t.c.at, t.c.id)
        )
    ).all()
    found: dict[UUID, list[FollowUpOut]] = {}
    for r in rows:
        found.setdefault(r.project_id, []).append(FollowUpOut.model_validate(r, from_attributes=True))
    return found


async def supervision_list(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    group: SupervisionGroup,
    *,
    lagging_only: bool = False,
) -> SupervisionList:
    """The group's 督办 list on the clock's day: the projects the caller sees, each with its evidence and
    follow-ups (lagging first is the reader's choice: ``lagging_only``)."""
    label, goal, types = _group(group)
    on = runtime.clock.now().date()
    projects = [p for p in await _projects(session, group) if caller.sees_project(p)]
    ids = [p.id for p in projects]
    problems = await _approval_problems(session, ids)
    follow_ups = await _follow_ups(session, group, ids)
    lines = await line_names(session, on)
    items = []
    for p in projects:
        evidence = _late_milestones(p.snapshot, types, on) + problems.get(p.id, [])
        if lagging_only and not evidence:
            continue
        items.append(
            SupervisionEntry(
                project_id=p.id,
                project_name=p.name,
                responsible_unit_id=p.responsible_unit_id,
                responsible_unit_name=p.snapshot.get("responsible_unit_name", ""),
                line_id=p.line_id,
                line_name=lines.get(p.line_id) if p.line_id else None,
                total_investment=Decimal(p.snapshot["total_investment"]),
                status="lagging" if evidence else "on_track",
                evidence=evidence,
                follow_ups=follow_ups.get(p.id, []),
            )
        )
    return SupervisionList(group=group, label=label, goal=goal, as_of=on, items=items)


#: The groups in the policy's order.
ORDER: tuple[SupervisionGroup, ...] = ("preliminary", "new_start", "continuing", "completing")


async def groups(session: AsyncSession, runtime: IssuesRuntime, caller: Caller) -> list[GroupOut]:
    """The four groups with how many of the caller's projects each holds and how many of them lag."""
    out = []
    for group in ORDER:
        found = await supervision_list(session, runtime, caller, group)
        lagging = sum(1 for e in found.items if e.status == "lagging")
        out.append(
            GroupOut(
                group=group, label=found.label, goal=found.goal, projects=len(found.items), lagging=lagging
            )
        )
    return out


async def add_follow_up(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    group: SupervisionGroup,
    *,
    project_id: UUID,
    method: str,
    note: str,
) -> FollowUpOut:
    """督办记录: 督查室 records a follow-up (明查、暗访、实地核实 or a 督办通知) on a project of the group;
    409 ``not_in_group`` for a project that is not one of the group's ≥100M active projects."""
    _group(group)
    if not caller.supervises:
        raise Forbidden("只有区政府督查室可以记录督办", code="forbidden")
    project = (await session.execute(sa.select(project_copy).where(project_copy.c.id == project_id))).first()
    if project is None:
        raise NotFound("项目不存在或尚未同步", code="unknown_project")
    if project.id not in {p.id for p in await _projects(session, group)}:
        raise Conflict("该项目不在此督办分组（亿元以上、在库、项目类别相符）", code="not_in_group")
    row = (
        await session.execute(
            sa.insert(supervision_follow_up)
            .values(
                id=uuid.uuid4(),
                project_id=project_id,
                group=group,
                method=method,
                note=note,
                by_person_id=caller.principal.person_id,
                by_name=caller.name,
                at=runtime.clock.now(),
            )
            .returning(supervision_follow_up)
        )
    ).one()
    return FollowUpOut.model_validate(row, from_attributes=True)
