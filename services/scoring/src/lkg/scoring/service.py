"""Use cases of the evaluations (考核评价): a period closes with a proposal, people confirm it (changing a
grade with a reason, settling a tie across third place), then it is published and frozen and its
consequences follow; a fact recorded later gives a numbered correction (§六(二), §六(三)).

Use cases take the session and keyword arguments, change rows, stage outbox events and raise domain
errors; they never commit and never speak HTTP. Figures are never stored: a period's sheets are computed
from the facts recorded by its cut-off (:mod:`lkg.scoring.sheets`) plus the decisions kept here, so a
rebuilt database reproduces them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar, end_of_day, local_date
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.http.problems import Conflict, NotFound, PreconditionFailed, ValidationFailed
from lkg.scoring import rules as rules_mod
from lkg.scoring.models import (
    breach_fact,
    card_request,
    correction,
    enrolment_fact,
    grade_change,
    matter_fact,
    milestone_baseline,
    milestone_fact,
    org_copy,
    period,
    period_recheck,
    red_card_fact,
)
from lkg.scoring.periods import EVALUATED_KINDS, Span, period_id, span_containing
from lkg.scoring.ranking import Bottom, Entry, bottom, rank_units
from lkg.scoring.rules import RuleVersion
from lkg.scoring.sheets import Sheet, compute, evaluation_id

_REQUEST_NAMESPACE = uuid.UUID("5e0d9b7a-2f1c-5c3e-8b6a-7d9e0f1a2b3c")
_RANKING_NAMESPACE = uuid.UUID("c7a1e3d5-9b2f-5e4d-a6c8-1f3e5d7b9a0c")


@dataclass
class PeriodView:
    """A period's figures as of one cut-off, with the decisions applied."""

    row: Any
    span: Span
    rules: RuleVersion
    as_of: datetime
    sheets: list[Sheet]
    ranking: list[Entry] = field(default_factory=list)
    bottom: Bottom | None = None

    def fingerprint(self) -> tuple[Any, ...]:
        """What a correction compares: every subject's score and grade, and who is carded."""
        return (
            tuple((s.subject_kind, s.subject_id, s.score, s.final_grade) for s in self.sheets),
            tuple(sorted(self.bottom.carded, key=str)) if self.bottom else (),
        )


def request_id_for(pid: UUID, unit_id: UUID) -> UUID:
    """Once per period and target (§六(三)): the same request id however often it is asked."""
    return uuid.uuid5(_REQUEST_NAMESPACE, f"{pid}:{unit_id}")


def ranking_id_for(pid: UUID, number: int = 0) -> UUID:
    return uuid.uuid5(_RANKING_NAMESPACE, f"{pid}:units_monthly:{number}")


def span_of(row: Any) -> Span:
    return Span(c.PeriodKind(row.kind), row.start, row.end)


async def get_period(session: AsyncSession, pid: UUID) -> Any:
    row = (await session.execute(sa.select(period).where(period.c.id == pid))).first()
    if row is None:
        raise NotFound("没有该考核周期", code="period_not_found")
    return row


async def list_periods(
    session: AsyncSession, *, kind: c.PeriodKind | None, state: str | None, updated_since: datetime | None
) -> list[Any]:
    stmt = sa.select(period).order_by(period.c.start.desc(), period.c.kind)
    if kind is not None:
        stmt = stmt.where(period.c.kind == str(kind))
    if state is not None:
        stmt = stmt.where(period.c.state == state)
    if updated_since is not None:
        stmt = stmt.where(period.c.updated_at > updated_since)
    return list((await session.execute(stmt)).all())


async def _decided_grades(session: AsyncSession, pid: UUID) -> dict[tuple[str, UUID], Any]:
    rows = (await session.execute(sa.select(grade_change).where(grade_change.c.period_id == pid))).all()
    return {(r.subject_kind, r.subject_id): r for r in rows}


async def compute_view(
    session: AsyncSession,
    span: Span,
    as_of: datetime,
    rules: RuleVersion,
    *,
    row: Any = None,
    decided: dict[tuple[str, UUID], Any] | None = None,
) -> PeriodView:
    sheets = await compute(session, span, as_of, rules.body)
    for s in sheets:
        change = (decided or {}).get((str(s.subject_kind), s.subject_id))
        if change is not None:
            s.grade = c.Grade(change.grade)
            s.grade_reason = change.reason
    view = PeriodView(row=row, span=span, rules=rules, as_of=as_of, sheets=sheets)
    if span.kind is c.PeriodKind.MONTH:
        view.ranking = rank_units(sheets)
        view.bottom = bottom(
            view.ranking, rules.body.consequences, row.tie_decision if row is not None else None
        )
    return view


