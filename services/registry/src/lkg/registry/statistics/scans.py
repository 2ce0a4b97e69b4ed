"""The statistics work on the clock (docs/time.md): make each month's duties, then act on every duty due
(the warning, then the due time) in due order, exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.runtime.service import Scan, ServiceRuntime
from lkg.common.scans import scan_due
from lkg.registry.settings import RegistrySettings
from lkg.registry.statistics import service
from lkg.registry.statistics.models import StatisticsDuty


async def scan_statistics(runtime: ServiceRuntime[RegistrySettings], until: datetime) -> int:
    async with runtime.db.transaction() as session:
        await service.schedule(session, runtime.calendar, runtime.settings, until)

    async def handle(session: AsyncSession, row: Any) -> bool:
        return await service.act(session, runtime.clock, row.id)

    table = StatisticsDuty.__table__
    return await scan_due(
        db=runtime.db,
        clock=runtime.clock,
        table=table,
        due_column=table.c.next_at,
        until=until,
        handle=handle,
    )


SCANS = (Scan("statistics_duties", scan_statistics),)
