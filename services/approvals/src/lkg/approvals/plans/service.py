"""Use cases of a project's approval plan (审批计划): made from the catalogue when the project is registered
(policy §三(一): 核准类 items in two waves, 备案类 items all in parallel), kept in step with the registry's
snapshots, read and changed by officials.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller, may_apply, plan_visible, sees_plan
from lkg.approvals.assessments.apply import apply_to_plan, site_of_snapshot
from lkg.approvals.catalogue.service import list_catalogue
from lkg.approvals.items.service import record_change
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalPlan, CatalogueItem
from lkg.approvals.risk import items_of, reassess
from lkg.approvals.units import find_unit
from lkg.common.access import permitted, visible
from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import Clock
from lkg.common.events.contracts import ApprovalMode, MilestoneType, ProjectSnapshot
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, apply_updated_since, fetch_page
from lkg.common.http.problems import NotFound

# ---- plans from the registry's snapshots -----


def planned_start_of(project: ProjectSnapshot) -> date | None:
    milestone = project.milestone(MilestoneType.CONSTRUCTION_START)
    return milestone.planned_date if milestone is not None else None


def _applies(entry: CatalogueItem, approval_type: str | None) -> bool:
    return approval_type is not None and approval_type in entry.applies_to


async def _add_items(
    session: AsyncSession,
    plan: ApprovalPlan,
    entries: Sequence[CatalogueItem],
    now: datetime,
) -> list[ApprovalItem]:
    today = local_date(now)
    items = []
    for entry in entries:
        unit_id, unit_name = entry.handling_unit_id, entry.handling_unit_name
        if unit_id is None:
            found = await find_unit(session, entry.handling_unit_role, entry.handling_unit_name, today)
            if found is not None:
                unit_id, unit_name = found
        item = ApprovalItem(
            id=uuid.uuid4(),
            revision=1,
            plan_id=plan.id,
            project_id=plan.project_id,
            catalogue_item_id=entry.id,
            code=entry.code,
            name=entry.name,
            handling_unit_id=unit_id,
            handling_unit_name=unit_name,
            state="planned",
            mode=ApprovalMode.STANDARD.value,
            limit_days=entry.limit_days,
            limit_unit=entry.limit_unit,
            prerequisites=list(entry.prerequisites.get(plan.approval_type or "", [])),
            start_gate=entry.start_gate,
            report_column=entry.report_column,
            prereviewed_days=entry.prereviewed_days,
            document_refs=[],
            position=entry.position,
            updated_at=now,
        )
        session.add(item)
        record_change(
            session,
            item,
            action="planned",
            from_state=None,
            to_state="planned",
            actor="system",
            at=now,
            note="由审批事项目录生成",
            details={"catalogue_item_id": str(entry.id)},
        )
        items.append(item)
    await session.flush()
    return items


async def plan_for_project(session: AsyncSession, *, project: ProjectSnapshot, revision: int) -> ApprovalPlan:
    """``project.registered`` / ``project.changed``: create the plan, or bring it in step (idempotent: an
    older or repeated snapshot changes nothing). The time is the change's time on the shared clock.

    The verdict on the planned start needs the working calendar, which lives on the runtime, so the plan is
    marked for the risk scan (``risk_check_at`` = now) and assessed there, at this same instant."""
    now = project.effective_at
    plan = await session.scalar(
        sa.select(ApprovalPlan).where(ApprovalPlan.project_id == project.id).with_for_update()
    )
    catalogue = await list_catalogue(session)
    if plan is None:
        plan = ApprovalPlan(
            id=uuid.uuid4(),
            revision=1,
            project_id=project.id,
            project_revision=revision,
            created_at=now,
            start_at_risk=False,
            **_project_fields(project),
            updated_at=now,
        )
        session.add(plan)
        await session.flush()
        await _add_items(session, plan, [e for e in catalogue if _applies(e, plan.approval_type)], now)
        await apply_to_plan(session, plan, now)
        plan.risk_check_at = now
        return plan
    if revision <= plan.project_revision:
        return plan
    before_type = plan.approval_type
    for key, value in _project_fields(project).items():
        setattr(plan, key, value)
    plan.project_revision = revision
    plan.revision += 1
    plan.updated_at = now
    items = await items_of(session, plan.id)
    if plan.approval_type != before_type:
        await _follow_approval_type(session, plan, items, catalogue, now)
    # The site may have moved into (or out of) an assessed area; new items may be covered.
    await apply_to_plan(session, plan, now)
    items = await items_of(session, plan.id)
    plan.risk_check_at = now
    if plan.project_status != "active":
        await _close_plan(session, plan, items, now)
    return plan


def _project_fields(project: ProjectSnapshot) -> dict[str, Any]:
    site = site_of_snapshot(project)
    return {
        "project_name": project.name,
        "responsible_unit_id": project.responsible_unit_id,
        "line_id": project.line_id,
        "project_class": project.project_class.value,
        "approval_type": project.approval_type.value if project.approval_type else None,
        "fast_track": project.fast_track,
        "project_status": project.status.value,
        "project_planned_start": planned_start_of(project),
        "site_street_id": site.street_id,
        "site_park": site.park,
        "site_plot": site.plot,
        "agent_person_id": project.agent_id,
    }


async def _follow_approval_type(
    session: AsyncSession,
    plan: ApprovalPlan,
    items: Sequence[ApprovalItem],
    catalogue: Sequence[CatalogueItem],
    now: datetime,
) -> None:
    """The project changed between 核准类 and 备案类: add what now applies, withdraw untouched items that no
    longer apply, and take each item's prerequisites for the new type."""
    have = {i.code: i for i in items}
    by_code = {e.code: e for e in catalogue}
    for item in items:
        entry = by_code.get(item.code)
        item.prerequisites = list(entry.prerequisites.get(plan.approval_type or "", [])) if entry else []
        if entry is not None and not _applies(entry, plan.approval_type) and item.state == "planned":
            record_change(
                session,
                item,
                action="withdraw",
                to_state="withdrawn",
                actor="system",
                at=now,
                note="审批类型变更，本事项不再适用",
            )
            item.state = "withdrawn"
            item.revision += 1
            item.updated_at = now
    missing = [e for e in catalogue if _applies(e, plan.approval_type) and e.code not in have]
    await _add_items(session, plan, missing, now)


