"""Use cases of a plan's items (审批事项): read one, list a department's work, read its history, edit it.

Moving an item through its states is :mod:`lkg.approvals.items.actions`, one function per action.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import schemas
from lkg.approvals.access import Caller, items_visible, may_decide, sees_plan
from lkg.approvals.clocks import CLOCK_FIELDS, ClockRow
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalItemChange, ApprovalPlan, CatalogueItem
from lkg.approvals.risk import items_of, reassess
from lkg.common.access import permitted, visible
from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import Clock
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, NotFound

#: An item applied for and not yet decided.
IN_PROGRESS = ("submitted", "accepted", "supplement_requested", "resubmitted")
#: The states from which nothing moves any more (their mode stays as it was decided).
DECIDED = ("granted", "rejected", "withdrawn", "waived")

ITEMS_BY_UPDATED = Keyset(sort=ApprovalItem.updated_at, id=ApprovalItem.id, name="updated")


def overdue(now: datetime) -> sa.ColumnElement[bool]:
    """An item with a clock past its due time at ``now`` (breached, or due and not scanned yet)."""
    c = ApprovalClock
    return sa.exists().where(
        c.item_id == ApprovalItem.id,
        sa.or_(
            sa.and_(c.state == "breached", c.ended_at.is_(None)),
            sa.and_(c.state == "running", c.due_at <= now),
        ),
    )


def due_soon(now: datetime) -> sa.ColumnElement[bool]:
    """An item with a running clock past its warning at ``now`` and not yet due."""
    c = ApprovalClock
    return sa.exists().where(
        c.item_id == ApprovalItem.id, c.state == "running", c.warn_at <= now, c.due_at > now
    )


def record_change(
    session: AsyncSession,
    item: ApprovalItem,
    *,
    action: str,
    to_state: str,
    actor: str,
    at: datetime,
    note: str | None = None,
    details: dict[str, Any] | None = None,
    from_state: str | None = None,
) -> None:
    """A line of the item's history (append-only): who did what, when, from which state to which
    (``from_state`` defaults to the item's state now)."""
    session.add(
        ApprovalItemChange(
            item_id=item.id,
            at=at,
            action=action,
            from_state=item.state if from_state is None else from_state,
            to_state=to_state,
            actor=actor,
            note=note,
            details=details or {},
        )
    )


async def get_item(
    session: AsyncSession, *, caller: Caller, item_id: uuid.UUID
) -> tuple[ApprovalItem, ApprovalPlan]:
    """An item the caller may see, with its plan (404 for one it may not: the same answer as for none)."""
    hidden = NotFound("审批事项不存在", code="approval_item_not_found")
    found = (
        await session.execute(
            sa.select(ApprovalItem, ApprovalPlan)
            .join(ApprovalPlan, ApprovalPlan.id == ApprovalItem.plan_id)
            .where(ApprovalItem.id == item_id)
        )
    ).one_or_none()
    item, plan = visible(found, True, hidden)
    # Seen through the item itself (its department) or else through the whole plan (its unit, its line,
    # or a sibling item the caller handles).
    visible(plan, sees_plan(caller, plan, [item]) or await _handles_sibling(session, caller, plan.id), hidden)
    return item, plan


#: An item with its plan and its clocks (oldest first), one row per clock; built once (no statement built and
#: no cache key computed per action).
_ITEM_TO_ACT = (
    sa.select(ApprovalItem, ApprovalPlan, ApprovalClock)
    .join(ApprovalPlan, ApprovalPlan.id == ApprovalItem.plan_id)
    .outerjoin(ApprovalClock, ApprovalClock.item_id == ApprovalItem.id)
    .where(ApprovalItem.id == sa.bindparam("item_id"))
    .order_by(ApprovalClock.started_at)
)


async def get_item_to_act(
    session: AsyncSession, *, caller: Caller, item_id: uuid.UUID
) -> tuple[ApprovalItem, ApprovalPlan, list[ApprovalClock]]:
    """:func:`get_item` for an action: the item the caller may see, its plan and its clocks (oldest first),
    in one statement."""
    hidden = NotFound("审批事项不存在", code="approval_item_not_found")
    rows = (await session.execute(_ITEM_TO_ACT, {"item_id": item_id})).all()
    item, plan, _clock = visible(rows[0] if rows else None, True, hidden)
    visible(plan, sees_plan(caller, plan, [item]) or await _handles_sibling(session, caller, plan.id), hidden)
    return item, plan, [clock for _item, _plan, clock in rows if clock is not None]


async def _handles_sibling(session: AsyncSession, caller: Caller, plan_id: uuid.UUID) -> bool:
    """The caller handles some item of the plan (what :func:`sees_plan` asks of the plan's items), asked of
    the database rather than by loading them."""
    t = ApprovalItem.__table__
    handled = sa.exists().where(t.c.plan_id == plan_id, t.c.handling_unit_id.in_(list(caller.reach.units)))
    return bool(await session.scalar(sa.select(handled)))


#: The item's fields on the API (``GET /approval-items/{id}``), each a column of ``approval_item``.
ITEM_FIELDS = tuple(
    name for name in schemas.ItemOut.model_fields if name not in ("expected_finish", "clocks")
)


def _read_sql() -> str:
    """The item read as one fixed statement: the item's fields, its plan's columns that decide who sees it,
    and its clocks (one row each, oldest first; one row with no clock when it has none)."""
    item, plan, clock = (m.__tablename__ for m in (ApprovalItem, ApprovalPlan, ApprovalClock))
    columns = [f"i.{name}" for name in ITEM_FIELDS]
    columns += ["p.responsible_unit_id AS plan_responsible_unit_id", "p.line_id AS plan_line_id"]
    columns += [f"c.{name} AS clock_{name}" for name in CLOCK_FIELDS]
    return (
        f"SELECT {', '.join(columns)} FROM {item} AS i JOIN {plan} AS p ON p.id = i.plan_id "
        f"LEFT JOIN {clock} AS c ON c.item_id = i.id WHERE i.id = $1 ORDER BY c.started_at"
    )


_READ_SQL = _read_sql()
_HANDLES_SIBLING_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {ApprovalItem.__tablename__} "
    "WHERE plan_id = $1 AND handling_unit_id = ANY($2::uuid[]))"
)


