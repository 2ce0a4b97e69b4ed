"""Events the scoring service reacts to (docs/events.md). Each handler runs inside the inbox transaction and
calls one use case of :mod:`lkg.scoring.facts`; the inbox skips a repeated event, and every fact is keyed
so that a reordered one changes nothing either. The hot events (a rebuild's bulk, the live feed's bursts)
also have a handler for a run of them (:mod:`lkg.scoring.facts_batch`), with the same effect.
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
from lkg.scoring import facts, facts_batch
from lkg.scoring.models import org_copy, project_copy

_copy = {s.event: s.handler for s in project_copy_subscriptions(project_copy)}


async def on_project(
    session: AsyncSession, envelope: Envelope, event: c.ProjectRegistered | c.ProjectChanged
) -> None:
    # The read copy's own handler (applied only if newer); then, if the copy now holds this revision, the
    # milestones and baselines it carries (an equal revision again changes nothing there either).
    await _copy[type(event)](session, envelope, event)
    held = (
        await session.execute(sa.select(project_copy.c.revision).where(project_copy.c.id == event.project.id))
    ).scalar()
    await facts.record_project_plan(session, envelope, event.project, held == event.revision)


async def on_org_changed(session: AsyncSession, _envelope: Envelope, event: c.OrgChanged) -> None:
    await apply_org_changed(session, org_copy, event)


async def on_milestone(
    session: AsyncSession, envelope: Envelope, event: c.MilestoneAchieved | c.MilestoneMissed
) -> None:
    await facts.record_milestone(session, envelope, event)


async def on_enrolment_failed(session: AsyncSession, envelope: Envelope, event: c.EnrolmentFailed) -> None:
    await facts.record_enrolment_failed(session, envelope, event)


async def on_investment(session: AsyncSession, envelope: Envelope, event: c.InvestmentReported) -> None:
    await facts.record_investment(session, envelope, event)


async def on_approval_stalled(session: AsyncSession, envelope: Envelope, event: c.ApprovalStalled) -> None:
    await facts.record_approval_stalled(session, envelope, event)


async def on_approval_granted(session: AsyncSession, envelope: Envelope, event: c.ApprovalGranted) -> None:
    await facts.record_approval_granted(session, envelope, event)


async def on_approval_rejected(session: AsyncSession, envelope: Envelope, event: c.ApprovalRejected) -> None:
    await facts.record_approval_rejected(session, envelope, event)


async def on_matter(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    await facts.record_matter(session, envelope, event)


async def on_card_issued(session: AsyncSession, envelope: Envelope, event: c.RedCardIssued) -> None:
    await facts.record_red_card(session, envelope, event, "issued")


async def on_card_dismissed(session: AsyncSession, envelope: Envelope, event: c.RedCardDismissed) -> None:
    await facts.record_red_card(session, envelope, event, "dismissed")


async def on_card_withdrawn(session: AsyncSession, envelope: Envelope, event: c.RedCardWithdrawn) -> None:
    await facts.record_red_card(session, envelope, event, "withdrawn")


_MATTER_EVENTS: tuple[type[Any], ...] = (
    c.ProblemReported,
    c.ProblemAccepted,
    c.ProblemAnswered,
    c.ProblemProgressReported,
    c.ProblemWarned,
    c.ProblemBreached,
    c.ProblemEscalated,
    c.ProblemResolved,
    c.ProblemClosed,
    c.ProblemRerouted,
    c.MeetingMatterReported,
    c.MeetingMatterAccepted,
    c.MeetingMatterAnswered,
    c.MeetingMatterProgressReported,
    c.MeetingMatterWarned,
    c.MeetingMatterBreached,
    c.MeetingMatterEscalated,
    c.MeetingMatterResolved,
    c.MeetingMatterClosed,
    c.MeetingMatterRerouted,
)

#: Order groups (``Subscription.order_group``): events of different groups commute, since each group writes
#: its own tables and reads nothing another writes (``period_recheck`` rows are keyed by their event, and
#: ``period`` is written by no handler). A project's read copy and its milestones go together (a snapshot's
#: baselines and an achievement's do not commute); the approvals' facts (a stall reads the read copy's
#: line), the org copy and the cards stay barriers, applied where they are.
_PLANS, _INVESTMENT, _ENROLMENT, _MATTERS = "plans", "investment", "enrolment", "matters"

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(c.ProjectRegistered, on_project, facts_batch.record_projects, _PLANS),
    Subscription(c.ProjectChanged, on_project, facts_batch.record_projects, _PLANS),
    Subscription(c.ProjectTerminated, _copy[c.ProjectTerminated], order_group=_PLANS),
    Subscription(c.OrgChanged, on_org_changed),
    Subscription(c.MilestoneAchieved, on_milestone, facts_batch.record_milestones, _PLANS),
    Subscription(c.MilestoneMissed, on_milestone, facts_batch.record_milestones, _PLANS),
    Subscription(c.EnrolmentFailed, on_enrolment_failed, facts_batch.record_enrolments_failed, _ENROLMENT),
    Subscription(c.InvestmentReported, on_investment, facts_batch.record_investments, _INVESTMENT),
    Subscription(c.ApprovalStalled, on_approval_stalled),
    Subscription(c.ApprovalGranted, on_approval_granted),
    Subscription(c.ApprovalRejected, on_approval_rejected),
    *(Subscription(event, on_matter, facts_batch.record_matters, _MATTERS) for event in _MATTER_EVENTS),
    Subscription(c.RedCardIssued, on_card_issued),
    Subscription(c.RedCardDismissed, on_card_dismissed),
    Subscription(c.RedCardWithdrawn, on_card_withdrawn),
]
