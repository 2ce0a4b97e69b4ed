"""Use cases of the approvals service: they change rows and stage events in the caller's transaction, never
commit and never speak HTTP (STYLE.md).

A plan is made from the catalogue when a project is registered (policy §三(一): 核准类 items in two waves,
备案类 items all in parallel), kept in step with ``project.changed``, and moved by officials through each
item's states. After every change the plan's verdict on the planned 开工 is recomputed
(:mod:`lkg.approvals.planning`); ``approval.start_at_risk`` is emitted when the verdict turns to "at risk".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import clocks as clockmod
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalItemChange, ApprovalPlan, CatalogueItem
from lkg.approvals.planning import PlanNode, Verdict, verdict
from lkg.approvals.units import find_unit, unit_id_or_placeholder
from lkg.common.auth import Principal, Reach, Role
from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import TZ, Clock
from lkg.common.events.contracts import (
    ApprovalAccepted,
    ApprovalClockKind,
    ApprovalGranted,
    ApprovalItemRef,
    ApprovalMode,
    ApprovalRejected,
    ApprovalStartAtRisk,
    ApprovalSubmitted,
    BudgetUnit,
    MilestoneType,
    ProjectSnapshot,
)
from lkg.common.events.outbox import stage
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, apply_updated_since, fetch_page
from lkg.common.http.problems import Conflict, Forbidden, NotFound

# ---- access (DESIGN §3; issue: a department updates the items it handles, a project's unit sees its plans,
# 行政审批局 and 重大项目办 see and manage all) --------------------------------------------------------------

MANAGERS = frozenset({Role.APPROVAL_BUREAU, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})
READERS = MANAGERS | {Role.TOP_LEADER, Role.SUPERVISION_OFFICE}


@dataclass(frozen=True)
class Caller:
    principal: Principal
    reach: Reach

    @property
    def manages_all(self) -> bool:
        return self.principal.has_role(*MANAGERS)

    @property
    def reads_all(self) -> bool:
        return self.principal.has_role(*READERS)

    @property
    def actor(self) -> str:
        return self.principal.key


def _plan_visible(caller: Caller, *, via_items: bool = True) -> sa.ColumnElement[bool]:
    """Plans the caller may read: its project's unit or line, or (``via_items``) a plan in which it handles
    an item. A department reads the whole plan of such a project, because in 并联审批 what holds up the start
    is the other departments' items; it acts only on its own (``_may_act``), and its work list
    (``/approval-items``) holds only its own items unless the project is also its unit's or line's."""
    if caller.reads_all:
        return sa.true()
    units, lines = list(caller.reach.units), list(caller.reach.lines)
    own = [ApprovalPlan.responsible_unit_id.in_(units), ApprovalPlan.line_id.in_(lines)]
    if not via_items:
        return sa.or_(*own)
    handles = sa.exists().where(
        ApprovalItem.plan_id == ApprovalPlan.id, ApprovalItem.handling_unit_id.in_(units)
    )
    return sa.or_(*own, handles)


def _sees_plan(caller: Caller, plan: ApprovalPlan, items: Sequence[ApprovalItem]) -> bool:
    if caller.reads_all:
        return True
    reach = caller.reach
    return (
        plan.responsible_unit_id in reach.units
        or (plan.line_id is not None and plan.line_id in reach.lines)
        or any(i.handling_unit_id in reach.units for i in items)
    )


#: Who may take each action: the handling department decides, the project's side applies.
DEPARTMENT_ACTIONS = frozenset({"accept", "request_supplement", "grant", "reject", "verify"})
APPLICANT_ACTIONS = frozenset({"submit", "resubmit", "withdraw"})


def _may_act(caller: Caller, plan: ApprovalPlan, item: ApprovalItem, action: str) -> bool:
    if caller.manages_all:
        return True
    if action in DEPARTMENT_ACTIONS or action == "edit":
        return item.handling_unit_id is not None and item.handling_unit_id in caller.reach.units
    return plan.responsible_unit_id in caller.reach.units


# ---- the catalogue -----


async def list_catalogue(session: AsyncSession) -> list[CatalogueItem]:
    return list((await session.scalars(sa.select(CatalogueItem).order_by(CatalogueItem.position))).all())


async def get_catalogue_item(session: AsyncSession, item_id: uuid.UUID) -> CatalogueItem:
    entry = await session.get(CatalogueItem, item_id)
    if entry is None:
        raise NotFound("审批事项目录中无此事项", code="catalogue_item_not_found")
    return entry


async def _check_prerequisites(session: AsyncSession, code: str, prerequisites: dict[str, list[str]]) -> None:
    """409, not 422: whether a prerequisite is acceptable depends on what the catalogue holds, which no
    request schema can say (a well-formed code the catalogue lacks; the item itself, the shortest cycle)."""
    known = set((await session.scalars(sa.select(CatalogueItem.code))).all()) | {code}
    unknown = sorted({c for codes in prerequisites.values() for c in codes} - known)
    if unknown:
        raise Conflict("前置事项不在目录中", code="unknown_prerequisite", extra={"unknown": unknown})
    if any(code in codes for codes in prerequisites.values()):
        raise Conflict("事项不能以自身为前置", code="prerequisite_cycle")


async def create_catalogue_item(session: AsyncSession, clock: Clock, values: dict[str, Any]) -> CatalogueItem:
    await _check_prerequisites(session, values["code"], values.get("prerequisites", {}))
    position = (
        await session.scalar(sa.select(sa.func.coalesce(sa.func.max(CatalogueItem.position), 0)))
    ) + 10
    entry = CatalogueItem(
        id=uuid.uuid4(), revision=1, position=position, source_version="api", updated_at=clock.now(), **values
    )
    session.add(entry)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("目录中已有此代码的事项", code="catalogue_code_taken") from exc
    return entry


async def update_catalogue_item(
    session: AsyncSession, clock: Clock, item_id: uuid.UUID, expected_revision: int, changes: dict[str, Any]
) -> CatalogueItem:
    entry = await get_catalogue_item(session, item_id)
    if "prerequisites" in changes:
        await _check_prerequisites(session, entry.code, changes["prerequisites"])
    await update_if_revision(
        session, CatalogueItem, item_id, expected_revision, {**changes, "updated_at": clock.now()}
    )
    entry = await get_catalogue_item(session, item_id)
    await session.refresh(entry)
    return entry


# ---- plans from the registry's events -----


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
        session.add(
            ApprovalItemChange(
                item_id=item.id,
                at=now,
                action="planned",
                from_state=None,
                to_state="planned",
                actor="system",
                note="由审批事项目录生成",
                details={"catalogue_item_id": str(entry.id)},
            )
        )
        items.append(item)
    await session.flush()
    return items


def _set_prereview(
    item: ApprovalItem, plan: ApprovalPlan, prereview_days: int, calendar: WorkingCalendar, today: date
) -> None:
    """批前提速 (§四(二)): every item is prepared and pre-reviewed in parallel, from the day the project
    joined the track; an item already applied for keeps its dates."""
    if plan.fast_track and item.prereview_from is None and item.state == "planned":
        item.prereview_from = today
        item.prereview_to = calendar.add_working_days(today, prereview_days)
    elif not plan.fast_track and item.prereview_from is not None:
        item.prereview_from = item.prereview_to = None


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
        items = await items_of(session, plan.id)
    plan.risk_check_at = now
    if plan.project_status != "active":
        await _close_plan(session, plan, items, now)
    return plan


def _project_fields(project: ProjectSnapshot) -> dict[str, Any]:
    return {
        "project_name": project.name,
        "responsible_unit_id": project.responsible_unit_id,
        "line_id": project.line_id,
        "project_class": project.project_class.value,
        "approval_type": project.approval_type.value if project.approval_type else None,
        "fast_track": project.fast_track,
        "project_status": project.status.value,
        "project_planned_start": planned_start_of(project),
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
            _record(session, item, "withdraw", "withdrawn", "system", now, "审批类型变更，本事项不再适用")
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


# ---- the verdict on the planned start -----


async def items_of(session: AsyncSession, plan_id: uuid.UUID) -> list[ApprovalItem]:
    return list(
        (
            await session.scalars(
                sa.select(ApprovalItem).where(ApprovalItem.plan_id == plan_id).order_by(ApprovalItem.position)
            )
        ).all()
    )


async def clocks_of(
    session: AsyncSession, item_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ApprovalClock]]:
    result: dict[uuid.UUID, list[ApprovalClock]] = {i: [] for i in item_ids}
    rows = await session.scalars(
        sa.select(ApprovalClock).where(ApprovalClock.item_id.in_(item_ids)).order_by(ApprovalClock.started_at)
    )
    for clock in rows:
        result[clock.item_id].append(clock)
    return result


def _limit_clock(clocks: Sequence[ApprovalClock]) -> ApprovalClock | None:
    limits = [
        c for c in clocks if c.kind == ApprovalClockKind.LIMIT.value and c.state in ("running", "breached")
    ]
    return limits[-1] if limits else None


def nodes_of(items: Sequence[ApprovalItem], clocks: dict[uuid.UUID, list[ApprovalClock]]) -> list[PlanNode]:
    nodes = []
    for item in items:
        limit = _limit_clock(clocks.get(item.id, []))
        due_on = None
        if limit is not None and limit.due_at is not None:
            due_on = clockmod.last_day(limit.due_at)
        nodes.append(
            PlanNode(
                code=item.code,
                name=item.name,
                state=item.state,
                mode=item.mode,
                limit_days=item.limit_days,
                limit_unit=item.limit_unit,
                prerequisites=tuple(item.prerequisites),
                start_gate=item.start_gate,
                decided_on=local_date(item.decided_at) if item.decided_at else None,
                clock_started_at=limit.started_at if limit is not None and item.state != "planned" else None,
                clock_pauses=tuple(clockmod.pauses_of(limit)) if limit is not None else (),
                due_on=due_on,
                prereview_to=item.prereview_to,
                prereviewed_days=item.prereviewed_days,
            )
        )
    return nodes


async def assess(
    session: AsyncSession, calendar: WorkingCalendar, plan: ApprovalPlan, now: datetime
) -> tuple[Verdict, list[ApprovalItem]]:
    items = await items_of(session, plan.id)
    clocks = await clocks_of(session, [i.id for i in items])
    nodes = nodes_of(items, clocks)
    return verdict(calendar, nodes, local_date(now), plan.planned_start, fast_track=plan.fast_track), items


async def reassess(
    session: AsyncSession, calendar: WorkingCalendar, plan: ApprovalPlan, now: datetime
) -> bool:
    """Recompute the verdict; emit ``approval.start_at_risk`` when it turns to "at risk". True if it did."""
    if plan.project_status != "active":
        plan.risk_check_at = None
        return False
    items = await items_of(session, plan.id)
    prereview = dict((await session.execute(sa.select(CatalogueItem.id, CatalogueItem.prereview_days))).all())
    for item in items:
        _set_prereview(item, plan, prereview.get(item.catalogue_item_id, 0), calendar, local_date(now))
    found, items = await assess(session, calendar, plan, now)
    became = found.at_risk and not plan.start_at_risk
    plan.earliest_start = found.outlook.earliest_start
    plan.start_at_risk = found.at_risk
    plan.risk_check_at = (
        datetime.combine(found.flips_on, time(0), tzinfo=TZ) if found.flips_on is not None else None
    )
    if became:
        by_code = {i.code: i for i in items}
        blocking = [by_code[code] for code in found.outlook.chain if not found.outlook.expected[code].done]
        await stage(
            session,
            ApprovalStartAtRisk(
                effective_at=now,
                project_id=plan.project_id,
                project_name=plan.project_name,
                responsible_unit_id=plan.responsible_unit_id,
                planned_start_date=found.planned_start,
                earliest_start_date=found.outlook.earliest_start,
                blocking_items=tuple(
                    ApprovalItemRef(
                        approval_item_id=i.id,
                        item_name=i.name,
                        handling_unit_id=unit_id_or_placeholder(i.handling_unit_id, i.handling_unit_name),
                        handling_unit_name=i.handling_unit_name,
                        expected_on=found.outlook.expected[i.code].finish,
                    )
                    for i in blocking
                ),
            ),
        )
    return became


async def mark_for_reassessment(
    session: AsyncSession,
    now: datetime,
    *,
    plan_ids: Sequence[uuid.UUID] | set[uuid.UUID] = (),
    from_day: date | None = None,
) -> None:
    """The working calendar under these plans changed (an official year loaded): the start-at-risk scan
    looks at them again at ``now`` (or sooner, if it was going to anyway). ``from_day``: every active plan
    whose earliest start falls on or after that day."""
    concerned = []
    if plan_ids:
        concerned.append(ApprovalPlan.id.in_(list(plan_ids)))
    if from_day is not None:
        concerned.append(ApprovalPlan.earliest_start >= from_day)
    if not concerned:
        return
    await session.execute(
        sa.update(ApprovalPlan)
        .where(sa.or_(*concerned), ApprovalPlan.project_status == "active")
        .values(risk_check_at=sa.func.least(sa.func.coalesce(ApprovalPlan.risk_check_at, now), now))
        .execution_options(synchronize_session=False)
    )


async def scan_risk(runtime: Any, until: datetime) -> int:
    """Look again at each plan whose verdict would flip by ``until`` if nothing moved (SKIP LOCKED)."""
    from lkg.common.scans import scan_due

    table = ApprovalPlan.__table__

    async def handle(session: AsyncSession, row: Any) -> bool:
        plan = await session.get(ApprovalPlan, row.id)
        assert plan is not None
        await reassess(session, runtime.calendar, plan, runtime.clock.now())
        await session.flush()
        return plan.risk_check_at is not None and plan.risk_check_at <= until

    return await scan_due(
        db=runtime.db,
        clock=runtime.clock,
        table=table,
        due_column=table.c.risk_check_at,
        until=until,
        handle=handle,
    )


# ---- queries -----

PLANS_BY_CREATED = Keyset(sort=ApprovalPlan.created_at, id=ApprovalPlan.id, name="created")
PLANS_BY_UPDATED = Keyset(sort=ApprovalPlan.updated_at, id=ApprovalPlan.id, name="updated")
ITEMS_BY_POSITION = Keyset(sort=ApprovalItem.updated_at, id=ApprovalItem.id, name="updated")


async def list_plans(
    session: AsyncSession,
    caller: Caller,
    page: PageParams,
    *,
    project_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> tuple[list[ApprovalPlan], str | None]:
    stmt = sa.select(ApprovalPlan).where(_plan_visible(caller))
    if project_id is not None:
        stmt = stmt.where(ApprovalPlan.project_id == project_id)
    keyset = PLANS_BY_UPDATED if updated_since is not None else PLANS_BY_CREATED
    stmt = apply_updated_since(stmt, ApprovalPlan.updated_at, updated_since)
    return await fetch_page(session, stmt, keyset, page)


async def get_plan(
    session: AsyncSession, caller: Caller, plan_id: uuid.UUID
) -> tuple[ApprovalPlan, list[ApprovalItem]]:
    plan = await session.get(ApprovalPlan, plan_id)
    items = await items_of(session, plan_id) if plan is not None else []
    if plan is None or not _sees_plan(caller, plan, items):
        raise NotFound("审批计划不存在", code="approval_plan_not_found")
    return plan, items


async def get_item(
    session: AsyncSession, caller: Caller, item_id: uuid.UUID
) -> tuple[ApprovalItem, ApprovalPlan]:
    item = await session.get(ApprovalItem, item_id)
    plan = await session.get(ApprovalPlan, item.plan_id) if item is not None else None
    if item is None or plan is None:
        raise NotFound("审批事项不存在", code="approval_item_not_found")
    if not caller.reads_all and not _sees_plan(caller, plan, [item]):
        siblings = await items_of(session, plan.id)
        if not _sees_plan(caller, plan, siblings):
            raise NotFound("审批事项不存在", code="approval_item_not_found")
    return item, plan


async def history_of(session: AsyncSession, item_id: uuid.UUID) -> list[ApprovalItemChange]:
    return list(
        (
            await session.scalars(
                sa.select(ApprovalItemChange)
                .where(ApprovalItemChange.item_id == item_id)
                .order_by(ApprovalItemChange.at, ApprovalItemChange.id)
            )
        ).all()
    )


async def update_plan(
    session: AsyncSession,
    caller: Caller,
    calendar: WorkingCalendar,
    clock: Clock,
    plan: ApprovalPlan,
    expected_revision: int,
    changes: dict[str, Any],
) -> ApprovalPlan:
    if not caller.manages_all and plan.responsible_unit_id not in caller.reach.units:
        raise Forbidden("只有项目责任单位、行政审批局或重大项目办可修改审批计划")
    now = clock.now()
    await update_if_revision(
        session, ApprovalPlan, plan.id, expected_revision, {**changes, "updated_at": now}
    )
    await session.refresh(plan)
    await reassess(session, calendar, plan, now)
    return plan


async def update_item(
    session: AsyncSession,
    caller: Caller,
    calendar: WorkingCalendar,
    clock: Clock,
    item: ApprovalItem,
    plan: ApprovalPlan,
    expected_revision: int,
    changes: dict[str, Any],
) -> ApprovalItem:
    """Edit an item (mode, department, documents, notes, prerequisites), with a history entry."""
    if not _may_act(caller, plan, item, "edit"):
        raise Forbidden("只有承办部门、行政审批局或重大项目办可修改此审批事项")
    if "mode" in changes and changes["mode"] != item.mode:
        entry = await session.get(CatalogueItem, item.catalogue_item_id)
        if entry is not None and changes["mode"] not in entry.modes:
            # 409 like the other state checks: the catalogue entry, not the request, decides.
            raise Conflict(
                "该事项不适用此审批模式", code="mode_not_allowed", extra={"allowed": list(entry.modes)}
            )
        if item.state in ("granted", "rejected", "withdrawn"):
            raise Conflict("已办结的事项不能更改审批模式", code="invalid_transition")
    if "prerequisites" in changes:
        codes = {i.code for i in await items_of(session, plan.id)}
        unknown = sorted(set(changes["prerequisites"]) - codes)
        if unknown or item.code in changes["prerequisites"]:
            raise Conflict(
                "前置事项须为本计划中的其他事项", code="unknown_prerequisite", extra={"unknown": unknown}
            )
    now = clock.now()
    details = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in changes.items()}
    await update_if_revision(
        session, ApprovalItem, item.id, expected_revision, {**changes, "updated_at": now}
    )
    await session.refresh(item)
    session.add(
        ApprovalItemChange(
            item_id=item.id,
            at=now,
            action="edit",
            from_state=item.state,
            to_state=item.state,
            actor=caller.actor,
            note=None,
            details=details,
        )
    )
    await session.flush()
    await reassess(session, calendar, plan, now)
    return item


# ---- the item's state machine -----

#: action -> (states it may start from, state it leads to); policy §三(一) and the issue's life cycle.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"planned", "rejected", "withdrawn"}), "submitted"),
    "accept": (frozenset({"submitted"}), "accepted"),
    "request_supplement": (frozenset({"accepted", "resubmitted"}), "supplement_requested"),
    "resubmit": (frozenset({"supplement_requested"}), "resubmitted"),
    "grant": (frozenset({"accepted", "resubmitted"}), "granted"),
    "reject": (frozenset({"submitted", "accepted", "resubmitted"}), "rejected"),
    "withdraw": (
        frozenset({"planned", "submitted", "accepted", "supplement_requested", "resubmitted"}),
        "withdrawn",
    ),
    "verify": (frozenset({"granted"}), "granted"),
}


def _record(
    session: AsyncSession,
    item: ApprovalItem,
    action: str,
    to_state: str,
    actor: str,
    now: datetime,
    note: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        ApprovalItemChange(
            item_id=item.id,
            at=now,
            action=action,
            from_state=item.state,
            to_state=to_state,
            actor=actor,
            note=note,
            details=details or {},
        )
    )


async def act(
    session: AsyncSession,
    *,
    caller: Caller,
    clock: Clock,
    calendar: WorkingCalendar,
    due_soon_share: float,
    item: ApprovalItem,
    plan: ApprovalPlan,
    expected_revision: int,
    action: str,
    note: str | None = None,
    document_refs: Sequence[str] = (),
    certificate_no: str | None = None,
    reason: str | None = None,
) -> ApprovalItem:
    """Move an item one step; one of two officials acting at once wins (the other gets 412)."""
    if not _may_act(caller, plan, item, action):
        who = "承办部门" if action in DEPARTMENT_ACTIONS else "项目责任单位"
        raise Forbidden(f"只有{who}、行政审批局或重大项目办可执行此操作")
    if plan.project_status != "active":
        raise Conflict("项目已终止，审批计划已关闭", code="plan_closed")
    sources, target = TRANSITIONS[action]
    commitment_grant = (
        action == "grant" and item.mode == ApprovalMode.COMMITMENT.value and item.state == "submitted"
    )
    if item.state not in sources and not commitment_grant:
        raise Conflict(
            f"事项当前状态（{item.state}）不允许此操作",
            code="invalid_transition",
            extra={"state": item.state, "action": action},
        )
    now = clock.now()
    values: dict[str, Any] = {"state": target, "updated_at": now}
    if document_refs:
        values["document_refs"] = [*item.document_refs, *document_refs]
    if action == "submit":
        values.update(submitted_at=now, accepted_at=None, decided_at=None, certificate_no=None)
    elif action == "accept":
        values["accepted_at"] = now
    elif action in ("grant", "reject"):
        values["decided_at"] = now
        if certificate_no is not None:
            values["certificate_no"] = certificate_no
    if note is not None and action != "verify":
        values["notes"] = note
    state_before = item.state
    await update_if_revision(session, ApprovalItem, item.id, expected_revision, values)
    await session.refresh(item)
    item_clocks = (await clocks_of(session, [item.id]))[item.id]
    limit = _limit_clock(item_clocks)
    events: list[Any] = []
    fact = clockmod.item_fact(item, plan, now)
    verification_due = None
    if action == "submit":
        events.append(ApprovalSubmitted(**fact))
    elif action == "accept":
        limit = clockmod.start_clock(
            session,
            item=item,
            kind=ApprovalClockKind.LIMIT,
            started_at=now,
            budget=item.limit_days,
            unit=item.limit_unit,
            calendar=calendar,
            due_soon_share=due_soon_share,
        )
        events.append(
            ApprovalAccepted(
                **fact,
                due_at=limit.due_at,
                budget=limit.budget,
                budget_unit=BudgetUnit(limit.unit),
                provisional=limit.provisional,
            )
        )
    elif action == "request_supplement" and limit is not None:
        limit.pauses = [*limit.pauses, {"started_at": now.isoformat(), "ended_at": None}]
        clockmod.refresh(limit, calendar, due_soon_share)
    elif action == "resubmit" and limit is not None:
        limit.pauses = [
            {**p, "ended_at": now.isoformat()} if p.get("ended_at") is None else p for p in limit.pauses
        ]
        clockmod.refresh(limit, calendar, due_soon_share)
    elif action in ("grant", "reject", "withdraw"):
        if limit is not None:
            if limit.state == "running":
                limit.state = "met" if action == "grant" else "cancelled"
            limit.ended_at = now
            limit.next_at = None
        if action == "grant" and item.mode in (ApprovalMode.COMMITMENT.value, ApprovalMode.BUILD_FIRST.value):
            entry = await session.get(CatalogueItem, item.catalogue_item_id)
            commitment = item.mode == ApprovalMode.COMMITMENT.value
            kind = ApprovalClockKind.VERIFICATION if commitment else ApprovalClockKind.INSPECTION
            budget = (entry.verification_days if commitment else entry.inspection_days) if entry else 20
            unit = (entry.verification_unit if commitment else entry.inspection_unit) if entry else "working"
            obligation = clockmod.start_clock(
                session,
                item=item,
                kind=kind,
                started_at=now,
                budget=budget,
                unit=unit,
                calendar=calendar,
                due_soon_share=due_soon_share,
            )
            verification_due = obligation.due_at
        if action == "grant":
            events.append(
                ApprovalGranted(
                    **fact,
                    certificate_no=item.certificate_no,
                    verification_due_on=clockmod.last_day(verification_due) if verification_due else None,
                )
            )
        elif action == "reject":
            events.append(ApprovalRejected(**fact, reason=reason or note or "不予许可"))
    elif action == "verify":
        open_obligations = [
            c
            for c in item_clocks
            if c.kind != ApprovalClockKind.LIMIT.value and c.state in ("running", "breached")
        ]
        if not open_obligations:
            raise Conflict("此事项没有待核验的承诺或验收", code="invalid_transition")
        for obligation in open_obligations:
            if obligation.state == "running":
                obligation.state = "met"
            obligation.ended_at = now
            obligation.next_at = None
    item.state = target
    session.add(
        ApprovalItemChange(
            item_id=item.id,
            at=now,
            action=action,
            from_state=state_before,
            to_state=target,
            actor=caller.actor,
            note=note or reason,
            details={
                k: v
                for k, v in {"document_refs": list(document_refs), "certificate_no": certificate_no}.items()
                if v
            },
        )
    )
    for event in events:
        await stage(session, event)
    await session.flush()
    await reassess(session, calendar, plan, now)
    return item
