"""What the notifier runs on the shared clock (docs/time.md): routing the notices it has heard, then sending
the deliveries that are due. Both select through an index on their due column, claim rows with
``SKIP LOCKED`` (replicas racing act once) and handle them in due order."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from lkg.notifier import stream
from lkg.notifier.delivery import send_due
from lkg.notifier.models import notice
from lkg.notifier.notices import RoutingBatch, route_notice
from lkg.notifier.settings import NotifierRuntime

BATCH = 200

#: A pending notice's columns, its event as JSON text: :func:`route_notice` validates it straight from the
#: text (no ``json.loads`` into a dict first).
_PENDING = (*(c for c in notice.c if c.name != "event"), sa.cast(notice.c.event, sa.Text).label("event"))


async def scan_notices(runtime: NotifierRuntime, until: datetime) -> int:
    """Route every notice whose event happened up to ``until``, in the order they happened, each with the
    clock at the event's time (recipients are those of that day); new messages go out on the live stream
    once committed."""
    handled = 0
    while True:
        async with runtime.db.transaction() as session:
            rows = (
                await session.execute(
                    sa.select(*_PENDING)
                    .where(notice.c.processed_at.is_(None), notice.c.effective_at <= until)
                    .order_by(notice.c.effective_at, notice.c.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            batch = RoutingBatch(session)
            for row in rows:
                with runtime.clock.at(row.effective_at):
                    await route_notice(runtime, row, batch)
            stored = await batch.flush(runtime)
        handled += len(rows)
        await stream.announce(runtime, stored)
        if len(rows) < BATCH:
            return handled


async def scan_deliveries(runtime: NotifierRuntime, until: datetime) -> int:
    return await send_due(runtime, until)
