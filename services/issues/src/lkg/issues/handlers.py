"""Events the issues service reacts to. Each handler runs inside the inbox transaction and calls a use case;
the inbox skips an event it has seen (by event id), and each use case is keyed so that a stale or repeated
event — an older revision, or the same one again under a new event id — changes nothing.

* ``project.*`` and ``org.changed`` keep the read copies (:mod:`lkg.common.readcopy`,
  :mod:`lkg.common.orgcopy`), whose hooks run the service's consequences only for what the copy took: a
  project snapshot newer than the one held takes the project's open matters to its line and unit
  (:func:`routing.follow_project`); org entries newer than those held re-resolve the holders of open
  matters above layer 1.
* ``approval.stalled``, ``approval.start_at_risk``, ``milestone.missed``, ``commitment.overdue`` and an
  ``integrity_review.recorded`` with findings (回头看, a follow-up on the responsible unit) are recorded as
  signals under a documented cause key; the signal scan (:mod:`lkg.issues.matters.signals`) opens one
  problem per cause or attaches the signal to the open one. Opening needs the working calendar and the
  configured limits, which live on the runtime, so it happens in the scan with the signal's time as "now".
* ``project.terminated`` withdraws the project's open system-opened problems with that reason.
* ``red_card.requested`` (bottom 3 of a monthly ranking, §六(三)) issues a ranking card, once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import TZ
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.common.events.inbox import Handler, Subscription
from lkg.common.orgcopy import OrgCopyChange, org_copy_subscriptions
from lkg.common.readcopy import ProjectCopyChange, project_copy_subscriptions
from lkg.issues.matters import routing
from lkg.issues.matters.closure import withdraw_system_problems
from lkg.issues.matters.signals import record_signal
from lkg.issues.models import org_copy, project_copy
from lkg.issues.supervision.service import issue_ranking_card


async def on_project_applied(session: AsyncSession, _envelope: Envelope, change: ProjectCopyChange) -> None:
    """A project snapshot the read copy took (never a stale or repeated one): its open matters follow it."""
    await routing.follow_project(session, change)


async def on_org_applied(
    session: AsyncSession, _envelope: Envelope, event: c.OrgChanged, change: OrgCopyChange
) -> None:
    """Org entries the read copy took: the holders of open matters above layer 1 are resolved again."""
    if change.units or change.posts or change.lines:
        at = event.effective_at
        await routing.refresh_holders(session, sa.true(), at.date(), at, "org_changed")


_PROJECT_COPY = [
    s
    for s in project_copy_subscriptions(project_copy, on_applied=on_project_applied)
    if s.event is not c.ProjectTerminated
]
#: The read copies' handlers with the service's consequences (tests call them by these names).
on_project = next(s.handler for s in _PROJECT_COPY if s.event is c.ProjectChanged)
on_org_changed = next(s.handler for s in org_copy_subscriptions(org_copy, on_applied=on_org_applied))


def _payload(
    project_id: UUID, title: str, topic: str, description: str, unit_id: UUID, unit_name: str | None
) -> dict[str, Any]:
    """What a system-opened problem needs: its project, title, topic, description and resolving unit."""
    return {
        "project_id": str(project_id),
        "title": title,
        "topic": topic,
        "description": description,
        "resolving_unit_id": str(unit_id),
        "resolving_unit_name": unit_name,
    }


#: What a stalled clock of an approval item says (§三(一), §四(一)): the time limit to decide, the
#: verification of a commitment (承诺审批) or the inspection after building first (先建后验).
_STALLED_WORDS = {
    c.ApprovalClockKind.LIMIT: ("审批超时", "已超过办理时限（{due}）仍未办结。"),
    c.ApprovalClockKind.VERIFICATION: ("承诺核查逾期", "承诺审批后应于{due}前完成承诺核查，逾期仍未核查。"),
    c.ApprovalClockKind.INSPECTION: ("事后验收逾期", "先建后验应于{due}前完成事后验收，逾期仍未验收。"),
}


def limit_words(due_at: datetime) -> str:
    """A time limit as the district writes it, in Beijing time: a limit that ends at midnight is the
    previous day's 24时 (Civil Code §203), so the day named is the last day the matter could be done."""
    local = due_at.astimezone(TZ)
    if local.time() == time(0):
        last = local.date() - timedelta(days=1)
        return f"{last.year}年{last.month}月{last.day}日24时"
    return f"{local.year}年{local.month}月{local.day}日{local.hour}时{local.minute:02d}分"