async def _close_plan(
    session: AsyncSession, plan: ApprovalPlan, items: Sequence[ApprovalItem], now: datetime
) -> None:
    """A terminated project's clocks stop (nothing more can stall)."""
    ids = [i.id for i in items]
    await session.execute(
        sa.update(ApprovalClock)
        .where(ApprovalClock.item_id.in_(ids), ApprovalClock.state == "running")
        .values(state="cancelled", next_at=None, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    plan.risk_check_at = None


# ---- reading and changing a plan -----

PLANS_BY_CREATED = Keyset(sort=ApprovalPlan.created_at, id=ApprovalPlan.id, name="created")
PLANS_BY_UPDATED = Keyset(sort=ApprovalPlan.updated_at, id=ApprovalPlan.id, name="updated")


async def list_plans(
    session: AsyncSession,
    *,
    caller: Caller,
    page: PageParams,
    project_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> tuple[list[ApprovalPlan], str | None]:
    stmt = sa.select(ApprovalPlan).where(plan_visible(caller))
    if project_id is not None:
        stmt = stmt.where(ApprovalPlan.project_id == project_id)
    keyset = PLANS_BY_UPDATED if updated_since is not None else PLANS_BY_CREATED
    stmt = apply_updated_since(stmt, ApprovalPlan.updated_at, updated_since)
    return await fetch_page(session, stmt, keyset, page)


async def get_plan(
    session: AsyncSession, *, caller: Caller, plan_id: uuid.UUID
) -> tuple[ApprovalPlan, list[ApprovalItem]]:
    """A plan the caller may see, with its items (404 for one it may not: the same answer as for none)."""
    found = await session.get(ApprovalPlan, plan_id)
    items = await items_of(session, plan_id) if found is not None else []
    hidden = NotFound("审批计划不存在", code="approval_plan_not_found")
    return visible(found, lambda plan: sees_plan(caller, plan, items), hidden), items


async def update_plan(
    session: AsyncSession,
    *,
    caller: Caller,
    calendar: WorkingCalendar,
    clock: Clock,
    plan: ApprovalPlan,
    expected_revision: int,
    changes: dict[str, Any],
) -> ApprovalPlan:
    """The plan's own target start (``planned_start_override``), then its verdict on the start again."""
    permitted(may_apply(caller, plan), "只有项目责任单位、行政审批局或重大项目办可修改审批计划")
    now = clock.now()
    await update_if_revision(
        session, ApprovalPlan, plan.id, expected_revision, {**changes, "updated_at": now}
    )
    await session.refresh(plan)
    await reassess(session, calendar, plan, now)
    return plan
