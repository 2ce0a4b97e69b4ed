"""What runs on the clock in the approvals service: the stall scan, the start-at-risk scan, and the deadlines
recomputed when an official year of the working calendar is loaded.

The stall scan selects clocks by ``next_at`` through a partial index, claims them with SKIP LOCKED and
changes them in the same transaction, so racing replicas emit one ``approval.stalled`` per breach, in due
order over a clock jump (docs/approvals.md, docs/time.md).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.clocks import days_over, item_fact, refresh
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalItemChange, ApprovalPlan
from lkg.approvals.risk import mark_for_reassessment, reassess
from lkg.approvals.settings import ApprovalsRuntime
from lkg.common.calendar import local_date
from lkg.common.clock import TZ
from lkg.common.events import outbox
from lkg.common.events.base import Event
from lkg.common.events.contracts import ApprovalClockKind, ApprovalDueSoon, ApprovalStalled, BudgetUnit
from lkg.common.scans import scan_due

#: Clocks claimed per scan transaction.
SCAN_BATCH = 500


#: What the scan reads of a due clock, its item and its plan: only the columns it uses (no JSON to decode).
_CLAIM = (
    ApprovalClock.id,
    ApprovalClock.kind,
    ApprovalClock.state,
    ApprovalClock.budget,
    ApprovalClock.unit,
    ApprovalClock.due_at,
    ApprovalClock.next_at,
    ApprovalItem.id.label("item_id"),
    ApprovalItem.catalogue_item_id,
    ApprovalItem.name,
    ApprovalItem.project_id,
    ApprovalItem.handling_unit_id,
    ApprovalItem.handling_unit_name,
    ApprovalItem.mode,
    ApprovalItem.state.label("item_state"),
    ApprovalPlan.project_name,
    ApprovalPlan.agent_person_id,
)

#: Up to a batch of due clocks, in due order, locked (others skip them), with their items and plans.
_CLAIM_DUE = (
    sa.select(*_CLAIM)
    .join(ApprovalItem, ApprovalItem.id == ApprovalClock.item_id)
    .join(ApprovalPlan, ApprovalPlan.id == ApprovalItem.plan_id)
    .where(ApprovalClock.next_at <= sa.bindparam("until"))
    .order_by(ApprovalClock.next_at, ApprovalClock.id)
    .limit(sa.bindparam("batch"))
    .with_for_update(of=ApprovalClock, skip_locked=True)
)

#: Every breach of a batch and its history line in one statement (the clocks are locked by the claim): the
#: columns as arrays, unnested once, the UPDATE in a data-modifying CTE and the lines inserted in the
#: batch's order (one round trip and one statement to plan, where it was two).
#: The line's details (clock id, kind, due time in +08:00) are built by PostgreSQL from those columns.
_STALLED_KEYS = ("id", "at", "item_id", "state", "note", "kind", "due_at")
_MARK_BREACHED = sa.text(
    "WITH v AS (SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:at AS timestamptz[]), "
    "CAST(:item_id AS uuid[]), CAST(:state AS text[]), CAST(:note AS text[]), CAST(:kind AS text[]), "
    "CAST(:due_at AS text[])) WITH ORDINALITY AS v(id, at, item_id, state, note, kind, due_at, n)), "
    "marked AS (UPDATE approval_clock AS c SET state = 'breached', breached_at = v.at, next_at = NULL, "
    "warned_at = COALESCE(c.warned_at, v.at) FROM v WHERE c.id = v.id) "
    "INSERT INTO approval_item_change (item_id, at, action, from_state, to_state, actor, note, details) "
    "SELECT v.item_id, v.at, 'stalled', v.state, v.state, 'system', v.note, "
    "jsonb_build_object('clock_id', v.id::text, 'clock_kind', v.kind, 'due_at', v.due_at) "
    "FROM v ORDER BY v.n"
)


#: Is any clock due? One indexed look-up, no transaction: most scans find nothing, and then this is all
#: they cost (one round trip instead of BEGIN, the claim and COMMIT). A clock committed just after it is
#: found by the next scan, as by a scan that had run a moment earlier.
_PROBE = (
    sa.select(sa.literal(1))
    .select_from(ApprovalClock)
    .where(ApprovalClock.next_at <= sa.bindparam("until"))
    .limit(1)
)


async def _anything_due(runtime: ApprovalsRuntime, until: datetime) -> bool:
    async with runtime.db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return (await conn.execute(_PROBE, {"until": until})).first() is not None


async def scan_clocks(runtime: ApprovalsRuntime, until: datetime) -> int:
    """Warn before, and stall at, every clock due up to ``until``: once each, in due order (docs/time.md).

    The guarantees of :func:`lkg.common.scans.scan_due`, batch by batch rather than row by row: one
    statement claims up to :data:`SCAN_BATCH` due clocks in due order through the partial index on
    ``next_at`` (``FOR UPDATE OF approval_clock SKIP LOCKED``, so racing replicas act once per breach), with
    what it needs of their items and plans; each clock is handled under ``clock.at(its next_at)``; the
    breaches with their history lines (one statement) and their events (:func:`outbox.stage_many`, one
    statement) are written in the same transaction, whose commit wakes the relay: it publishes a batch
    while the scan claims the next. A warning moves the clock's ``next_at`` to its due time: if that falls
    within ``until`` the batch stops there, commits and selects again, so the breach is handled in due order
    among the rest.
    Row by row the scan cost about a dozen round trips a stall (bench/approvals.py: 17 ms a stall on a
    loaded machine); batched, 10,000 stalls take it about 1.6–3.2 s at 1,000,000 open clocks (load 1.5–5),
    and the relay's publishing to JetStream (``sync_interval: always``) is the longer part."""
    calendar = runtime.calendar
    share = runtime.settings.due_soon_share
    handled = await catch_up_loaded_years(runtime)
    if not await _anything_due(runtime, until):
        return handled
    # Days over at ``until`` depend on the due day and the unit only: counted once per pair in a scan.
    days_over_by_day: dict[tuple[date, str], int] = {}

    def over(row: Any) -> int:
        key = (local_date(row.due_at), row.unit)
        if key not in days_over_by_day:
            days_over_by_day[key] = days_over(calendar, row, until)
        return days_over_by_day[key]

    while True:
        async with runtime.db.transaction() as session:
            # On the transaction's connection, not through the ORM session: plain rows of columns, without
            # the ORM's result machinery (nothing here is an entity).
            conn = await session.connection()
            claimed = (await conn.execute(_CLAIM_DUE, {"until": until, "batch": SCAN_BATCH})).all()
            if not claimed:
                return handled
            events: list[Event] = []
            breached: list[dict[str, Any]] = []
            idle: list[uuid.UUID] = []
            again = False
            for row in claimed:
                with runtime.clock.at(row.next_at):
                    now = runtime.clock.now()  # the clock's next_at, not the time the clock jumped to
                    handled += 1
                    if row.state != "running":
                        idle.append(row.id)
                        continue
                    fact = item_fact(row, item_id=row.item_id, project_name=row.project_name, now=now)
                    kind = ApprovalClockKind(row.kind)
                    if row.due_at is not None and now >= row.due_at:
                        breached.append(_stalled_line(row, kind, now))
                        events.append(
                            ApprovalStalled(
                                **fact,
                                due_at=row.due_at,
                                clock_kind=kind,
                                days_over=over(row),
                                budget=row.budget,
                                budget_unit=BudgetUnit(row.unit),
                                agent_id=row.agent_person_id,
                            )
                        )
                        continue
                    # The warning: a share of the budget has passed.
                    clock = await session.get(ApprovalClock, row.id)
                    assert clock is not None
                    clock.warned_at = now
                    refresh(clock, calendar, share)
                    assert clock.due_at is not None
                    events.append(ApprovalDueSoon(**fact, due_at=clock.due_at, clock_kind=kind))
                    if clock.next_at is not None and clock.next_at <= until:
                        again = True  # its breach falls in this scan: select again, in due order
                        break
            if breached:
                await session.execute(
                    _MARK_BREACHED, {k: [line[k] for line in breached] for k in _STALLED_KEYS}
                )
            if idle:
                await session.execute(
                    sa.update(ApprovalClock).where(ApprovalClock.id.in_(idle)).values(next_at=None)
                )
            await outbox.stage_many(session, events)
            if len(claimed) < SCAN_BATCH and not again:
                return handled


