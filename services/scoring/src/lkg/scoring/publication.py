"""Confirmation and publication (§六(二), §六(三)): people confirm a proposal (changing a grade with a
reason, settling a tie across third place), then it is published and frozen (``evaluation.published``,
``ranking.published``) and the bottom 3's red cards are requested (``red_card.requested``); a correction
that changes who is carded is put to 重大项目办.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.http.problems import Conflict, NotFound, PreconditionFailed, ValidationFailed
from lkg.scoring import consequences
from lkg.scoring.models import (
    card_request,
    correction,
    grade_change,
    period,
    red_card_fact,
)
from lkg.scoring.ranking import Entry
from lkg.scoring.service import PeriodView, corrections_of, get_period, view_period
from lkg.scoring.sheets import Sheet, evaluation_id

_REQUEST_NAMESPACE = uuid.UUID("5e0d9b7a-2f1c-5c3e-8b6a-7d9e0f1a2b3c")
_RANKING_NAMESPACE = uuid.UUID("c7a1e3d5-9b2f-5e4d-a6c8-1f3e5d7b9a0c")


def request_id_for(pid: UUID, unit_id: UUID) -> UUID:
    """Once per period and target (§六(三)): the same request id however often it is asked."""
    return uuid.uuid5(_REQUEST_NAMESPACE, f"{pid}:{unit_id}")


def ranking_id_for(pid: UUID, number: int = 0) -> UUID:
    return uuid.uuid5(_RANKING_NAMESPACE, f"{pid}:units_monthly:{number}")


# ---- confirmation and publication ------------------------------------------------------------------


@dataclass(frozen=True)
class GradeDecision:
    subject_kind: c.EvaluationSubject
    subject_id: UUID
    grade: c.Grade
    reason: str


async def confirm(
    session: AsyncSession,
    *,
    pid: UUID,
    expected_revision: int | None,
    grade_changes: list[GradeDecision],
    tie_carded: list[UUID] | None,
    tie_reason: str | None,
    note: str | None,
    actor: str,
    actor_name: str,
    at: datetime,
) -> Any:
    """Confirm a proposal (§六(二)): grades changed with their reasons, the tie across third place settled
    when the proposal has one; then publish it, frozen, with its consequences (§六(三)).

    Refusals (``lkg.scoring.api.CONFIRMATION_REFUSALS`` documents each): 422 for the body alone (a tie
    decision without its reason); 412 for a stale revision; 409 for what the period is or holds (already
    published, a tie left undecided, a tie decision where there is none or naming other units, a grade
    change for a subject the period does not grade): a schema cannot say those, the client re-reads the
    period."""
    if tie_carded and not tie_reason:
        raise ValidationFailed("并列决定须说明理由（tie_reason）", code="tie_reason_required")
    row = await get_period(session, pid)
    if expected_revision is not None and row.revision != expected_revision:
        raise PreconditionFailed("该考核周期已有更新，请刷新后再确认", code="stale_revision")
    if row.state != "proposed":
        raise Conflict("该考核周期已确认发布", code="period_already_published")
    view = await view_period(session, row)
    subjects = {(s.subject_kind, s.subject_id): s for s in view.sheets}
    for change in grade_changes:
        sheet = subjects.get((change.subject_kind, change.subject_id))
        if sheet is None:
            raise Conflict("该对象本期未参评，不能调整等级", code="subject_not_graded")
        await session.execute(
            pg_insert(grade_change)
            .values(
                period_id=pid,
                subject_kind=str(change.subject_kind),
                subject_id=change.subject_id,
                grade=str(change.grade),
                reason=change.reason,
                decided_by=actor,
                decided_at=at,
            )
            .on_conflict_do_update(
                index_elements=[
                    grade_change.c.period_id,
                    grade_change.c.subject_kind,
                    grade_change.c.subject_id,
                ],
                set_={
                    "grade": str(change.grade),
                    "reason": change.reason,
                    "decided_by": actor,
                    "decided_at": at,
                },
            )
        )
    tie_decision = None
    if grade_changes:
        view = await view_period(session, row)  # the ranking follows the decided grades
    if view.bottom is not None and view.bottom.tie_candidates:
        if tie_carded is None:
            raise Conflict(
                "第3名处并列，请重大项目办决定红牌对象（tie_carded）", code="tie_decision_required"
            )
        chosen = set(tie_carded)
        if not chosen <= set(view.bottom.tie_candidates) or len(chosen) != view.bottom.tie_places:
            raise Conflict(f"须从并列单位中选定 {view.bottom.tie_places} 个", code="invalid_tie_decision")
        tie_decision = {
            "carded": sorted(str(u) for u in chosen),
            "candidates": [str(u) for u in view.bottom.tie_candidates],
            "reason": tie_reason,
            "decided_by": actor,
            "decided_at": at.isoformat(),
        }
    elif tie_carded:
        raise Conflict("本期没有需要决定的并列", code="no_tie")
    published = (
        await session.execute(
            sa.update(period)
            .where(period.c.id == pid)
            .values(
                state="published",
                tie_decision=tie_decision,
                confirmed_by=actor,
                confirmed_by_name=actor_name,
                confirmation_note=note,
                published_at=at,
                revision=period.c.revision + 1,
                updated_at=at,
            )
            .returning(period)
        )
    ).one()
    await publish(session, await view_period(session, published), at=at, number=0, previous=None)
    return published


def _rule_set(view: PeriodView, kind: c.EvaluationSubject) -> str:
    return f"{kind.value.replace('_', '-')}@{view.rules.label}"


async def publish(
    session: AsyncSession, view: PeriodView, *, at: datetime, number: int, previous: PeriodView | None
) -> None:
    """``evaluation.published`` per sheet (a correction republishes only what changed, naming what it
    supersedes), ``ranking.published`` for a month, ``red_card.requested`` for the carded (at publication;
    a correction's card changes wait for 重大项目办's review)."""
    pid = view.row.id
    before = {(s.subject_kind, s.subject_id): s for s in previous.sheets} if previous else {}
    events: list[Any] = []
    for s in view.sheets:
        old = before.get((s.subject_kind, s.subject_id))
        if (
            previous is not None
            and old is not None
            and (old.score, old.final_grade) == (s.score, s.final_grade)
        ):
            continue
        supersedes = None
        if previous is not None and old is not None:
            supersedes = await _latest_evaluation_id(session, pid, s, number)
        events.append(
            c.EvaluationPublished(
                effective_at=at,
                evaluation_id=evaluation_id(pid, s, number),
                subject_kind=s.subject_kind,
                subject_id=s.subject_id,
                subject_label=s.subject_label,
                period=view.span.contract,
                grade=s.final_grade,
                score=s.score,
                rule_set=_rule_set(view, s.subject_kind),
                evidence=tuple(e.contract() for e in s.evidence),
                supersedes=supersedes,
            )
        )
    if view.span.kind is c.PeriodKind.MONTH:
        ranking_id = ranking_id_for(pid, number)
        events.append(
            c.RankingPublished(
                effective_at=at,
                ranking_id=ranking_id,
                kind=c.RankingKind.UNITS_MONTHLY,
                period=view.span.contract,
                rule_set=f"units-monthly@{view.rules.label}",
                # Without each entry's evidence: it is the unit's sheets' evidence, told once already by
                # their ``evaluation.published`` and served by GET /api/v1/rankings/units-monthly/{month}.
                # Every unit's evidence in one message outgrew what NATS carries (1 MiB) at 2,450 projects
                # (bench/system.py), and stopped the relay at the month's end.
                entries=tuple(
                    c.RankingEntry(
                        rank=e.rank, subject_id=e.unit_id, subject_label=e.label, score=e.score, grade=e.grade
                    )
                    for e in view.ranking
                ),
            )
        )
        if number == 0 and view.bottom is not None:
            events += await _request_cards(
                session, view, view.bottom.carded, at=at, ranking_id=ranking_id, number=None
            )
    if number == 0:
        events += consequences.listed_events(view, at=at)  # 约谈 and 表态发言 lists, §六(三)
    for event in events:
        await stage(session, event)


async def _latest_evaluation_id(session: AsyncSession, pid: UUID, sheet: Sheet, number: int) -> UUID:
    """The evaluation a correction supersedes: the last stage (0 = published, k = correction k) before
    ``number`` that changed this subject (ids are derived, so they are found again after a rebuild)."""
    row = await get_period(session, pid)
    cuts = [row.as_of] + [r.as_of for r in await corrections_of(session, pid) if r.number < number]
    last, previous = 0, None
    for k, cut in enumerate(cuts):
        here = await view_period(session, row, as_of=cut)
        found = next(
            (
                s
                for s in here.sheets
                if (s.subject_kind, s.subject_id) == (sheet.subject_kind, sheet.subject_id)
            ),
            None,
        )
        key = (found.score, found.final_grade) if found else None
        if k == 0 or key != previous:
            last = k
        previous = key
    return evaluation_id(pid, sheet, last)


def _target_kind(entry: Entry) -> c.RedCardTargetKind:
    if c.EvaluationSubject.RESPONSIBLE_UNIT in entry.subject_kinds:
        return c.RedCardTargetKind.RESPONSIBLE_UNIT
    return c.RedCardTargetKind.APPROVAL_DEPARTMENT


async def _request_cards(
    session: AsyncSession,
    view: PeriodView,
    units: list[UUID],
    *,
    at: datetime,
    ranking_id: UUID,
    number: int | None,
) -> list[c.RedCardRequested]:
    pid = view.row.id
    entries = {e.unit_id: e for e in view.ranking}
    events = []
    for unit in units:
        entry = entries[unit]
        request_id = request_id_for(pid, unit)
        inserted = (
            await session.execute(
                pg_insert(card_request)
                .values(
                    period_id=pid,
                    unit_id=unit,
                    request_id=request_id,
                    rank=entry.rank,
                    correction_number=number,
                    requested_at=at,
                )
                .on_conflict_do_nothing()
                .returning(card_request.c.request_id)
            )
        ).first()
        if inserted is None:
            continue  # once per period and target
        events.append(
            c.RedCardRequested(
                effective_at=at,
                request_id=request_id,
                ranking_id=ranking_id,
                period=view.span.contract,
                target=c.RedCardTarget(unit_id=unit, unit_name=entry.label, kind=_target_kind(entry)),
                rank=entry.rank,
                ranked_count=len(view.ranking),
                evidence=tuple(e.contract() for e in entry.evidence)
                or (c.EvidenceRef(kind="ranking", id=ranking_id, note=f"月度考核排名第{entry.rank}名"),),
            )
        )
    return events


async def review_card_change(
    session: AsyncSession,
    *,
    pid: UUID,
    number: int,
    request_cards_for: list[UUID],
    reason: str,
    actor: str,
    at: datetime,
) -> Any:
    """重大项目办's decision on a correction that changed who is carded: cards for the units that entered the
    bottom (asked of the register now), and a record of the decision. A card of a unit that left the
    bottom is withdrawn in the issues register (``POST /api/v1/red-cards/{id}/withdrawal``), which tells
    scoring through ``red_card.withdrawn``."""
    row = await get_period(session, pid)
    corr = next((r for r in await corrections_of(session, pid) if r.number == number), None)
    if corr is None:
        raise NotFound("没有该更正", code="correction_not_found")
    if corr.card_review != "pending":
        raise Conflict("该更正无需或已完成红牌复核", code="card_review_not_pending")
    view = await view_period(session, row, as_of=corr.as_of)
    carded_now = set(view.bottom.carded) if view.bottom else set()
    if not set(request_cards_for) <= carded_now:
        raise ValidationFailed("只能为更正后位于后3名的单位提请红牌", code="not_in_bottom")
    events = await _request_cards(
        session, view, list(request_cards_for), at=at, ranking_id=ranking_id_for(pid, number), number=number
    )
    for event in events:
        await stage(session, event)
    return (
        await session.execute(
            sa.update(correction)
            .where(correction.c.period_id == pid, correction.c.number == number)
            .values(
                card_review="decided",
                card_decision={"request_cards_for": [str(u) for u in request_cards_for], "reason": reason},
                decided_by=actor,
                decided_at=at,
            )
            .returning(correction)
        )
    ).one()


# ---- consequences and records ---------------------------------------------------------------------


async def cards_of(session: AsyncSession, pid: UUID) -> list[dict[str, Any]]:
    """The ranking cards asked for this period, with what the issues register did with each."""
    rows = (
        await session.execute(
            sa.select(
                card_request, red_card_fact.c.red_card_id, red_card_fact.c.state, red_card_fact.c.reason
            )
            .join(red_card_fact, red_card_fact.c.request_id == card_request.c.request_id, isouter=True)
            .where(card_request.c.period_id == pid)
            .order_by(card_request.c.rank, card_request.c.unit_id)
        )
    ).all()
    return [
        {
            "unit_id": r.unit_id,
            "request_id": r.request_id,
            "rank": r.rank,
            "correction_number": r.correction_number,
            "red_card_id": r.red_card_id,
            "state": r.state or "requested",
            "reason": r.reason,
        }
        for r in rows
    ]
