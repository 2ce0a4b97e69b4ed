"""Use cases of the evaluations (考核评价), read side: a period's figures as of a cut-off, computed from the
facts recorded by then (:mod:`lkg.scoring.sheets`) plus the decisions people made, so a rebuilt database
reproduces them; live standings; the heads of units (约谈). The clock's proposals and rechecks are in
:mod:`lkg.scoring.proposals`, confirmation, publication and the cards in :mod:`lkg.scoring.publication`
(§六(二), §六(三)).

Use cases take the session and keyword arguments, change rows, stage outbox events and raise domain
errors; they never commit and never speak HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import local_date
from lkg.common.events import contracts as c
from lkg.common.http.problems import NotFound
from lkg.scoring import rules as rules_mod
from lkg.scoring.models import (
    breach_fact,
    correction,
    enrolment_fact,
    grade_change,
    matter_fact,
    milestone_baseline,
    org_copy,
    period,
)
from lkg.scoring.periods import EVALUATED_KINDS, Span, period_id, span_containing
from lkg.scoring.ranking import Bottom, Entry, bottom, rank_units
from lkg.scoring.rules import RuleVersion
from lkg.scoring.sheets import Sheet, compute


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


# ---- facts and records ------------------------------------------------------------------------------


async def first_fact_day(session: AsyncSession) -> date | None:
    firsts = [
        sa.select(sa.func.min(milestone_baseline.c.recorded_at)),
        sa.select(sa.func.min(matter_fact.c.reported_at)),
        sa.select(sa.func.min(breach_fact.c.recorded_at)),
        sa.select(sa.func.min(enrolment_fact.c.recorded_at)),
    ]
    found = [v for q in firsts if (v := (await session.execute(q)).scalar()) is not None]
    return local_date(min(found)) if found else None


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


__all__ = ["EVALUATED_KINDS", "PeriodView", "view_period"]
