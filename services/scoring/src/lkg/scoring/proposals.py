"""What the clock decides (docs/time.md): a period closes with a proposal as of its cut-off, and a fact
recorded after a cut-off refreshes the proposal or, once published, gives a numbered correction (§六(二)).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar, end_of_day
from lkg.common.events import contracts as c
from lkg.scoring import rules as rules_mod
from lkg.scoring.models import (
    breach_fact,
    correction,
    matter_fact,
    milestone_fact,
    period,
    period_recheck,
)
from lkg.scoring.periods import Span, span_containing
from lkg.scoring.publication import publish
from lkg.scoring.service import corrections_of, first_fact_day, get_period, view_period


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
    await publish(session, after, at=at, number=number, previous=before)
    return True
