"""What an item reads as on the API: its schema, with its clocks as a person reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals import schemas
from lkg.approvals.clocks import clocks_of, view
from lkg.approvals.items.service import ItemRead
from lkg.approvals.models import ApprovalClock, ApprovalItem
from lkg.approvals.planning import Outlook
from lkg.common.calendar import WorkingCalendar


def item_out(
    item: ApprovalItem,
    clocks: Sequence[ApprovalClock],
    calendar: WorkingCalendar,
    now: datetime,
    expected: Outlook | None = None,
) -> schemas.ItemOut:
    """The item with its clocks at ``now`` and, given the plan's outlook, the day it is expected done."""
    finish = None
    if expected is not None and item.code in expected.expected:
        finish = expected.expected[item.code].finish
    return schemas.from_row(
        schemas.ItemOut,
        item,
        expected_finish=finish,
        clocks=[view(c, calendar, now) for c in clocks],
    )


def read_out(read: ItemRead, calendar: WorkingCalendar, now: datetime) -> schemas.ItemOut:
    """:func:`item_out` of an item as read (:func:`lkg.approvals.items.service.read_item`)."""
    clocks = [view(c, calendar, now) for c in read.clocks]
    return schemas.ItemOut.model_validate({**read.fields, "expected_finish": None, "clocks": clocks})


async def items_out(
    session: AsyncSession, items: Sequence[ApprovalItem], calendar: WorkingCalendar, now: datetime
) -> list[schemas.ItemOut]:
    """Items with their clocks at ``now``."""
    clocks = await clocks_of(session, [i.id for i in items])
    return [item_out(i, clocks[i.id], calendar, now) for i in items]


async def one_item_out(
    session: AsyncSession, item: ApprovalItem, calendar: WorkingCalendar, now: datetime
) -> schemas.ItemOut:
    [found] = await items_out(session, [item], calendar, now)
    return found
