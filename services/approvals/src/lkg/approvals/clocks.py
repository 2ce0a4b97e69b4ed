"""The clocks of an approval item (时限): deadline rows and their arithmetic.

A clock is started at acceptance (or at the grant, for the verification of a commitment and the inspection
after building first), with a budget in working or calendar days, pauses while the applicant owes a
supplement (补正), a due time, and ``next_at``: the next instant a scan must act, first the warning (a
configurable share of the budget used), then the breach. The scans that act on them are in
:mod:`lkg.approvals.scans`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.models import ApprovalClock, ApprovalItem
from lkg.approvals.schemas import ClockOut, from_row
from lkg.approvals.units import unit_id_or_placeholder
from lkg.common.calendar import Pause, Unit, WorkingCalendar, local_date
from lkg.common.events.contracts import ApprovalClockKind


def day_unit(value: str) -> Unit:
    """A stored budget unit as the calendar takes it (the column holds ``BudgetUnit`` values only)."""
    if value == "working":
        return "working"
    if value == "calendar":
        return "calendar"
    raise ValueError(f"not a budget unit: {value!r}")


class ClockFields(Protocol):
    """What reading a clock takes of it: an ``ApprovalClock``, or a row of its table (an item read)."""

    @property
    def pauses(self) -> list[dict[str, Any]]: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def due_at(self) -> datetime | None: ...
    @property
    def budget(self) -> int: ...
    @property
    def unit(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def kind(self) -> str: ...


C = TypeVar("C", bound=ClockFields)


@dataclass(frozen=True, slots=True)
class ClockRow:
    """A clock as read for a person (an item read by the driver, not an ORM object): what :func:`view`
    reads of it."""

    id: uuid.UUID
    kind: str
    state: str
    started_at: datetime
    budget: int
    unit: str
    pauses: list[dict[str, Any]]
    due_at: datetime | None
    provisional: bool
    warned_at: datetime | None
    breached_at: datetime | None
    ended_at: datetime | None


#: The columns of ``approval_clock`` a :class:`ClockRow` holds.
CLOCK_FIELDS = tuple(f.name for f in fields(ClockRow))


def pauses_of(clock: ClockFields) -> list[Pause]:
    return [
        Pause(
            datetime.fromisoformat(p["started_at"]),
            datetime.fromisoformat(p["ended_at"]) if p.get("ended_at") else None,
        )
        for p in clock.pauses
    ]


def refresh(clock: ApprovalClock, calendar: WorkingCalendar, due_soon_share: float) -> None:
    """Recompute due, warning and ``next_at`` from start, budget and pauses (after any change)."""
    pauses = pauses_of(clock)
    calendar_days = clock.unit == "calendar"
    # Civil Code §203: a period counted in calendar days whose last day is a rest day ends on the next
    # working day (working-day budgets end on a working day anyway).
    due = calendar.compute_due(
        clock.started_at,
        clock.budget,
        day_unit(clock.unit),
        pauses,
        extend_past_rest_day=calendar_days,
    )
    clock.due_at = due.due_at
    clock.provisional = due.provisional
    warn_budget = math.floor(clock.budget * due_soon_share)
    clock.warn_at = None
    if 0 < warn_budget < clock.budget and not due.paused:
        warning = calendar.compute_due(clock.started_at, warn_budget, day_unit(clock.unit), pauses)
        clock.warn_at = warning.due_at
    if clock.state != "running" or clock.due_at is None:
        clock.next_at = None
    elif clock.warned_at is None and clock.warn_at is not None and clock.warn_at < clock.due_at:
        clock.next_at = clock.warn_at
    else:
        clock.next_at = clock.due_at


def start_clock(
    session: AsyncSession,
    *,
    item: ApprovalItem,
    kind: ApprovalClockKind,
    started_at: datetime,
    budget: int,
    unit: str,
    calendar: WorkingCalendar,
    due_soon_share: float,
) -> ApprovalClock:
    clock = ApprovalClock(
        id=uuid.uuid4(),
        item_id=item.id,
        project_id=item.project_id,
        kind=kind.value,
        started_at=started_at,
        budget=budget,
        unit=unit,
        pauses=[],
        state="running",
        provisional=False,
    )
    refresh(clock, calendar, due_soon_share)
    session.add(clock)
    return clock


def view(clock: ClockFields, calendar: WorkingCalendar, now: datetime) -> ClockOut:
    """What a person reads of a clock at ``now``: used, left, due, provisional, paused, overdue."""
    end = clock.ended_at if clock.ended_at is not None and clock.ended_at < now else now
    pauses = pauses_of(clock)
    used = calendar.elapsed(clock.started_at, end, day_unit(clock.unit), pauses)
    return from_row(
        ClockOut,
        clock,
        used=used,
        left=clock.budget - used,
        paused=any(p.ended_at is None for p in pauses) and clock.state == "running",
        overdue=clock.state == "breached" or (clock.due_at is not None and now >= clock.due_at),
    )


def last_day(due_at: datetime) -> date:
    """The last day of a budget whose due time is ``due_at`` (the end of that day)."""
    return local_date(due_at) - timedelta(days=1)


def days_over(calendar: WorkingCalendar, clock: ApprovalClock, now: datetime) -> int:
    """Days past the due date at ``now``, the day in progress counted (0 before the breach)."""
    if clock.due_at is None or now < clock.due_at:
        return 0
    last_day = local_date(clock.due_at) - timedelta(days=1)  # due_at is the end of the last day
    today = local_date(now)
    if clock.unit == "working":
        return max(0, calendar.working_days_between(last_day, today))
    return max(0, (today - last_day).days)


class ItemFields(Protocol):
    """What an item fact reads of an item: an ``ApprovalItem``, or a row the stall scan claimed."""

    catalogue_item_id: uuid.UUID
    name: str
    project_id: uuid.UUID
    handling_unit_id: uuid.UUID | None
    handling_unit_name: str
    mode: str


def item_fact(item: ItemFields, *, item_id: uuid.UUID, project_name: str, now: datetime) -> dict[str, Any]:
    """The fields every ``approval.*`` item fact carries."""
    return {
        "approval_item_id": item_id,
        "catalogue_item_id": item.catalogue_item_id,
        "item_name": item.name,
        "project_id": item.project_id,
        "project_name": project_name,
        "handling_unit_id": unit_id_or_placeholder(item.handling_unit_id, item.handling_unit_name),
        "handling_unit_name": item.handling_unit_name,
        "mode": item.mode,
        "effective_at": now,
    }


async def clocks_of(
    session: AsyncSession, item_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ApprovalClock]]:
    """Each item's clocks, oldest first."""
    result: dict[uuid.UUID, list[ApprovalClock]] = {i: [] for i in item_ids}
    rows = await session.scalars(
        sa.select(ApprovalClock).where(ApprovalClock.item_id.in_(item_ids)).order_by(ApprovalClock.started_at)
    )
    for clock in rows:
        result[clock.item_id].append(clock)
    return result


def limit_clock(clocks: Sequence[C]) -> C | None:
    """The item's time limit (from acceptance) while it runs or after it was breached."""
    limits = [
        c for c in clocks if c.kind == ApprovalClockKind.LIMIT.value and c.state in ("running", "breached")
    ]
    return limits[-1] if limits else None


def open_obligations(clocks: Sequence[ApprovalClock]) -> list[ApprovalClock]:
    """The verification of a commitment or the inspection after building first, not yet done."""
    return [
        c for c in clocks if c.kind != ApprovalClockKind.LIMIT.value and c.state in ("running", "breached")
    ]
