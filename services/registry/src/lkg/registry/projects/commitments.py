"""Use cases of commitments (承诺事项, policy §四(四)): the government's and the enterprise's;
``commitment.overdue`` once when one passes its due date.

新官理旧账 (§四(四)四, "坚决防止出现'新官不理旧账'"): a government commitment binds a **post**, not the person
who made it. Its obligor unit is the post's unit; whoever holds the post is answerable, so a handover
(换届) passes every open commitment to the successor with nothing to move: the commitments list names the
holders in force today, and ``commitment.overdue`` names the post and the holders in force on the day it
fell due. The problem it opens (issues) is held by the post's unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

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
from lkg.registry.projects.schemas import CommitmentOut, PersonRef


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
    """承诺事项 (§四(四)): a government commitment names its obligor post (422 ``obligor_post_required``;
    404 ``obligor_post_not_found`` for a post the directory lacks or that is not in force today); its unit is
    the post's (a different ``obligor_unit_id`` is 422 ``obligor_post_not_in_unit``). An enterprise's names
    neither."""
    await get_project(session, project_id)
    unit_name = post_title = None
    if side is CommitmentSide.GOVERNMENT:
        if obligor_post_id is None:
            raise ValidationFailed(
                "政府承诺须指明承诺岗位（新官理旧账：岗位承担，在任者负责）",
                code="obligor_post_required",
                errors=[{"loc": ["body", "obligor_post_id"], "msg": "必填", "type": "obligor_post_required"}],
            )
        directory = await org.load_directory(session, kinds=["unit", "post"])
        post = directory.posts.get(obligor_post_id)
        if post is None or not post.in_force(clock.now().date()):
            raise NotFound("承诺岗位不在组织目录中", code="obligor_post_not_found")
        if obligor_unit_id is not None and obligor_unit_id != post.unit_id:
            raise ValidationFailed("承诺岗位不属于所填承诺单位", code="obligor_post_not_in_unit")
        unit = directory.units.get(post.unit_id)
        obligor_unit_id, unit_name, post_title = post.unit_id, unit.name if unit else None, post.title
    elif obligor_unit_id is not None or obligor_post_id is not None:
        raise ValidationFailed("企业合同约定不填承诺单位和岗位", code="obligor_not_for_enterprise")
    commitment = Commitment(
        id=uuid.uuid4(),
        project_id=project_id,
        side=side.value,
        description=description,
        due_date=due_date,
        obligor_unit_id=obligor_unit_id,
        obligor_unit_name=unit_name,
        obligor_post_id=obligor_post_id,
        obligor_post_title=post_title,
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
    answerable: tuple[uuid.UUID, ...] = ()
    if commitment.obligor_post_id is not None:
        # The post's holders on the day it fell due answer for it (新官理旧账): after a handover, the heir.
        directory = await org.load_directory(session, kinds=["holding"])
        answerable = tuple(
            h.person_id for h in org.holders(directory, commitment.obligor_post_id, clock.now().date())
        )
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
            obligor_post_id=commitment.obligor_post_id,
            obligor_post_title=commitment.obligor_post_title,
            answerable_person_ids=answerable,
        ),
    )


async def commitments_of(session: AsyncSession, project_id: uuid.UUID) -> list[Commitment]:
    await get_project(session, project_id)
    rows = await session.execute(
        sa.select(Commitment).where(Commitment.project_id == project_id).order_by(Commitment.due_date)
    )
    return list(rows.scalars())


async def views(session: AsyncSession, clock: Clock, rows: Sequence[Commitment]) -> list[CommitmentOut]:
    """The commitments as the API writes them, each with who answers for it today (its post's holders;
    none for an enterprise's)."""
    directory = await org.load_directory(session, kinds=["holding", "person"])
    today = clock.now().date()
    out = []
    for row in rows:
        holders = org.holders(directory, row.obligor_post_id, today) if row.obligor_post_id else []
        answerable = [
            PersonRef(
                id=h.person_id,
                name=directory.people[h.person_id].name if h.person_id in directory.people else None,
            )
            for h in holders
        ]
        out.append(CommitmentOut.model_validate({**_columns(row), "answerable": answerable}))
    return out


def _columns(row: Commitment) -> dict[str, Any]:
    return {name: getattr(row, name) for name in CommitmentOut.model_fields if name != "answerable"}
