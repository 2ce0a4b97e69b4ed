"""Deadline scans of the project register (docs/time.md): indexed by due time, exactly once, in due order."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.runtime.service import Scan, ServiceRuntime
from lkg.common.scans import scan_due
from lkg.registry.projects import commitments, milestones
from lkg.registry.projects.models import Commitment, Milestone
from lkg.registry.settings import RegistrySettings


def _scan(
    model: Any, due: str, mark: Callable[[AsyncSession, Clock, uuid.UUID], Awaitable[None]]
) -> Callable[[ServiceRuntime[RegistrySettings], datetime], Awaitable[int]]:
    """A scan of ``model``'s rows whose ``due`` column has passed: ``mark`` handles each, once."""

    async def run(runtime: ServiceRuntime[RegistrySettings], until: datetime) -> int:
        async def handle(session: AsyncSession, row: Any) -> bool:
            await mark(session, runtime.clock, row.id)
            return False

        table = model.__table__
        return await scan_due(
            db=runtime.db,
            clock=runtime.clock,
            table=table,
            due_column=table.c[due],
            until=until,
            handle=handle,
        )

    return run


async def _scan_missed(runtime: ServiceRuntime[RegistrySettings], until: datetime) -> int:
    """Milestones past their planned date without an actual date; those planned before the deployment's
    history starts (:meth:`RegistrySettings.history_starts`) are marked without a ``milestone.missed``."""
    start = runtime.settings.history_starts()

    async def mark(session: AsyncSession, clock: Clock, milestone_id: uuid.UUID) -> None:
        await milestones.mark_missed(session, clock, milestone_id, history_start=start)

    return await _scan(Milestone, "missed_due_at", mark)(runtime, until)


SCANS = (
    # A planned date passed without an actual date: ``milestone.missed`` once per planned date.
    Scan("milestone_missed", _scan_missed),
    # A commitment past its due date without fulfilment: ``commitment.overdue`` once (§四(四)).
    Scan("commitment_overdue", _scan(Commitment, "overdue_due_at", commitments.mark_commitment_overdue)),
)