def _stalled(e: c.ApprovalStalled) -> tuple[str, dict[str, Any]]:
    # Cause key: the stalled approval item. While its problem is open, later signals attach to it.
    what, sentence = _STALLED_WORDS[e.clock_kind]
    title = f"{what}：{e.item_name}（{e.handling_unit_name}）"
    said = e.item_name + sentence.format(due=limit_words(e.due_at))
    key = f"approval.stalled:{e.approval_item_id}"
    return key, _payload(e.project_id, title, "审批", said, e.handling_unit_id, e.handling_unit_name)


def _start_at_risk(e: c.ApprovalStartAtRisk) -> tuple[str, dict[str, Any]]:
    first, start = e.blocking_items[0], e.planned_start_date.isoformat()
    names = "、".join(i.item_name for i in e.blocking_items)
    said = f"计划{start}开工，{names}尚未办结。"
    key = f"approval.start_at_risk:{e.project_id}:{start}"
    return key, _payload(
        e.project_id,
        f"开工受阻：{names}未办结",
        "审批",
        said,
        first.handling_unit_id,
        first.handling_unit_name,
    )


def _milestone_missed(e: c.MilestoneMissed) -> tuple[str, dict[str, Any]]:
    ms = e.milestone
    said = f"{ms.label}计划{ms.planned_date.isoformat()}完成，至今未完成。"
    return f"milestone.missed:{ms.id}", _payload(
        e.project_id, f"节点逾期：{ms.label}", "节点", said, e.responsible_unit_id, None
    )


def _commitment_overdue(e: c.CommitmentOverdue) -> tuple[str, dict[str, Any]]:
    unit = e.obligor_unit_id or e.responsible_unit_id
    title, said = f"承诺逾期：{e.description}"[:200], f"{e.description}（应于{e.due_date.isoformat()}兑现）"
    key = f"commitment.overdue:{e.commitment_id}"
    return key, _payload(e.project_id, title, "诚信履约", said, unit, e.obligor_unit_name)


#: 回头看's four findings (§四(四)) as a follow-up matter names them.
_FINDING_WORDS = {
    c.IntegrityFlag.BREACH_OF_CONTRACT: "不履行合同约定",
    c.IntegrityFlag.OVERDUE_START: "逾期不开工",
    c.IntegrityFlag.IDLE_LAND: "占而未建",
    c.IntegrityFlag.SLOW_CONSTRUCTION: "慢建久拖",
}


def _integrity_findings(e: c.IntegrityReviewRecorded) -> tuple[str, dict[str, Any]]:
    # Cause key: the project's follow-up (跟踪督办). While it is open, a later review's findings attach to it.
    found = "、".join(_FINDING_WORDS[f] for f in e.findings)
    said = f"{e.reviewed_on.isoformat()}诚信履约回头看发现：{found}。{e.evidence}"[:4000]
    return f"integrity_review:{e.project_id}", _payload(
        e.project_id, f"回头看督办：{found}"[:200], "诚信履约", said, e.responsible_unit_id, None
    )


async def on_integrity_review(
    session: AsyncSession, envelope: Envelope, event: c.IntegrityReviewRecorded
) -> None:
    """A review with findings opens a follow-up (督办) matter on the project's responsible unit, or adds to
    the open one (§四(四)); a review that finds nothing opens nothing."""
    if event.findings:
        key, payload = _integrity_findings(event)
        await record_signal(session, envelope, cause_key=key, at=event.effective_at, payload=payload)


def on_signal(cause: Callable[[Any], tuple[str, dict[str, Any]]]) -> Handler:
    """The handler recording an event as a signal under the cause key (and with the payload) ``cause``
    gives it; keyed by the event id (:func:`record_signal`)."""

    async def handle(session: AsyncSession, envelope: Envelope, event: Any) -> None:
        key, payload = cause(event)
        await record_signal(session, envelope, cause_key=key, at=event.effective_at, payload=payload)

    handle.__name__ = f"on{cause.__name__}"
    return handle


on_approval_stalled = on_signal(_stalled)
on_start_at_risk = on_signal(_start_at_risk)
on_milestone_missed = on_signal(_milestone_missed)
on_commitment_overdue = on_signal(_commitment_overdue)


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
    *_PROJECT_COPY,
    Subscription(c.ProjectTerminated, on_project_terminated),
    Subscription(c.OrgChanged, on_org_changed),
    Subscription(c.ApprovalStalled, on_approval_stalled),
    Subscription(c.ApprovalStartAtRisk, on_start_at_risk),
    Subscription(c.MilestoneMissed, on_milestone_missed),
    Subscription(c.CommitmentOverdue, on_commitment_overdue),
    Subscription(c.IntegrityReviewRecorded, on_integrity_review),
    Subscription(c.RedCardRequested, on_red_card_requested),
]
