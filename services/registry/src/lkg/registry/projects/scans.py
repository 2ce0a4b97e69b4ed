"""Deadline scans of the project register (docs/time.md): indexed by due time, exactly once, in due order."""

from __future__ import annotations

from datetime import datetime

from lkg.common.runtime.service import Scan, ServiceRuntime
from lkg.common.scans import scan_due
from lkg.registry.projects import commitments, milestones
from lkg.registry.projects.models import Commitment, Milestone


async def missed_milestones(runtime: ServiceRuntime, until: datetime) -> int:
    """A planned date passed without an actual date: ``milestone.missed`` once per planned date."""

    async def handle(session, row) -> bool:
        await milestones.mark_missed(session, runtime.clock, row.id)
        return False

    return await scan_due(
        db=runtime.db,
        clock=runtime.clock,
        table=Milestone.__table__,
        due_column=Milestone.__table__.c.missed_due_at,
        until=until,
        handle=handle,
    )


async def overdue_commitments(runtime: ServiceRuntime, until: datetime) -> int:
    """A commitment past its due date without fulfilment: ``commitment.overdue`` once (§四(四))."""

    async def handle(session, row) -> bool:
        await commitments.mark_commitment_overdue(session, runtime.clock, row.id)
        return False

    return await scan_due(
        db=runtime.db,
        clock=runtime.clock,
        table=Commitment.__table__,
        due_column=Commitment.__table__.c.overdue_due_at,
        until=until,
        handle=handle,
    )


SCANS = (Scan("milestone_missed", missed_milestones), Scan("commitment_overdue", overdue_commitments))