async def view_period(session: AsyncSession, row: Any, *, as_of: datetime | None = None) -> PeriodView:
    """The period as proposed or published (``as_of`` its cut-off), or as of a correction's cut-off."""
    rules = await rules_mod.get_version(session, row.rule_version)
    decided = await _decided_grades(session, row.id)
    return await compute_view(session, span_of(row), as_of or row.as_of, rules, row=row, decided=decided)


async def corrections_of(session: AsyncSession, pid: UUID) -> list[Any]:
    return list(
        (
            await session.execute(
                sa.select(correction).where(correction.c.period_id == pid).order_by(correction.c.number)
            )
        ).all()
    )


async def live_view(session: AsyncSession, kind: c.PeriodKind, now: datetime) -> PeriodView:
    """Live standings (实时排名): the period running now, as if it closed now (nothing decided yet)."""
    span = span_containing(kind, local_date(now))
    rules = await rules_mod.in_force(session, span.start)
    return await compute_view(session, span, now, rules)


# ---- the clock: proposals and rechecks -------------------------------------------------------------


async def first_fact_day(session: AsyncSession) -> date | None:
    firsts = [
        sa.select(sa.func.min(milestone_baseline.c.recorded_at)),
        sa.select(sa.func.min(matter_fact.c.reported_at)),
        sa.select(sa.func.min(breach_fact.c.recorded_at)),
        sa.select(sa.func.min(enrolment_fact.c.recorded_at)),
    ]
    found = [v for q in firsts if (v := (await session.execute(q)).scalar()) is not None]
    return local_date(min(found)) if found else None


async def propose_next(
    session: AsyncSession,
    kind: c.PeriodKind,
    *,
    until: datetime,
    calendar: WorkingCalendar,
    earliest: date | None,
) -> Any | None:
    """Close the next period of ``kind`` if its close time has come: record it as proposed, with its
    cut-off and rules (a decision the rebuild keeps). Returns the row or None."""
    latest = (
        await session.execute(
            sa.select(period.c.start)
            .where(period.c.kind == str(kind))
            .order_by(period.c.start.desc())
            .limit(1)
        )
    ).scalar()
    if latest is not None:
        span = span_containing(kind, latest).following()
    else:
        first = await first_fact_day(session)
        if first is None:
            return None
        span = span_containing(kind, max(first, earliest) if earliest else first)
    rules = await rules_mod.in_force(session, span.start)
    closes = span.closes_at(calendar, rules.body.grace_working_days)
    if closes > until:
        return None
    row = (
        await session.execute(
            pg_insert(period)
            .values(
                id=span.id,
                kind=str(kind),
                start=span.start,
                end=span.end,
                state="proposed",
                rule_version=rules.version,
                closes_at=closes,
                as_of=closes,
                revision=1,
                updated_at=closes,
            )
            .on_conflict_do_nothing()
            .returning(period)
        )
    ).first()
    if row is not None:
        await _sweep_late_facts(session, span, closes)
    return row


async def _sweep_late_facts(session: AsyncSession, span: Span, cut_off: datetime) -> None:
    """Rechecks for the facts about ``span`` already recorded after its cut-off: a handler that applied
    one while this period was being proposed (in another transaction) could not see the period yet."""
    start = datetime.combine(span.start, datetime.min.time(), tzinfo=cut_off.tzinfo)
    end = end_of_day(span.end)
    m, b, x = milestone_fact, breach_fact, matter_fact
    late = [
        sa.select(
            m.c.achieved_event_id.label("event_id"), sa.literal("milestone.achieved"), m.c.achieved_at
        ).where(m.c.achieved_at > cut_off, m.c.achieved_on <= span.end),
        sa.select(b.c.event_id, sa.literal("breach"), b.c.recorded_at).where(
            b.c.recorded_at > cut_off, b.c.breached_at >= start, b.c.breached_at < end
        ),
        sa.select(x.c.closed_event_id, sa.literal("closed"), x.c.closed_at).where(
            x.c.closed_at > cut_off, x.c.closed_at < end
        ),
    ]
    for stmt in late:
        rows = (await session.execute(stmt)).all()
        if rows:
            await session.execute(
                pg_insert(period_recheck)
                .values(
                    [
                        {"period_id": span.id, "event_id": r[0], "event_type": r[1], "recorded_at": r[2]}
                        for r in rows
                    ]
                )
                .on_conflict_do_nothing()
            )


