"""Deadline scans (docs/time.md): indexed by due time, exactly once with several replicas, in due order.

A scan selects rows with ``due <= until`` through an index on the due column, so its cost grows with what is
due, not with what exists. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and the handler changes each row
(e.g. marks it breached) in the same transaction, so two replicas racing act once per breach. The handler
runs with the clock's effective time set to the row's due time: a clock it starts (an escalation's next
deadline) starts from the breach, not from "now", and over a jump of several due times the breaches are
handled in due order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.db import Database

#: The handler returns True when it created or moved a deadline, so the scan must look again before
#: handling later rows (the new one may fall due before them).
RowHandler = Callable[[AsyncSession, Any], Awaitable[bool]]


async def scan_due(
    *,
    db: Database,
    clock: Clock,
    table: sa.Table | Any,
    due_column: sa.ColumnElement,
    until: datetime,
    handle: RowHandler,
    where: Sequence[sa.ColumnElement[bool]] = (),
    batch_size: int = 500,
) -> int:
    """Handle every row due up to ``until`` in due order; returns the number handled."""
    handled = 0
    while True:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    sa.select(table)
                    .where(due_column <= until, *where)
                    .order_by(due_column)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return handled
            for row in rows:
                with clock.at(getattr(row, str(due_column.key))):
                    moved = await handle(session, row)
                handled += 1
                if moved:
                    break  # commit what we did, then select again in due order
