"""Events the issues service reacts to. Each handler runs inside the inbox transaction and calls a use case;
the inbox skips an event it has seen (by event id), and each use case is keyed so that a stale or repeated
event — an older revision, or the same one again under a new event id — changes nothing.

* ``project.*`` and ``org.changed`` keep the read copies. A project snapshot newer than the copy held (and
  only then) takes the project's open matters to its line and unit (:func:`routing.follow_project`); an
  org change that applied something re-resolves the holders of open matters above layer 1.
* ``approval.stalled``, ``approval.start_at_risk``, ``milestone.missed``, ``commitment.overdue`` are recorded
  as signals under a documented cause key; the signal scan (:mod:`lkg.issues.matters.signals`) opens one
  problem per cause or attaches the signal to the open one. Opening needs the working calendar and the
  configured limits, which live on the runtime, so it happens in the scan with the signal's time as "now".
* ``project.terminated`` withdraws the project's open system-opened problems with that reason.
* ``red_card.requested`` (bottom 3 of a monthly ranking, §六(三)) issues a ranking card, once per request.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.common.events.inbox import Subscription
from lkg.common.orgcopy import apply_org_changed
from lkg.common.readcopy import project_copy_subscriptions
from lkg.issues.matters import routing
from lkg.issues.matters.closure import withdraw_system_problems
from lkg.issues.matters.signals import record_signal
from lkg.issues.models import org_copy, project_copy
from lkg.issues.supervision.service import issue_ranking_card

_copy = {s.event: s.handler for s in project_copy_subscriptions(project_copy)}


async def on_project(
    session: AsyncSession, envelope: Envelope, event: c.ProjectRegistered | c.ProjectChanged
) -> None:
    await _copy[type(event)](session, envelope, event)
    await routing.follow_project(session, event.project)


async def on_org_changed(session: AsyncSession, _envelope: Envelope, event: c.OrgChanged) -> None:
    applied = await apply_org_changed(session, org_copy, event)
    if applied and (event.lines or event.posts or event.units):
        at = event.effective_at
        await routing.refresh_holders(session, sa.true(), at.date(), at, "org_changed")


async def _signal(
    envelope: Envelope, session: AsyncSession, event: Any, cause_key: str, **payload: Any
) -> None:
    await record_signal(session, envelope, cause_key=cause_key, at=event.effective_at, payload=payload)


async def on_approval_stalled(session: AsyncSession, envelope: Envelope, event: c.ApprovalStalled) -> None:
    # Cause key: the stalled approval item. While its problem is open, later signals attach to it.
    await _signal(
        envelope,
        session,
        event,
        f"approval.stalled:{event.approval_item_id}",
        project_id=str(event.project_id),
        title=f"审批超时：{event.item_name}（{event.handling_unit_name}）",
        topic="审批",
        description=f"{event.item_name}已超过办理时限（{event.due_at.isoformat()}）仍未办结。",
        resolving_unit_id=str(event.handling_unit_id),
        resolving_unit_name=event.handling_unit_name,
    )


async def on_start_at_risk(session: AsyncSession, envelope: Envelope, event: c.ApprovalStartAtRisk) -> None:
    first = event.blocking_items[0]
    names = "、".join(i.item_name for i in event.blocking_items)
    await _signal(
        envelope,
        session,
        event,
        f"approval.start_at_risk:{event.project_id}:{event.planned_start_date.isoformat()}",
        project_id=str(event.project_id),
        title=f"开工受阻：{names}未办结",
        topic="审批",
        description=f"计划{event.planned_start_date.isoformat()}开工，{names}尚未办结。",
        resolving_unit_id=str(first.handling_unit_id),
        resolving_unit_name=first.handling_unit_name,
    )


async def on_milestone_missed(session: AsyncSession, envelope: Envelope, event: c.MilestoneMissed) -> None:
    ms = event.milestone
    await _signal(
        envelope,
        session,
        event,
        f"milestone.missed:{ms.id}",
        project_id=str(event.project_id),
        title=f"节点逾期：{ms.label}",
        topic="节点",
        description=f"{ms.label}计划{ms.planned_date.isoformat()}完成，至今未完成。",
        resolving_unit_id=str(event.responsible_unit_id),
        resolving_unit_name=None,
    )


async def on_commitment_overdue(
    session: AsyncSession, envelope: Envelope, event: c.CommitmentOverdue
) -> None:
    unit = event.obligor_unit_id or event.responsible_unit_id
    await _signal(
        envelope,
        session,
        event,
        f"commitment.overdue:{event.commitment_id}",
        project_id=str(event.project_id),
        title=f"承诺逾期：{event.description}"[:200],
        topic="诚信履约",
        description=f"{event.description}（应于{event.due_date.isoformat()}兑现）",
        resolving_unit_id=str(unit),
        resolving_unit_name=event.obligor_unit_name,
    )


async def on_project_terminated(
    session: AsyncSession, _envelope: Envelope, event: c.ProjectTerminated
) -> None:
    await withdraw_system_problems(
        session, project_id=event.project_id, at=event.effective_at, reason=f"项目已解约：{event.reason}"
    )


async def on_red_card_requested(
    session: AsyncSession, _envelope: Envelope, event: c.RedCardRequested
) -> None:
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