def _stalled_line(row: Any, kind: ApprovalClockKind, now: datetime) -> dict[str, Any]:
    """The breach of a clock (``id``, ``at``) and the item's history line for it (action ``stalled``, by the
    system, the state unchanged): the parameters of :data:`_MARK_BREACHED`."""
    return {
        "id": row.id,
        "at": now,
        "item_id": row.item_id,
        "state": row.item_state,
        "note": f"{row.name}超过办理时限" if kind is ApprovalClockKind.LIMIT else f"{row.name}核验超时",
        "kind": kind.value,
        "due_at": row.due_at.astimezone(TZ).isoformat(),
    }


# ---- an official year loaded: provisional deadlines recomputed (docs/calendar.md, docs/approvals.md) -----

#: (database URL, year) pairs this process has already brought in step, so the catch-up at the first scan
#: after a start (a year loaded while the service was down) runs once per year, not on every scan.
_caught_up: set[tuple[str, int]] = set()

RECOMPUTE_BATCH = 500


async def recompute_provisional(runtime: ApprovalsRuntime, year: int) -> int:
    """``on_calendar_loaded``: every running clock whose due time was computed on the provisional calendar
    of ``year`` gets its due time, warning and provisional flag again from the loaded schedule, once, in due
    order. Returns how many clocks changed.

    A clock is a candidate when it is still flagged provisional and its counting touches ``year`` (started
    before the year ends, due on or after it begins, or paused with no due time yet). Recomputing is
    idempotent: a second call (a replica, a restart) finds the clocks no longer provisional, or computes
    the same values and writes nothing. Breached, met and cancelled clocks keep what happened to them: a
    stall already emitted is history, not a forecast. Each change is written to the item's history, and
    the plans concerned are looked at again by the start-at-risk scan (their earliest start counted days of
    that year too)."""
    _caught_up.add((runtime.settings.database_url or "", year))
    calendar = runtime.calendar
    share = runtime.settings.due_soon_share
    begins = datetime(year, 1, 1, tzinfo=TZ)
    ends = datetime(year + 1, 1, 1, tzinfo=TZ)
    candidate = sa.and_(
        ApprovalClock.state == "running",
        ApprovalClock.provisional.is_(True),
        ApprovalClock.started_at < ends,
        sa.or_(ApprovalClock.due_at.is_(None), ApprovalClock.due_at >= begins),
    )
    in_due_order = (ApprovalClock.due_at.asc().nulls_last(), ApprovalClock.id)
    async with runtime.db.sessions() as session:
        ids = list(
            (
                await session.scalars(sa.select(ApprovalClock.id).where(candidate).order_by(*in_due_order))
            ).all()
        )
    changed = 0
    for offset in range(0, len(ids), RECOMPUTE_BATCH):
        chunk = ids[offset : offset + RECOMPUTE_BATCH]
        async with runtime.db.transaction() as session:
            now = runtime.clock.now()
            # Locked and filtered again: a scan or another replica may have moved a clock meanwhile.
            rows = (
                await session.scalars(
                    sa.select(ApprovalClock)
                    .where(ApprovalClock.id.in_(chunk), candidate)
                    .order_by(*in_due_order)
                    .with_for_update()
                )
            ).all()
            plan_ids: set[uuid.UUID] = set()
            for clock in rows:
                before = (clock.due_at, clock.warn_at, clock.provisional)
                refresh(clock, calendar, share)
                if (clock.due_at, clock.warn_at, clock.provisional) == before:
                    continue
                changed += 1
                item = await session.get(ApprovalItem, clock.item_id)
                assert item is not None
                plan_ids.add(item.plan_id)
                session.add(
                    ApprovalItemChange(
                        item_id=item.id,
                        at=now,
                        action="deadline_recomputed",
                        from_state=item.state,
                        to_state=item.state,
                        actor="system",
                        note=f"已加载{year}年官方日历，重新计算期限",
                        details={
                            "clock_id": str(clock.id),
                            "clock_kind": clock.kind,
                            "year": year,
                            "due_at_before": before[0].astimezone(TZ).isoformat() if before[0] else None,
                            "due_at": clock.due_at.astimezone(TZ).isoformat() if clock.due_at else None,
                            "provisional": clock.provisional,
                        },
                    )
                )
            await mark_for_reassessment(session, now, plan_ids=plan_ids)
    async with runtime.db.transaction() as session:
        # Plans with no recomputed clock may still have counted days of that year for their earliest start.
        await mark_for_reassessment(session, runtime.clock.now(), from_day=begins.date())
    return changed


async def catch_up_loaded_years(runtime: ApprovalsRuntime) -> int:
    """Years loaded while this process was not listening (``lkg calendar load`` with the service down, or
    the schedule delivered before the service had started): recomputed once, at the first scan."""
    changed = 0
    calendar = runtime.calendar
    for year in sorted(calendar.official_years()):
        key = (runtime.settings.database_url or "", year)
        if key in _caught_up or calendar.year_kind(year) != "loaded":
            continue
        changed += await recompute_provisional(runtime, year)
    return changed


# ---- the verdict on the planned start ----


async def scan_risk(runtime: ApprovalsRuntime, until: datetime) -> int:
    """Look again at each plan whose verdict would flip by ``until`` if nothing moved (SKIP LOCKED)."""
    table = ApprovalPlan.__table__

    async def handle(session: AsyncSession, row: Any) -> bool:
        plan = await session.get(ApprovalPlan, row.id)
        assert plan is not None
        await reassess(session, runtime.calendar, plan, runtime.clock.now())
        await session.flush()
        return plan.risk_check_at is not None and plan.risk_check_at <= until

    return await scan_due(
        db=runtime.db,
        clock=runtime.clock,
        table=table,
        due_column=table.c.risk_check_at,
        until=until,
        handle=handle,
    )
