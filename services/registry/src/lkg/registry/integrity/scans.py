"""The 回头看 rounds on the clock: schedule the rounds, then act on each one due, in due order, once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.runtime.service import Scan, ServiceRuntime
from lkg.common.scans import scan_due
from lkg.registry.integrity import rounds
from lkg.registry.integrity.models import IntegrityRound
from lkg.registry.settings import RegistrySettings


async def scan_rounds(runtime: ServiceRuntime[RegistrySettings], until: datetime) -> int:
    async with runtime.db.transaction() as session:
        await rounds.schedule(session, runtime.calendar, runtime.settings, until)

    async def handle(session: AsyncSession, row: Any) -> bool:
        return await rounds.act(session, runtime.clock, row.id)

    table = IntegrityRound.__table__
    clock = runtime.clock
    return await scan_due(
        db=runtime.db, clock=clock, table=table, due_column=table.c.next_at, until=until, handle=handle
    )


SCANS = (Scan("integrity_rounds", scan_rounds),)
