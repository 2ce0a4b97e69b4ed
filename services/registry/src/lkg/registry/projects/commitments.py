"""Use cases of commitments (承诺事项, policy §四(四)): the government's (bound to a unit and post, so it
binds the successor) and the enterprise's; ``commitment.overdue`` once when one passes its due date."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import (
    CommitmentOverdue,
    CommitmentSide,
    ProjectStatus,
)
from lkg.common.events.outbox import stage
from lkg.common.http.problems import NotFound, ValidationFailed
from lkg.registry.org import service as org
from lkg.registry.projects.changes import get_project, passed_at, project_fact
from lkg.registry.projects.models import (
    Commitment,
)


async def add_commitment(
    session: AsyncSession,
    clock: Clock,
    project_id: uuid.UUID,
    *,
    side: CommitmentSide,
    description: str,
    due_date: date,
    obligor_unit_id: uuid.UUID | None,
    obligor_post_id: uuid.UUID | None,
) -> Commitment:
    """承诺事项 (§四(四)): a government commitment binds a unit (and post), so it binds the successor."""
    await get_project(session, project_id)
    name = None
    if side is CommitmentSide.GOVERNMENT:
        if obligor_unit_id is None:
            raise ValidationFailed("政府承诺须指明承诺单位", code="obligor_unit_required")
        unit = (await org.load_directory(session, kinds=["unit"])).units.get(obligor_unit_id)
        if unit is None:
            raise ValidationFailed("承诺单位不在组织目录中", code="obligor_unit_unknown")
        name = unit.name
    commitment = Commitment(
        id=uuid.uuid4(),
        project_id=project_id,
        side=side.value,
        description=description,
        due_date=due_date,
        obligor_unit_id=obligor_unit_id,
        obligor_unit_name=name,
        obligor_post_id=obligor_post_id,
        overdue_due_at=passed_at(due_date),
        created_at=clock.now(),
    )
    session.add(commitment)
    await session.flush()
    return commitment


async def fulfil_commitment(
    session: AsyncSession, clock: Clock, project_id: uuid.UUID, commitment_id: uuid.UUID, *, on: date
) -> Commitment:
    commitment = await session.get(Commitment, commitment_id)
    if commitment is None or commitment.project_id != project_id:
        raise NotFound("承诺事项不存在", code="commitment_not_found")
    commitment.fulfilled_on = on
    commitment.overdue_due_at = None
    return commitment


async def mark_commitment_overdue(session: AsyncSession, clock: Clock, commitment_id: uuid.UUID) -> None:
    """A commitment past due without fulfilment: ``commitment.overdue``, once (the scan's handler)."""
    commitment = await session.get(Commitment, commitment_id)
    if commitment is None or commitment.overdue_due_at is None or commitment.fulfilled_on is not None:
        return
    project = await get_project(session, commitment.project_id)
    commitment.overdue_due_at = None
    commitment.overdue_at = clock.now()
    if project.status != ProjectStatus.ACTIVE.value:
        return
    await stage(
        session,
        CommitmentOverdue(
            **project_fact(project, clock),
            commitment_id=commitment.id,
            side=CommitmentSide(commitment.side),
            description=commitment.description,
            due_date=commitment.due_date,
            obligor_unit_id=commitment.obligor_unit_id,
            obligor_unit_name=commitment.obligor_unit_name,
        ),
    )


async def commitments_of(session: AsyncSession, project_id: uuid.UUID) -> list[Commitment]:
    await get_project(session, project_id)
    rows = await session.execute(
        sa.select(Commitment).where(Commitment.project_id == project_id).order_by(Commitment.due_date)
    )
    return list(rows.scalars())