@dataclass(frozen=True)
class ItemRead:
    """An item as read for the API: its fields (:data:`ITEM_FIELDS`) and its clocks, oldest first."""

    fields: dict[str, Any]
    clocks: list[ClockRow]


async def read_item(driver: asyncpg.Connection, *, caller: Caller, item_id: uuid.UUID) -> ItemRead:
    """:func:`get_item` for a read, with the same visibility (404 for an item the caller may not see): one
    statement sent by the driver outside a transaction (at READ COMMITTED every statement reads its own
    snapshot, so one statement reads the same in a transaction or not), no ORM objects; a second only when
    the caller sees the item through a sibling item it handles."""
    hidden = NotFound("审批事项不存在", code="approval_item_not_found")
    rows = await driver.fetch(_READ_SQL, item_id)
    row = visible(rows[0] if rows else None, True, hidden)
    if not caller.sees_all:
        reach = caller.reach
        sees = (
            row["handling_unit_id"] in reach.units
            or row["plan_responsible_unit_id"] in reach.units
            or (row["plan_line_id"] is not None and row["plan_line_id"] in reach.lines)
        )
        if not sees:
            units = list(reach.units)
            visible(row, bool(await driver.fetchval(_HANDLES_SIBLING_SQL, row["plan_id"], units)), hidden)
    clocks = [
        ClockRow(**{name: r[f"clock_{name}"] for name in CLOCK_FIELDS})
        for r in rows
        if r["clock_id"] is not None
    ]
    return ItemRead(fields={name: row[name] for name in ITEM_FIELDS}, clocks=clocks)


async def list_items(
    session: AsyncSession,
    *,
    caller: Caller,
    page: PageParams,
    now: datetime,
    handling_unit_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    status: str | None = None,
) -> tuple[list[ApprovalItem], str | None]:
    """A department's work list: open, due soon, overdue or waiting for a supplement."""
    stmt = sa.select(ApprovalItem).where(items_visible(caller))
    if handling_unit_id is not None:
        stmt = stmt.where(ApprovalItem.handling_unit_id == handling_unit_id)
    if project_id is not None:
        stmt = stmt.where(ApprovalItem.project_id == project_id)
    if status == "open":
        stmt = stmt.where(ApprovalItem.state.in_(IN_PROGRESS))
    elif status == "overdue":
        stmt = stmt.where(ApprovalItem.state.in_((*IN_PROGRESS, "granted")), overdue(now))
    elif status == "due_soon":
        stmt = stmt.where(due_soon(now))
    elif status == "paused":
        stmt = stmt.where(ApprovalItem.state == "supplement_requested")
    return await fetch_page(session, stmt, ITEMS_BY_UPDATED, page)


async def history_of(
    session: AsyncSession, *, caller: Caller, item_id: uuid.UUID
) -> list[ApprovalItemChange]:
    """Every change of an item the caller may see, in the order it happened."""
    item, _plan = await get_item(session, caller=caller, item_id=item_id)
    return list(
        (
            await session.scalars(
                sa.select(ApprovalItemChange)
                .where(ApprovalItemChange.item_id == item.id)
                .order_by(ApprovalItemChange.at, ApprovalItemChange.id)
            )
        ).all()
    )


async def update_item(
    session: AsyncSession,
    *,
    caller: Caller,
    calendar: WorkingCalendar,
    clock: Clock,
    item: ApprovalItem,
    plan: ApprovalPlan,
    expected_revision: int,
    changes: dict[str, Any],
) -> ApprovalItem:
    """Edit an item (mode, department, documents, notes, prerequisites), with a history entry."""
    permitted(may_decide(caller, item), "只有承办部门、行政审批局或重大项目办可修改此审批事项")
    if "mode" in changes and changes["mode"] != item.mode:
        entry = await session.get(CatalogueItem, item.catalogue_item_id)
        if entry is not None and changes["mode"] not in entry.modes:
            # 409 like the other state checks: the catalogue entry, not the request, decides.
            raise Conflict(
                "该事项不适用此审批模式", code="mode_not_allowed", extra={"allowed": list(entry.modes)}
            )
        if item.state in DECIDED:
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
    # The UPDATE … RETURNING refreshes ``item`` in the identity map: no second read of it.
    await update_if_revision(
        session, ApprovalItem, item.id, expected_revision, {**changes, "updated_at": now}
    )
    record_change(
        session, item, action="edit", to_state=item.state, actor=caller.actor, at=now, details=details
    )
    await session.flush()
    await reassess(session, calendar, plan, now)
    return item
