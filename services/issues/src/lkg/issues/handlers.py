"""Events the issues service reacts to (each handler runs inside the inbox transaction, idempotent by
construction: the inbox skips a repeated event, and every write is keyed so that a replay changes nothing).

* ``project.*`` and ``org.changed`` keep the read copies; on top of them a project that changes line takes
  its open matters along, and an org change re-resolves the holders of open matters above layer 1 (a new
  line leader post or service department, a new 重大项目办), so matters follow the post (DESIGN §2).
* ``approval.stalled``, ``approval.start_at_risk``, ``milestone.missed``, ``commitment.overdue`` are recorded
  as signals under a documented cause key; the signal scan (:mod:`lkg.issues.signals`) opens one problem
  per cause or attaches the signal to the open one. Opening needs the working calendar and the configured
  limits, which live on the runtime, so it happens in the scan with the signal's time as "now".
* ``project.terminated`` closes the project's open system-opened problems with that reason.
* ``red_card.requested`` (bottom 3 of a monthly ranking, §六(三)) issues a ranking card.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.common.events.inbox import Subscription
from lkg.common.orgcopy import apply_org_changed
from lkg.common.readcopy import project_copy_subscriptions
from lkg.issues import org
from lkg.issues.audit import SYSTEM, record
from lkg.issues.models import OPEN_STATES, matter, matter_signal, org_copy, project_copy
from lkg.issues.service import close_matter
from lkg.issues.supervision import issue_ranking_card

_copy = {s.event: s.handler for s in project_copy_subscriptions(project_copy)}


async def _refresh_holders(session: AsyncSession, where: Any, day: Any, at: Any, why: str) -> None:
    """Re-resolve the holders of the open matters above layer 1 selected by ``where``."""
    rows = (
        await session.execute(
            sa.select(matter).where(matter.c.state.in_(OPEN_STATES), matter.c.layer >= 2, where)
        )
    ).all()
    groups: dict[tuple[int, Any], list[Any]] = defaultdict(list)
    for m in rows:
        groups[(m.layer, m.line_id)].append(m)
    for (layer, line_id), members in groups.items():
        holders = await org.holders_at(session, layer=layer, line_id=line_id, project_unit_id=None, day=day)
        for m in members:
            if tuple(m.holder_post_ids) == holders.post_ids and tuple(m.holder_unit_ids) == holders.unit_ids:
                continue
            await session.execute(
                sa.update(matter)
                .where(matter.c.id == m.id)
                .values(
                    holder_post_ids=list(holders.post_ids),
                    holder_unit_ids=list(holders.unit_ids),
                    revision=matter.c.revision + 1,
                    updated_at=at,
                )
            )
            await record(
                session,
                m,
                "holders_changed",
                actor=SYSTEM,
                actor_name="系统",
                at=at,
                layer=m.layer,
                detail={
                    "why": why,
                    "holder_post_ids": [str(p) for p in holders.post_ids],
                    "holder_unit_ids": [str(u) for u in holders.unit_ids],
                },
            )


async def on_project(
    session: AsyncSession, envelope: Envelope, event: c.ProjectRegistered | c.ProjectChanged
) -> None:
    await _copy[type(event)](session, envelope, event)
    project = event.project
    at = project.effective_at
    moved = (
        await session.execute(
            sa.update(matter)
            .where(
                matter.c.project_id == project.id,
                matter.c.state.in_(OPEN_STATES),
                sa.or_(
                    matter.c.line_id.is_distinct_from(project.line_id),
                    matter.c.project_unit_id.is_distinct_from(project.responsible_unit_id),
                ),
            )
            .values(
                line_id=project.line_id,
                project_unit_id=project.responsible_unit_id,
                revision=matter.c.revision + 1,
                updated_at=at,
            )
            .returning(matter)
        )
    ).all()
    for m in moved:
        await record(
            session,
            m,
            "rerouted",
            actor=SYSTEM,
            actor_name="系统",
            at=at,
            layer=m.layer,
            detail={
                "line_id": str(project.line_id) if project.line_id else None,
                "reason": project.routing_reason,
            },
        )
    if moved:
        await _refresh_holders(
            session, matter.c.id.in_([m.id for m in moved]), at.date(), at, "project_rerouted"
        )


async def on_org_changed(session: AsyncSession, _envelope: Envelope, event: c.OrgChanged) -> None:
    await apply_org_changed(session, org_copy, event)
    if event.lines or event.posts or event.units:
        at = event.effective_at
        await _refresh_holders(session, sa.true(), at.date(), at, "org_changed")


async def _signal(
    session: AsyncSession, envelope: Envelope, event: Any, cause_key: str, payload: dict
) -> None:
    await session.execute(
        pg_insert(matter_signal)
        .values(
            id=uuid.uuid4(),
            event_id=envelope.event_id,
            event_type=envelope.type,
            cause_key=cause_key,
            at=event.effective_at,
            payload=payload,
        )
        .on_conflict_do_nothing(index_elements=[matter_signal.c.event_id])
    )


async def on_approval_stalled(session: AsyncSession, envelope: Envelope, event: c.ApprovalStalled) -> None:
    # Cause key: the stalled approval item. While its problem is open, later signals attach to it.
    await _signal(
        session,
        envelope,
        event,
        f"approval.stalled:{event.approval_item_id}",
        {
            "project_id": str(event.project_id),
            "title": f"审批超时：{event.item_name}（{event.handling_unit_name}）",
            "topic": "审批",
            "description": f"{event.item_name}已超过办理时限（{event.due_at.isoformat()}）仍未办结。",
            "resolving_unit_id": str(event.handling_unit_id),
            "resolving_unit_name": event.handling_unit_name,
        },
    )


async def on_start_at_risk(session: AsyncSession, envelope: Envelope, event: c.ApprovalStartAtRisk) -> None:
    first = event.blocking_items[0]
    names = "、".join(i.item_name for i in event.blocking_items)
    await _signal(
        session,
        envelope,
        event,
        f"approval.start_at_risk:{event.project_id}:{event.planned_start_date.isoformat()}",
        {
            "project_id": str(event.project_id),
            "title": f"开工受阻：{names}未办结",
            "topic": "审批",
            "description": f"计划{event.planned_start_date.isoformat()}开工，{names}尚未办结。",
            "resolving_unit_id": str(first.handling_unit_id),
            "resolving_unit_name": first.handling_unit_name,
        },
    )


async def on_milestone_missed(session: AsyncSession, envelope: Envelope, event: c.MilestoneMissed) -> None:
    ms = event.milestone
    await _signal(
        session,
        envelope,
        event,
        f"milestone.missed:{ms.id}",
        {
            "project_id": str(event.project_id),
            "title": f"节点逾期：{ms.label}",
            "topic": "节点",
            "description": f"{ms.label}计划{ms.planned_date.isoformat()}完成，至今未完成。",
            "resolving_unit_id": str(event.responsible_unit_id),
            "resolving_unit_name": None,
        },
    )


async def on_commitment_overdue(
    session: AsyncSession, envelope: Envelope, event: c.CommitmentOverdue
) -> None:
    unit = event.obligor_unit_id or event.responsible_unit_id
    await _signal(
        session,
        envelope,
        event,
        f"commitment.overdue:{event.commitment_id}",
        {
            "project_id": str(event.project_id),
            "title": f"承诺逾期：{event.description}"[:200],
            "topic": "诚信履约",
            "description": f"{event.description}（应于{event.due_date.isoformat()}兑现）",
            "resolving_unit_id": str(unit),
            "resolving_unit_name": event.obligor_unit_name,
        },
    )


async def on_project_terminated(
    session: AsyncSession, _envelope: Envelope, event: c.ProjectTerminated
) -> None:
    rows = (
        await session.execute(
            sa.select(matter).where(
                matter.c.project_id == event.project_id,
                matter.c.origin == "system",
                matter.c.state.in_(OPEN_STATES),
            )
        )
    ).all()
    for m in rows:
        await close_matter(
            session,
            m,
            at=event.effective_at,
            expected_revision=None,
            state="withdrawn",
            outcome=c.ClosureOutcome.WITHDRAWN,
            closed_by_unit_id=m.project_unit_id or m.reported_by_unit_id,
            reason=f"项目已解约：{event.reason}",
            actor=SYSTEM,
            actor_name="系统",
        )


async def on_red_card_requested(session: AsyncSession, envelope: Envelope, event: c.RedCardRequested) -> None:
    await issue_ranking_card(session, event)


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(c.ProjectRegistered, on_project),
    Subscription(c.ProjectChanged, on_project),
    Subscription(c.ProjectTerminated, on_project_terminated),
    Subscription(c.OrgChanged, on_org_changed),
    Subscription(c.ApprovalStalled, on_approval_stalled),
    Subscription(c.ApprovalStartAtRisk, on_start_at_risk),
    Subscription(c.MilestoneMissed, on_milestone_missed),
    Subscription(c.CommitmentOverdue, on_commitment_overdue),
    Subscription(c.RedCardRequested, on_red_card_requested),
]
