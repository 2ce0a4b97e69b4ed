"""Recording the facts scoring is told (use cases of the handlers; they run inside the inbox transaction).

Each fact is keyed by its own id (milestone, matter, breach, report, card; a project and month for
enrolment), so a repeated event changes nothing, and a reordered one cannot undo a later one: a matter's
closure is never reopened by a stale ``problem.reported``, a card's withdrawal never reverted by a late
``red_card.issued`` (which still tells when it was issued). ``recorded_at`` is the event's ``effective_at``
(shared clock), which is what a period's cut-off compares with.

A fact recorded after the cut-off of a period it concerns leaves a :data:`period_recheck` row: the period
scan looks at it (a proposal is refreshed; a published period gets a numbered correction if its figures
change).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import local_date
from lkg.common.events import contracts as c
from lkg.common.events.base import Envelope
from lkg.scoring.models import (
    approval_fact,
    approval_rejection,
    breach_fact,
    enrolment_fact,
    investment_fact,
    matter_fact,
    matter_step,
    milestone_baseline,
    milestone_fact,
    period,
    period_recheck,
    red_card_fact,
)
from lkg.scoring.periods import EVALUATED_KINDS, span_containing

_STALL_NAMESPACE = uuid.UUID("0c2d7a4e-1b7f-5a53-8f0a-52d1f3f7b6c9")

#: Card states in the order they can follow each other; a state is never replaced by an earlier one.
_CARD_ORDER = {"proposed": 0, "issued": 1, "dismissed": 2, "withdrawn": 2}


async def _recheck(
    session: AsyncSession,
    envelope: Envelope,
    recorded_at: datetime,
    days: Iterable[date | None],
    kinds: Iterable[c.PeriodKind] = EVALUATED_KINDS,
) -> None:
    """Leave a recheck for every closed period (of ``kinds``) containing one of ``days`` whose cut-off was
    before the fact was recorded."""
    kinds = tuple(kinds)
    ids = {span_containing(kind, d).id for d in days if d is not None for kind in kinds}
    if not ids:
        return
    late = (
        await session.execute(
            sa.select(period.c.id).where(period.c.id.in_(ids), period.c.as_of < recorded_at)
        )
    ).scalars()
    rows = [
        {
            "period_id": pid,
            "event_id": envelope.event_id,
            "event_type": envelope.type,
            "recorded_at": recorded_at,
        }
        for pid in late
    ]
    if rows:
        await session.execute(pg_insert(period_recheck).values(rows).on_conflict_do_nothing())


# ---- registry ---------------------------------------------------------------------------------------


async def record_project_plan(
    session: AsyncSession, envelope: Envelope, project: c.ProjectSnapshot, applied: bool
) -> None:
    """Milestones of a project snapshot the read copy has just applied (newer than what it held): who
    answers for each one, and its frozen baseline date when it is new or different."""
    if not applied or not project.milestones:
        return
    at = project.effective_at
    # One statement for every milestone, one to read their latest baselines, one to add the new ones: a
    # project of the plan has about six, and a rebuild replays every registration.
    stmt = pg_insert(milestone_fact).values(
        [
            {
                "milestone_id": ms.id,
                "project_id": project.id,
                "unit_id": project.responsible_unit_id,
                "line_id": project.line_id,
                "type": str(ms.type),
                "label": ms.label,
            }
            for ms in project.milestones
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[milestone_fact.c.milestone_id],
            set_={
                "unit_id": stmt.excluded.unit_id,
                "line_id": stmt.excluded.line_id,
                "label": stmt.excluded.label,
            },
        )
    )
    dated = [ms for ms in project.milestones if ms.baseline_date is not None]
    if not dated:
        return
    b = milestone_baseline
    latest = dict(
        (
            await session.execute(
                sa.select(b.c.milestone_id, b.c.baseline_date)
                .where(b.c.milestone_id.in_([ms.id for ms in dated]))
                .ext(distinct_on(b.c.milestone_id))
                .order_by(b.c.milestone_id, b.c.recorded_at.desc())
            )
        ).all()
    )
    changed = [ms for ms in dated if latest.get(ms.id) != ms.baseline_date]
    if not changed:
        return
    await session.execute(
        pg_insert(b)
        .values(
            [
                {
                    "milestone_id": ms.id,
                    "event_id": envelope.event_id,
                    "baseline_date": ms.baseline_date,
                    "recorded_at": at,
                }
                for ms in changed
            ]
        )
        .on_conflict_do_nothing()
    )
    await _recheck(
        session, envelope, at, [d for ms in changed for d in (ms.baseline_date, latest.get(ms.id))]
    )


async def record_milestone(
    session: AsyncSession, envelope: Envelope, event: c.MilestoneAchieved | c.MilestoneMissed
) -> None:
    ms = event.milestone
    at = event.effective_at
    base = {
        "milestone_id": ms.id,
        "project_id": event.project_id,
        "unit_id": event.responsible_unit_id,
        "type": str(ms.type),
        "label": ms.label,
    }
    if isinstance(event, c.MilestoneAchieved):
        achieved_on = ms.actual_date or local_date(at)
        stmt = pg_insert(milestone_fact).values(
            **base, achieved_on=achieved_on, achieved_at=at, achieved_event_id=envelope.event_id
        )
        # The first achievement recorded stands (a redelivered or stale copy changes nothing).
        stmt = stmt.on_conflict_do_update(
            index_elements=[milestone_fact.c.milestone_id],
            set_={
                "achieved_on": achieved_on,
                "achieved_at": at,
                "achieved_event_id": envelope.event_id,
            },
            where=milestone_fact.c.achieved_event_id.is_(None),
        )
        changed = (await session.execute(stmt.returning(milestone_fact.c.milestone_id))).first()
        if changed is not None:
            await _recheck(session, envelope, at, [achieved_on, ms.baseline_date])
    else:
        stmt = pg_insert(milestone_fact).values(**base, missed_at=at, missed_event_id=envelope.event_id)
        stmt = stmt.on_conflict_do_update(
            index_elements=[milestone_fact.c.milestone_id],
            set_={"missed_at": at, "missed_event_id": envelope.event_id},
            where=milestone_fact.c.missed_event_id.is_(None),
        )
        await session.execute(stmt)
    if ms.baseline_date is not None:
        # The baseline the event carries, if scoring has none yet for this milestone (one statement).
        b = milestone_baseline
        await session.execute(
            pg_insert(b)
            .from_select(
                ["milestone_id", "event_id", "baseline_date", "recorded_at"],
                sa.select(
                    sa.literal(ms.id, b.c.milestone_id.type),
                    sa.literal(envelope.event_id, b.c.event_id.type),
                    sa.literal(ms.baseline_date, b.c.baseline_date.type),
                    sa.literal(at, b.c.recorded_at.type),
                ).where(~sa.exists().where(b.c.milestone_id == ms.id)),
            )
            .on_conflict_do_nothing()
        )


async def record_enrolment_failed(
    session: AsyncSession, envelope: Envelope, event: c.EnrolmentFailed
) -> None:
    inserted = (
        await session.execute(
            pg_insert(enrolment_fact)
            .values(
                project_id=event.project_id,
                year=event.year,
                month=event.month,
                unit_id=event.responsible_unit_id,
                reason=event.reason,
                recorded_at=event.effective_at,
                event_id=envelope.event_id,
            )
            .on_conflict_do_nothing()
            .returning(enrolment_fact.c.project_id)
        )
    ).first()
    if inserted is not None:
        # Counted in the quarter it is reported in (the statistics bureau reports by the 28th).
        await _recheck(session, envelope, event.effective_at, [local_date(event.effective_at)])


async def record_investment(session: AsyncSession, envelope: Envelope, event: c.InvestmentReported) -> None:
    await session.execute(
        pg_insert(investment_fact)
        .values(
            report_id=event.report_id,
            project_id=event.project_id,
            unit_id=event.responsible_unit_id,
            year=event.year,
            month=event.month,
            amount=event.amount,
            supersedes=event.supersedes,
            recorded_at=event.effective_at,
            event_id=envelope.event_id,
        )
        .on_conflict_do_nothing()
    )


# ---- approvals --------------------------------------------------------------------------------------


async def record_approval_stalled(
    session: AsyncSession, envelope: Envelope, event: c.ApprovalStalled
) -> None:
    """An approval past its time limit is a breach against its handling department (审批部门). One breach
    per item, clock and due time: the approvals service may tell it again after a clock jump."""
    breach_id = uuid.uuid5(
        _STALL_NAMESPACE, f"{event.approval_item_id}:{event.clock_kind}:{event.due_at.isoformat()}"
    )
    line_id = (
        await session.execute(
            sa.text("SELECT line_id FROM project_copy WHERE id = :p"), {"p": event.project_id}
        )
    ).scalar()
    inserted = (
        await session.execute(
            pg_insert(breach_fact)
            .values(
                breach_id=breach_id,
                kind="approval",
                subject_id=event.approval_item_id,
                charged_unit_id=event.handling_unit_id,
                line_id=line_id,
                project_id=event.project_id,
                clock=str(event.clock_kind),
                label=f"{event.project_name}：{event.item_name}超过办理时限",
                breached_at=event.due_at,
                recorded_at=event.effective_at,
                event_id=envelope.event_id,
            )
            .on_conflict_do_nothing()
            .returning(breach_fact.c.breach_id)
        )
    ).first()
    if inserted is not None:
        await _recheck(session, envelope, event.effective_at, [local_date(event.due_at)])


async def record_approval_granted(
    session: AsyncSession, envelope: Envelope, event: c.ApprovalGranted
) -> None:
    await session.execute(
        pg_insert(approval_fact)
        .values(
            approval_item_id=event.approval_item_id,
            project_id=event.project_id,
            item_name=event.item_name,
            handling_unit_id=event.handling_unit_id,
            granted_at=event.effective_at,
            event_id=envelope.event_id,
        )
        .on_conflict_do_nothing()
    )


async def record_approval_rejected(
    session: AsyncSession, envelope: Envelope, event: c.ApprovalRejected
) -> None:
    await session.execute(
        pg_insert(approval_rejection)
        .values(
            approval_item_id=event.approval_item_id,
            project_id=event.project_id,
            rejected_at=event.effective_at,
            event_id=envelope.event_id,
        )
        .on_conflict_do_nothing()
    )


# ---- issues -----------------------------------------------------------------------------------------


def _matter_kind(envelope: Envelope) -> str:
    return envelope.type.split(".", 1)[0]


_CLOCK_LABEL = {"acceptance": "受理", "reply": "反馈处理意见", "progress": "报送进展", "resolution": "办结"}


async def record_matter(session: AsyncSession, envelope: Envelope, event: Any) -> None:
    """Any ``problem.*`` / ``meeting_matter.*`` fact: the matter's resolving unit as the latest event tells
    it, when it was reported, and its closure (销号) with the outcome; breaches go to :data:`breach_fact`."""
    at: datetime = event.effective_at
    kind = _matter_kind(envelope)
    values: dict[str, Any] = {
        "matter_id": event.matter_id,
        "kind": kind,
        "title": event.title,
        "project_id": getattr(event, "project_id", None),
        "line_id": event.line_id,
        "resolving_unit_id": event.resolving_unit_id,
        "resolving_unit_name": event.resolving_unit_name,
        "unit_at": at,
    }
    update: dict[str, Any] = {}
    stmt = pg_insert(matter_fact)
    # Who must solve it (and the line) follows the latest event by shared-clock time, never an older one.
    newer = matter_fact.c.unit_at <= stmt.excluded.unit_at
    for column in ("resolving_unit_id", "resolving_unit_name", "line_id", "unit_at"):
        update[column] = sa.case((newer, stmt.excluded[column]), else_=matter_fact.c[column])
    if isinstance(event, c.ProblemReported | c.MeetingMatterReported):
        values.update(reported_at=at, reported_event_id=envelope.event_id)
        update.update(
            reported_at=stmt.excluded.reported_at, reported_event_id=stmt.excluded.reported_event_id
        )
    if isinstance(event, c.ProblemClosed | c.MeetingMatterClosed):
        values.update(
            closed_at=at,
            closed_event_id=envelope.event_id,
            outcome=str(event.outcome),
            closed_by_unit_id=event.closed_by_unit_id,
        )
        for column in ("closed_at", "closed_event_id", "outcome", "closed_by_unit_id"):
            update[column] = sa.func.coalesce(matter_fact.c[column], stmt.excluded[column])
    await session.execute(
        stmt.values(**values).on_conflict_do_update(index_elements=[matter_fact.c.matter_id], set_=update)
    )
    # The step itself, for the dispatch board: keyed by the event, so a repeat changes nothing and an
    # out-of-order one takes its place by its shared-clock time.
    clocks = getattr(event, "clocks", None)
    clock = getattr(event, "clock", None)
    await session.execute(
        pg_insert(matter_step)
        .values(
            event_id=envelope.event_id,
            matter_id=event.matter_id,
            step=envelope.type.split(".", 1)[1],
            layer=int(event.layer),
            at=at,
            clocks=None if clocks is None else [x.model_dump(mode="json") for x in clocks],
            clock=None if clock is None else clock.model_dump(mode="json"),
        )
        .on_conflict_do_nothing()
    )
    if isinstance(event, c.ProblemBreached | c.MeetingMatterBreached):
        breached_at = event.clock.due_at or at
        inserted = (
            await session.execute(
                pg_insert(breach_fact)
                .values(
                    breach_id=event.breach_id,
                    kind=kind,
                    subject_id=event.matter_id,
                    charged_unit_id=event.clock.charged_unit_id,
                    line_id=event.line_id,
                    project_id=getattr(event, "project_id", None),
                    clock=str(event.clock.kind),
                    label=f"{event.title}：{_CLOCK_LABEL.get(event.clock.kind, event.clock.kind)}超时",
                    breached_at=breached_at,
                    recorded_at=at,
                    event_id=envelope.event_id,
                )
                .on_conflict_do_nothing()
                .returning(breach_fact.c.breach_id)
            )
        ).first()
        if inserted is not None:
            await _recheck(session, envelope, at, [local_date(breached_at)])
    elif isinstance(event, c.ProblemClosed | c.MeetingMatterClosed):
        await _recheck(session, envelope, at, [local_date(at)])


async def record_red_card(session: AsyncSession, envelope: Envelope, event: Any, state: str) -> None:
    """A card's state as the register tells it (the latest by :data:`_CARD_ORDER`, never an earlier one),
    with when it was issued and withdrawn: a supervision card counts on the carded unit's sheet of its month
    from its issue until its withdrawal (docs/scoring.md), so a period's cut-off compares those times."""
    at: datetime = event.effective_at
    values: dict[str, Any] = {
        "red_card_id": event.red_card_id,
        "state": state,
        "source": str(event.source),
        "target_unit_id": event.target.unit_id,
        "target_unit_name": event.target.unit_name,
        "target_kind": str(event.target.kind),
        "card_reason": str(event.reason),
        "project_id": event.project_id,
        "note": "；".join(e.note for e in event.evidence),
        "request_id": event.request_id,
        "period_kind": str(event.period.kind),
        "period_start": event.period.start,
        "reason": getattr(event, "dismissal_reason", None) or getattr(event, "withdrawal_reason", None),
        "updated_at": at,
        "event_id": envelope.event_id,
    }
    if state == "issued":
        values.update(issued_at=at, issued_event_id=envelope.event_id)
    elif state == "withdrawn":
        values.update(withdrawn_at=at, withdrawn_event_id=envelope.event_id)
    stmt = pg_insert(red_card_fact).values(values)
    t = red_card_fact.c
    newer = sa.case(_CARD_ORDER, value=t.state, else_=0) < _CARD_ORDER[state]
    latest = {
        column: sa.case((newer, stmt.excluded[column]), else_=t[column])
        for column in ("state", "reason", "updated_at", "event_id")
    }
    # Issue and withdrawal are each told once; a reordered copy fills what is missing, changes nothing else.
    kept = {
        column: sa.func.coalesce(t[column], stmt.excluded[column])
        for column in (
            "card_reason",
            "target_kind",
            "project_id",
            "note",
            "issued_at",
            "issued_event_id",
            "withdrawn_at",
            "withdrawn_event_id",
        )
    }
    await session.execute(stmt.on_conflict_do_update(index_elements=[t.red_card_id], set_={**latest, **kept}))
    if str(event.source) == "supervision" and state in ("issued", "withdrawn"):
        # A card issued or withdrawn after its month's cut-off refreshes the proposal, or corrects it.
        await _recheck(session, envelope, at, [event.period.start], kinds=(c.PeriodKind.MONTH,))
