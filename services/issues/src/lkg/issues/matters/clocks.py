"""The clocks (时限) of a matter as deadline rows, and the scan that warns and escalates (policy §二,
§五(一); docs/issues.md#clocks).

Every obligation is a ``deadline`` row: what it is (acceptance, reply, progress, resolution), the unit it
charges, its start, budget and due time, its warning time, its state. ``next_at`` is the next moment
something happens to a running clock (the warning, then the breach): the scan walks an index on it in
time order, so a jump of the shared clock over several due times handles them as real time would have, and
a clock started by a breach starts from the breach (the row's due time), as :mod:`lkg.common.scans` does;
:func:`scan_clocks` works in batches (see there).

A breach is recorded against the charged unit (``problem.breached``) and takes the matter up one layer
(``problem.escalated``): layer 1 → the line's leader and service department → the top leaders and
区重大项目办. The breached clock starts again at the new layer with the same budget; the resolving unit
keeps the duty to solve. At layer 3 a breach is recorded and the matter stays overdue there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar, end_of_day, local_date
from lkg.common.clock import TZ
from lkg.common.events.contracts import EscalationCause, Layer
from lkg.issues import org
from lkg.issues.audit import SYSTEM, SYSTEM_NAME, entry_for, record, record_many
from lkg.issues.matters.events import clock_snapshot, clocks, fact, tell, tell_all
from lkg.issues.matters.rows import advanced
from lkg.issues.models import OPEN_STATES, breach, deadline, matter, matter_signal
from lkg.issues.settings import ClockLimits, IssuesRuntime

RUNNING = "running"


def working_due(
    calendar: WorkingCalendar, start: datetime, budget: int, limits: ClockLimits
) -> tuple[datetime, datetime | None, bool]:
    """(due time, warning time, provisional) of a clock of ``budget`` working days from ``start``. The
    warning falls at the end of the working day that uses ``warning_share`` of the budget (none when that
    rounds to no day or to the whole budget)."""
    due = calendar.compute_due(start, budget, "working")
    assert due.due_at is not None  # no pauses on a matter's clocks
    warn_days = int(budget * limits.warning_share)
    warn = calendar.compute_due(start, warn_days, "working") if 0 < warn_days < budget else None
    return due.due_at, warn.due_at if warn else None, due.provisional or bool(warn and warn.provisional)


def clock_row(
    calendar: WorkingCalendar,
    *,
    matter_id: UUID,
    kind: str,
    layer: int,
    charged_unit_id: UUID,
    start: datetime,
    limits: ClockLimits,
    budget: int | None = None,
    due_on: Any = None,
) -> dict[str, Any]:
    """A new running clock: ``budget`` working days from ``start``, or due at the end of ``due_on``."""
    if budget is not None:
        due_at, warn_at, provisional = working_due(calendar, start, budget, limits)
    else:
        due_at, provisional = end_of_day(due_on), False
        span = due_at - start
        warn_at = start + timedelta(seconds=span.total_seconds() * limits.warning_share) if span else None
    if warn_at is not None and warn_at >= due_at:
        warn_at = None
    return {
        "id": uuid.uuid4(),
        "matter_id": matter_id,
        "kind": kind,
        "layer": layer,
        "charged_unit_id": charged_unit_id,
        "started_at": start,
        "due_at": due_at,
        "warn_at": warn_at,
        "next_at": warn_at or due_at,
        "budget": budget,
        "budget_unit": "working" if budget is not None else None,
        "provisional": provisional,
        "state": RUNNING,
    }


def working_days_left(
    calendar: WorkingCalendar, due_at: datetime, ended_at: datetime | None, now: datetime
) -> int:
    """Working days left on a clock due at ``due_at``, on the official calendar: those after today up to and
    including its last day (today is counted as used once begun, as the approvals service's ``left``); 0
    on the last day, negative when overdue (minus the working days past the last day). A clock that ended
    is read at its end (a met clock keeps the days it was met with to spare)."""
    at = ended_at if ended_at is not None and ended_at < now else now
    last_day = local_date(due_at) - timedelta(days=1)  # due_at is the end of its last day
    return calendar.working_days_between(local_date(at), last_day)


async def start_clocks(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(sa.insert(deadline), rows)


async def stop_clocks(
    session: AsyncSession, matter_id: UUID, kinds: tuple[str, ...] | None, at: datetime, state: str = "met"
) -> list[Any]:
    """End the running clocks of ``kinds`` (all when None); returns the rows as they were."""
    where = [deadline.c.matter_id == matter_id, deadline.c.state == RUNNING]
    if kinds is not None:
        where.append(deadline.c.kind.in_(kinds))
    result = await session.execute(
        sa.update(deadline).where(*where).values(state=state, ended_at=at, next_at=None).returning(deadline)
    )
    return list(result.all())


async def running_clocks(session: AsyncSession, matter_id: UUID) -> list[Any]:
    result = await session.execute(
        sa.select(deadline)
        .where(deadline.c.matter_id == matter_id, deadline.c.state == RUNNING)
        .order_by(deadline.c.due_at, deadline.c.kind)
    )
    return list(result.all())


async def _holders(
    session: AsyncSession,
    cache: dict[tuple[int, Any, Any, Any], org.Holders] | None,
    layer: int,
    m: Any,
    day: date,
) -> org.Holders:
    """The holders of matter ``m`` at ``layer`` on ``day``, looked up once per (layer, line, unit, day) in
    ``cache`` when given."""
    key = (layer, m.line_id, m.project_unit_id, day)
    holders = cache.get(key) if cache is not None else None
    if holders is None:
        holders = await org.holders_at(
            session, layer=layer, line_id=m.line_id, project_unit_id=m.project_unit_id, day=day
        )
        if cache is not None:
            cache[key] = holders
    return holders


def restarted_clock(
    runtime: IssuesRuntime, m: Any, breached: Any, holders: org.Holders, at: datetime
) -> dict[str, Any]:
    """The clock ``breached`` started again at matter ``m``'s new layer from ``at``, with the same budget. A
    problem is accepted by its coordination office, which is the new layer's holder: its acceptance clock
    is charged there; every other clock stays with the unit it charged."""
    charged = breached.charged_unit_id
    if breached.kind == "acceptance" and m.kind == "problem" and holders.unit_ids:
        charged = holders.unit_ids[0]
    return clock_row(
        runtime.calendar,
        matter_id=m.id,
        kind=breached.kind,
        layer=m.layer,
        charged_unit_id=charged,
        start=at,
        limits=runtime.settings.limits_for(m.kind),
        budget=breached.budget,
    )


def escalated_entry(
    m: Any,
    actor: str,
    actor_name: str | None,
    at: datetime,
    from_layer: int,
    cause: EscalationCause,
    breach_id: UUID | None,
    reason: str | None,
    holders: org.Holders,
) -> dict[str, Any]:
    """The audit entry of matter ``m`` (as it stands, at its new layer) going up from ``from_layer``."""
    return entry_for(
        m,
        "escalated",
        actor=actor,
        actor_name=actor_name,
        at=at,
        layer=m.layer,
        detail={
            "from_layer": from_layer,
            "cause": str(cause),
            "breach_id": str(breach_id) if breach_id else None,
            "reason": reason,
            **holders.detail(),
        },
    )


async def escalate(
    session: AsyncSession,
    m: Any,
    *,
    at: datetime,
    cause: EscalationCause,
    actor: str,
    actor_name: str | None,
    reason: str | None = None,
) -> Any:
    """Take matter ``m`` up one layer at ``at`` (by hand: its clocks keep running; the scan escalates a
    breach itself, in batches). Returns the matter as it stands."""
    new_layer = m.layer + 1
    holders = await _holders(session, None, new_layer, m, at.date())
    m = await advanced(session, m.id, {"layer": new_layer, **holders.columns()}, at)
    await tell(
        session,
        m,
        "escalated",
        at,
        from_layer=Layer(new_layer - 1),
        cause=cause,
        breach_id=None,
        holder_post_ids=tuple(holders.post_ids),
        holder_unit_ids=tuple(holders.unit_ids),
        clocks=clocks(await running_clocks(session, m.id)),
    )
    await record_many(
        session, [escalated_entry(m, actor, actor_name, at, new_layer - 1, cause, None, reason, holders)]
    )
    return m


#: Clocks claimed per transaction by the scan.
SCAN_BATCH = 500


@dataclass
class _Writes:
    """What one batch of the scan changes, written with one statement per table at the end."""

    warned: list[dict[str, Any]] = field(default_factory=list)
    breached: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[dict[str, Any]] = field(default_factory=list)
    matters: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[dict[str, Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


_WARN = (
    sa.update(deadline)
    .where(deadline.c.id == sa.bindparam("b_id"))
    .values(warned_at=sa.bindparam("b_at"), next_at=sa.bindparam("b_next"))
)
_BREACH = (
    sa.update(deadline)
    .where(deadline.c.id == sa.bindparam("b_id"))
    .values(state="breached", ended_at=sa.bindparam("b_at"), next_at=None)
)
_ESCALATE = (
    sa.update(matter)
    .where(matter.c.id == sa.bindparam("b_id"))
    .values(
        layer=sa.bindparam("b_layer"),
        holder_post_ids=sa.bindparam("b_posts", type_=matter.c.holder_post_ids.type),
        holder_unit_ids=sa.bindparam("b_units", type_=matter.c.holder_unit_ids.type),
        revision=matter.c.revision + 1,
        updated_at=sa.bindparam("b_at"),
    )
)


async def scan_clocks(runtime: IssuesRuntime, until: datetime) -> int:
    """The deadline scan (``Scan("clocks", scan_clocks)``): warn, or breach and escalate, every running
    clock whose ``next_at`` is due by ``until``, in due order, each at its own time.

    Clocks are claimed in batches (``FOR UPDATE SKIP LOCKED``: replicas racing act once per breach). A batch
    is worked out in memory, row by row in ``next_at`` order, and written with one statement per table, so
    1,000 escalations cost a few dozen statements, not thousands. The batch stops before a second clock of
    a matter it already touched (which must see the first one's effect) and before any clock due after a
    clock the batch itself started or moved (a clock restarted by a breach may fall due by ``until``, and
    must be handled before later ones): the scan commits and claims again, in due order.
    """
    if not await _anything_due(runtime, until):
        return 0
    holders_cache: dict[tuple[int, Any, Any, Any], org.Holders] = {}
    handled = 0
    while True:
        async with runtime.db.transaction() as session:
            rows = (
                await session.execute(
                    sa.select(deadline)
                    .where(deadline.c.state == RUNNING, deadline.c.next_at <= until)
                    .order_by(deadline.c.next_at, deadline.c.id)
                    .limit(SCAN_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return handled
            handled += await _scan_batch(session, runtime, rows, until, holders_cache)


async def _scan_batch(
    session: AsyncSession,
    runtime: IssuesRuntime,
    rows: Sequence[Any],
    until: datetime,
    holders_cache: dict[tuple[int, Any, Any, Any], org.Holders],
) -> int:
    ids = list({r.matter_id for r in rows})
    matters = {m.id: m for m in (await session.execute(sa.select(matter).where(matter.c.id.in_(ids)))).all()}
    running: dict[UUID, list[Any]] = {i: [] for i in ids}
    others = sa.select(deadline).where(deadline.c.matter_id.in_(ids), deadline.c.state == RUNNING)
    for r in (await session.execute(others)).all():
        running[r.matter_id].append(r)
    out = _Writes()
    seen: set[UUID] = set()
    horizon: datetime | None = None  # the earliest time a clock started or moved here falls due
    done = 0
    for row in rows:
        if row.matter_id in seen or (horizon is not None and row.next_at > horizon):
            break
        seen.add(row.matter_id)
        # The clock's own time (in Beijing time, as the clock gives it), not the time the clock jumped to.
        m, now = matters[row.matter_id], row.next_at.astimezone(TZ)
        done += 1
        if row.warned_at is None and row.warn_at is not None and row.next_at < row.due_at:
            out.warned.append({"b_id": row.id, "b_at": now, "b_next": row.due_at})
            out.events.append(fact(m, "warned", now, clock=clock_snapshot(row)))
            if row.due_at <= until:
                horizon = min(horizon or row.due_at, row.due_at)
            continue
        breach_id = uuid.uuid4()
        out.breached.append({"b_id": row.id, "b_at": now})
        out.breaches.append(
            {
                "id": breach_id,
                "matter_id": m.id,
                "deadline_id": row.id,
                "kind": row.kind,
                "layer": m.layer,
                "charged_unit_id": row.charged_unit_id,
                "breached_at": now,
            }
        )
        out.events.append(fact(m, "breached", now, breach_id=breach_id, clock=clock_snapshot(row)))
        out.audit.append(
            entry_for(
                m,
                "breached",
                actor=SYSTEM,
                actor_name=SYSTEM_NAME,
                at=now,
                layer=m.layer,
                detail={
                    "clock": row.kind,
                    "deadline_id": str(row.id),
                    "charged_unit_id": str(row.charged_unit_id),
                },
            )
        )
        if m.layer >= Layer.DISTRICT_LEADERS or m.state not in OPEN_STATES:
            continue  # at layer 3 a breach is recorded and the matter stays overdue there
        new_layer = m.layer + 1
        holders = await _holders(session, holders_cache, new_layer, m, now.date())
        up = SimpleNamespace(
            **{
                **m._mapping,
                "layer": new_layer,
                "holder_post_ids": list(holders.post_ids),
                "holder_unit_ids": list(holders.unit_ids),
                "revision": m.revision + 1,
                "updated_at": now,
            }
        )
        out.matters.append(
            {
                "b_id": m.id,
                "b_layer": new_layer,
                "b_posts": up.holder_post_ids,
                "b_units": up.holder_unit_ids,
                "b_at": now,
            }
        )
        still = [r for r in running[m.id] if r.id != row.id]
        if row.kind != "resolution" and row.budget is not None:  # a resolution date is not restarted
            new = restarted_clock(runtime, up, row, holders, now)
            out.clocks.append(new)
            still.append(SimpleNamespace(**new))
            if new["next_at"] <= until:
                horizon = min(horizon or new["next_at"], new["next_at"])
        still.sort(key=lambda r: (r.due_at, r.kind))
        out.events.append(
            fact(
                up,
                "escalated",
                now,
                from_layer=Layer(m.layer),
                cause=EscalationCause.BREACH,
                breach_id=breach_id,
                holder_post_ids=tuple(holders.post_ids),
                holder_unit_ids=tuple(holders.unit_ids),
                clocks=clocks(still),
            )
        )
        out.audit.append(
            escalated_entry(
                up, SYSTEM, SYSTEM_NAME, now, m.layer, EscalationCause.BREACH, breach_id, None, holders
            )
        )
    for statement, params in ((_WARN, out.warned), (_BREACH, out.breached), (_ESCALATE, out.matters)):
        if params:
            await session.execute(statement, params)
    if out.breaches:
        await session.execute(sa.insert(breach), out.breaches)
    if out.clocks:
        await session.execute(sa.insert(deadline), out.clocks)
    await tell_all(session, out.events)
    await record_many(session, out.audit)
    return done


#: What the signal scan saw of the clocks when it found nothing to do itself: (runtime id) → (until, the
#: earliest running clock's next_at). The clock scan runs right after it (the spec's order, under the
#: runtime's scan lock) and uses it instead of asking again, so a scan round with nothing due is one query.
_PEEKED: dict[int, tuple[datetime, datetime | None]] = {}


async def first_due(runtime: IssuesRuntime) -> tuple[datetime | None, datetime | None]:
    """(earliest pending signal, earliest running clock's ``next_at``) in one query outside any transaction
    (each is the first entry of a partial index)."""
    async with runtime.db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        row = (
            await conn.execute(
                sa.select(
                    sa.select(sa.func.min(matter_signal.c.at))
                    .where(matter_signal.c.matter_id.is_(None))
                    .scalar_subquery(),
                    sa.select(sa.func.min(deadline.c.next_at))
                    .where(deadline.c.state == RUNNING)
                    .scalar_subquery(),
                )
            )
        ).one()
    return row[0], row[1]


def remember_first_clock(runtime: IssuesRuntime, until: datetime, first_clock: datetime | None) -> None:
    _PEEKED[id(runtime)] = (until, first_clock)


async def _anything_due(runtime: IssuesRuntime, until: datetime) -> bool:
    peeked = _PEEKED.pop(id(runtime), None)
    if peeked is not None and peeked[0] == until:
        first = peeked[1]
    else:
        _, first = await first_due(runtime)
    return first is not None and first <= until


async def recompute_provisional(runtime: IssuesRuntime, year: int) -> int:
    """``ServiceSpec.on_calendar_loaded``: the official schedule of ``year`` was loaded, so every running
    clock computed on the provisional calendar is computed again from its start (docs/calendar.md).
    Its due and warning times move to where the official calendar puts them (a make-up working day brings a
    due time forward, a longer holiday pushes it back) and the flag drops once no provisional year is
    involved. A clock that already warned keeps its warning; each change is in the matter's audit trail.
    Returns how many clocks changed."""
    changed = 0
    async with runtime.db.transaction() as session:
        rows = (
            await session.execute(
                sa.select(deadline, matter.c.kind.label("matter_kind"), matter.c.layer.label("matter_layer"))
                .join(matter, matter.c.id == deadline.c.matter_id)
                .where(
                    deadline.c.state == RUNNING,
                    deadline.c.provisional.is_(True),
                    deadline.c.budget.is_not(None),
                )
                .order_by(deadline.c.id)
                .with_for_update(of=deadline)
            )
        ).all()
        for row in rows:
            if year not in _years_touched(row.started_at, row.due_at):
                continue
            limits = runtime.settings.limits_for(row.matter_kind)
            due_at, warn_at, provisional = working_due(runtime.calendar, row.started_at, row.budget, limits)
            if warn_at is not None and warn_at >= due_at:
                warn_at = None
            if (due_at, warn_at, provisional) == (row.due_at, row.warn_at, row.provisional):
                continue
            warned = row.warned_at is not None
            next_at = due_at if (warned or warn_at is None) else warn_at
            await session.execute(
                sa.update(deadline)
                .where(deadline.c.id == row.id)
                .values(due_at=due_at, warn_at=warn_at, next_at=next_at, provisional=provisional)
            )
            await record(
                session,
                None,
                "clock_recomputed",
                actor=SYSTEM,
                actor_name=SYSTEM_NAME,
                at=runtime.clock.now(),
                layer=row.matter_layer,
                subject_kind=row.matter_kind,
                subject_id=row.matter_id,
                detail={
                    "clock": row.kind,
                    "deadline_id": str(row.id),
                    "year": year,
                    "due_at_before": row.due_at.astimezone(TZ).isoformat(),
                    "due_at": due_at.astimezone(TZ).isoformat(),
                    "provisional": provisional,
                },
            )
            changed += 1
    return changed


def _years_touched(start: datetime, due_at: datetime) -> range:
    """The calendar years a clock's computation looked at (Beijing days from its start to its due day)."""
    return range(local_date(start).year, local_date(due_at - timedelta(microseconds=1)).year + 1)