async def next_recheck(session: AsyncSession, until: datetime) -> Any | None:
    return (
        await session.execute(
            sa.select(period_recheck)
            .where(period_recheck.c.recorded_at <= until)
            .order_by(period_recheck.c.recorded_at, period_recheck.c.event_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()


async def apply_recheck(session: AsyncSession, recheck: Any) -> bool:
    """A fact recorded after a period's cut-off. A proposal not yet confirmed is refreshed (its cut-off moves
    to the fact, its revision goes up: whoever confirms sees it changed); a published period gets a
    numbered correction if the figures change, and nothing otherwise. Returns True if something changed."""
    await session.execute(
        sa.delete(period_recheck).where(
            period_recheck.c.period_id == recheck.period_id, period_recheck.c.event_id == recheck.event_id
        )
    )
    row = await get_period(session, recheck.period_id)
    at = recheck.recorded_at
    if row.state == "proposed":
        if at <= row.as_of:
            return False
        await session.execute(
            sa.update(period)
            .where(period.c.id == row.id)
            .values(as_of=at, revision=period.c.revision + 1, updated_at=at)
        )
        return True
    existing = (
        await session.execute(
            sa.select(correction.c.number).where(
                correction.c.period_id == row.id, correction.c.cause_event_id == recheck.event_id
            )
        )
    ).first()
    if existing is not None:
        return False  # a replay of the streams meets the cause again: the correction stands
    previous = await corrections_of(session, row.id)
    last_as_of = previous[-1].as_of if previous else row.as_of
    if at <= last_as_of:
        return False
    before = await view_period(session, row, as_of=last_as_of)
    after = await view_period(session, row, as_of=at)
    if before.fingerprint() == after.fingerprint():
        return False
    number = len(previous) + 1
    carded_changed = before.fingerprint()[1] != after.fingerprint()[1]
    await session.execute(
        sa.insert(correction).values(
            period_id=row.id,
            number=number,
            cause_event_id=recheck.event_id,
            cause_event_type=recheck.event_type,
            as_of=at,
            reason=f"发布后记录的事实（{recheck.event_type}，事件 {recheck.event_id}）改变了考核结果",
            card_review="pending" if carded_changed else "none",
            created_at=at,
        )
    )
    await session.execute(sa.update(period).where(period.c.id == row.id).values(updated_at=at))
    await _publish(session, after, at=at, number=number, previous=before)
    return True


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
    when the proposal has one; then publish it, frozen, with its consequences (§六(三))."""
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
            raise ValidationFailed("该对象本期未参评", code="subject_not_graded")
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
            raise ValidationFailed(
                "第3名处并列，请重大项目办决定红牌对象（tie_carded）", code="tie_decision_required"
            )
        chosen = set(tie_carded)
        if not chosen <= set(view.bottom.tie_candidates) or len(chosen) != view.bottom.tie_places:
            raise ValidationFailed(
                f"须从并列单位中选定 {view.bottom.tie_places} 个", code="invalid_tie_decision"
            )
        if not tie_reason:
            raise ValidationFailed("并列决定须说明理由", code="tie_reason_required")
        tie_decision = {
            "carded": sorted(str(u) for u in chosen),
            "candidates": [str(u) for u in view.bottom.tie_candidates],
            "reason": tie_reason,
            "decided_by": actor,
            "decided_at": at.isoformat(),
        }
    elif tie_carded:
        raise ValidationFailed("本期没有需要决定的并列", code="no_tie")
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
    await _publish(session, await view_period(session, published), at=at, number=0, previous=None)
    return published


def _rule_set(view: PeriodView, kind: c.EvaluationSubject) -> str:
    return f"{kind.value.replace('_', '-')}@{view.rules.label}"


async def _publish(
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
                entries=tuple(
                    c.RankingEntry(
                        rank=e.rank,
                        subject_id=e.unit_id,
                        subject_label=e.label,
                        score=e.score,
                        grade=e.grade,
                        evidence=tuple(x.contract() for x in e.evidence),
                    )
                    for e in view.ranking
                ),
            )
        )
        if number == 0 and view.bottom is not None:
            events += await _request_cards(
                session, view, view.bottom.carded, at=at, ranking_id=ranking_id, number=None
            )
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


async def unit_heads(session: AsyncSession, units: list[UUID], day: date) -> dict[UUID, list[str]]:
    """The heads (主要负责同志, ``unit_head`` posts) of ``units`` on ``day``: who is interviewed (约谈)."""
    if not units:
        return {}
    p, h, people = org_copy.posts, org_copy.holdings, org_copy.people
    from lkg.common.orgcopy import in_force

    rows = (
        await session.execute(
            sa.select(p.c.unit_id, people.c.name)
            .select_from(p.join(h, h.c.post_id == p.c.id).join(people, people.c.id == h.c.person_id))
            .where(p.c.unit_id.in_(units), p.c.kind == "unit_head", in_force(p, day), in_force(h, day))
            .order_by(people.c.name)
        )
    ).all()
    out: dict[UUID, list[str]] = {}
    for r in rows:
        out.setdefault(r.unit_id, []).append(r.name)
    return out


def periods_between(kind: c.PeriodKind, year: int) -> list[UUID]:
    span = span_containing(kind, date(year, 1, 1))
    ids = []
    while span.start.year == year:
        ids.append(period_id(kind, span.start))
        span = span.following()
    return ids


__all__ = ["EVALUATED_KINDS", "GradeDecision", "PeriodView", "confirm", "view_period"]
