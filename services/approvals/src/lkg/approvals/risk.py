"""The verdict on a plan's planned 开工 (start at risk), kept current after every change.

After each change to a plan or one of its items, and when the start-at-risk scan comes to it, the plan's
earliest possible start is computed again (:mod:`lkg.approvals.planning`) and the plan stores the verdict and
the first day on which it would flip if nothing moved (``risk_check_at``); ``approval.start_at_risk`` is
emitted when the verdict turns to "at risk".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.clocks import (
    CLOCK_FIELDS,
    ClockFields,
    ClockRow,
    clocks_of,
    day_unit,
    last_day,
    limit_clock,
    pauses_of,
)
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalPlan, CatalogueItem
from lkg.approvals.planning import PlanNode, Verdict, verdict
from lkg.approvals.units import unit_id_or_placeholder
from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import TZ
from lkg.common.events.contracts import ApprovalItemRef, ApprovalStartAtRisk
from lkg.common.events.outbox import stage


class ItemFields(Protocol):
    """What the verdict reads of an item: an ``ApprovalItem``, or a row of its table."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def catalogue_item_id(self) -> uuid.UUID: ...
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def handling_unit_id(self) -> uuid.UUID | None: ...
    @property
    def handling_unit_name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def limit_days(self) -> int: ...
    @property
    def limit_unit(self) -> str: ...
    @property
    def prerequisites(self) -> list[str]: ...
    @property
    def start_gate(self) -> bool: ...
    @property
    def decided_at(self) -> datetime | None: ...
    @property
    def prereview_from(self) -> date | None: ...
    @property
    def prereview_to(self) -> date | None: ...
    @property
    def prereviewed_days(self) -> int: ...
    @property
    def limit_saved_days(self) -> int: ...


def _takes_prereview(item: ItemFields, plan: ApprovalPlan) -> bool:
    """:func:`_set_prereview` gives ``item`` its pre-review dates now (the one case that reads the days)."""
    return plan.fast_track and item.prereview_from is None and item.state == "planned"


def _changes_prereview(item: ItemFields, plan: ApprovalPlan) -> bool:
    """:func:`_set_prereview` changes ``item``: gives it its pre-review dates, or takes them away."""
    return _takes_prereview(item, plan) or (not plan.fast_track and item.prereview_from is not None)


def _set_prereview(
    item: ApprovalItem, plan: ApprovalPlan, prereview_days: int, calendar: WorkingCalendar, today: date
) -> None:
    """批前提速 (§四(二)): every item is prepared and pre-reviewed in parallel, from the day the project
    joined the track; an item already applied for keeps its dates."""
    if _takes_prereview(item, plan):
        item.prereview_from = today
        item.prereview_to = calendar.add_working_days(today, prereview_days)
    elif _changes_prereview(item, plan):
        item.prereview_from = item.prereview_to = None


async def items_of(session: AsyncSession, plan_id: uuid.UUID) -> list[ApprovalItem]:
    return list(
        (
            await session.scalars(
                sa.select(ApprovalItem).where(ApprovalItem.plan_id == plan_id).order_by(ApprovalItem.position)
            )
        ).all()
    )


def nodes_of(
    items: Sequence[ItemFields], clocks: Mapping[uuid.UUID, Sequence[ClockFields]]
) -> list[PlanNode]:
    nodes = []
    for item in items:
        limit = limit_clock(clocks.get(item.id, []))
        due_on = None
        if limit is not None and limit.due_at is not None:
            due_on = last_day(limit.due_at)
        nodes.append(
            PlanNode(
                code=item.code,
                name=item.name,
                state=item.state,
                mode=item.mode,
                limit_days=item.limit_days,
                limit_unit=day_unit(item.limit_unit),
                prerequisites=tuple(item.prerequisites),
                start_gate=item.start_gate,
                decided_on=local_date(item.decided_at) if item.decided_at else None,
                clock_started_at=limit.started_at if limit is not None and item.state != "planned" else None,
                clock_pauses=tuple(pauses_of(limit)) if limit is not None else (),
                due_on=due_on,
                prereview_to=item.prereview_to,
                prereviewed_days=item.prereviewed_days,
                limit_saved_days=item.limit_saved_days,
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


def _items_with_clocks() -> sa.Select[Any]:
    item_t, clock_t = ApprovalItem.__table__, ApprovalClock.__table__
    return (
        sa.select(item_t, *(clock_t.c[name].label(f"clock_{name}") for name in CLOCK_FIELDS))
        .select_from(item_t.outerjoin(clock_t, clock_t.c.item_id == item_t.c.id))
        .where(item_t.c.plan_id == sa.bindparam("plan_id"))
        .order_by(item_t.c.position, clock_t.c.started_at)
    )


#: A plan's items (in their order) with their clocks (oldest first), one row per clock; built once, so that
#: SQLAlchemy neither builds it nor computes its cache key again on each reassessment.
_ITEMS_WITH_CLOCKS = _items_with_clocks()


async def reassess(
    session: AsyncSession, calendar: WorkingCalendar, plan: ApprovalPlan, now: datetime
) -> bool:
    """Recompute the verdict; emit ``approval.start_at_risk`` when it turns to "at risk". True if it did."""
    if plan.project_status != "active":
        plan.risk_check_at = None
        return False
    # The plan's items and their clocks are read as rows (Core), in one statement, not loaded as ORM
    # objects: the verdict only reads them. What is pending is flushed first, as the ORM's autoflush would
    # before a query.
    await session.flush()
    rows = await session.execute(_ITEMS_WITH_CLOCKS, {"plan_id": plan.id})
    by_id: dict[uuid.UUID, ItemFields] = {}
    clocks: dict[uuid.UUID, list[ClockFields]] = {}
    for row in rows:
        by_id.setdefault(row.id, row)
        held = clocks.setdefault(row.id, [])
        if row.clock_id is not None:
            held.append(ClockRow(**{name: getattr(row, f"clock_{name}") for name in CLOCK_FIELDS}))
    items: Sequence[ItemFields] = list(by_id.values())
    if any(_changes_prereview(item, plan) for item in items):
        # An item takes its pre-review dates or loses them: load the items to change them (rare: most
        # changes find every item's dates already as they should be).
        loaded = await items_of(session, plan.id)
        prereview: dict[uuid.UUID, int] = {}
        if any(_takes_prereview(item, plan) for item in loaded):
            prereview = dict(
                (await session.execute(sa.select(CatalogueItem.id, CatalogueItem.prereview_days))).all()
            )
        for item in loaded:
            _set_prereview(item, plan, prereview.get(item.catalogue_item_id, 0), calendar, local_date(now))
        items = loaded
    found = verdict(
        calendar, nodes_of(items, clocks), local_date(now), plan.planned_start, fast_track=plan.fast_track
    )
    became = found.at_risk and not plan.start_at_risk
    plan.earliest_start = found.outlook.earliest_start
    plan.start_at_risk = found.at_risk
    plan.risk_check_at = (
        datetime.combine(found.flips_on, time(0), tzinfo=TZ) if found.flips_on is not None else None
    )
    if became and found.planned_start is not None:  # at risk only against a planned start
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
    concerned: list[sa.ColumnElement[bool]] = []
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
