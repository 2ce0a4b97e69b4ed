"""System-opened problems: one open problem per cause key; later signals attach to it; a new
signal after closure opens a new one (the unique index ``uq_matter_open_cause`` covers open states only).

Cause keys (documented in docs/issues.md): ``approval.stalled:<approval item>``,
``approval.start_at_risk:<project>:<planned start date>``, ``milestone.missed:<milestone>``,
``commitment.overdue:<commitment>``. A system-opened problem is accepted at once and assigned to the unit
the signal names (the handling department of a stalled approval, the obliged unit of a commitment, the
responsible unit of a missed milestone), so its reply clock runs from the signal's time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import EMPTY_REACH, Principal, Role
from lkg.common.events.base import Envelope
from lkg.issues.access import Caller
from lkg.issues.audit import SYSTEM, SYSTEM_NAME, record
from lkg.issues.matters.clocks import first_due, remember_first_clock
from lkg.issues.matters.intake import report_problem
from lkg.issues.matters.service import accept
from lkg.issues.models import OPEN_STATES, matter, matter_signal, project_copy
from lkg.issues.org import unit_name
from lkg.issues.settings import IssuesRuntime

#: The issues service acting on its own (scans, signals).
SYSTEM_CALLER = Caller.of(
    Principal(
        subject="issues",
        kind="client",
        person_id=None,
        client_id="issues",
        name=SYSTEM_NAME,
        roles=frozenset({Role.ADMIN}),
    ),
    EMPTY_REACH,
)


async def record_signal(
    session: AsyncSession, envelope: Envelope, *, cause_key: str, at: datetime, payload: dict[str, Any]
) -> None:
    """Record the signal of ``envelope`` under ``cause_key`` for the signal scan; ``payload`` says what the
    problem needs (project, title, topic, description, resolving unit). The same event delivered again
    adds nothing (the event id is unique), nor does the same signal published again under a new event id
    (a signal of that cause at that time is already held): a later signal of the cause is a new one."""
    held = sa.select(matter_signal.c.id).where(
        matter_signal.c.cause_key == cause_key, matter_signal.c.at == at
    )
    await session.execute(
        pg_insert(matter_signal)
        .from_select(
            ["id", "event_id", "event_type", "cause_key", "at", "payload"],
            sa.select(
                sa.literal(uuid.uuid4(), matter_signal.c.id.type),
                sa.literal(envelope.event_id, matter_signal.c.event_id.type),
                sa.literal(envelope.type),
                sa.literal(cause_key),
                sa.literal(at, matter_signal.c.at.type),
                sa.literal(payload, matter_signal.c.payload.type),
            ).where(~sa.exists(held)),
        )
        .on_conflict_do_nothing(index_elements=[matter_signal.c.event_id])
    )


async def _open_for(session: AsyncSession, runtime: IssuesRuntime, signal: Any) -> Any:
    payload = signal.payload
    m = await report_problem(
        session,
        runtime,
        None,
        project_id=UUID(payload["project_id"]),
        title=payload["title"],
        topic=payload["topic"],
        description=payload["description"],
        help_requested=None,
        origin="system",
        cause_key=signal.cause_key,
    )
    unit = UUID(payload["resolving_unit_id"])
    # The unit's name as the directory has it (a missed milestone's event names the unit by id only, and
    # the ledger's 问题解决单位 was empty); the event's own name where the directory has none.
    name = await unit_name(session, unit) or payload.get("resolving_unit_name") or ""
    return await accept(
        session,
        runtime,
        SYSTEM_CALLER,
        m,
        expected_revision=m.revision,
        resolving_unit_id=unit,
        resolving_unit_name=name,
        resolution_due_on=None,
    )


async def scan_signals(runtime: IssuesRuntime, until: datetime) -> int:
    """Open or attach every pending signal up to ``until``, in time order (``Scan("signals", ...)``)."""
    first_signal, first_clock = await first_due(runtime)
    if first_signal is None or first_signal > until:
        remember_first_clock(runtime, until, first_clock)  # the clock scan, next, need not ask again
        return 0
    handled = 0
    async with runtime.db.transaction() as session:
        signals = (
            await session.execute(
                sa.select(matter_signal)
                .where(matter_signal.c.matter_id.is_(None), matter_signal.c.at <= until)
                .join(
                    project_copy,
                    project_copy.c.id
                    == sa.cast(matter_signal.c.payload["project_id"].astext, project_copy.c.id.type),
                )
                .order_by(matter_signal.c.at, matter_signal.c.id)
                .limit(500)
                .with_for_update(of=matter_signal, skip_locked=True)
            )
        ).all()
        for signal in signals:
            with runtime.clock.at(signal.at):
                open_one = (
                    await session.execute(
                        sa.select(matter).where(
                            matter.c.cause_key == signal.cause_key, matter.c.state.in_(OPEN_STATES)
                        )
                    )
                ).first()
                if open_one is None:
                    m = await _open_for(session, runtime, signal)
                else:
                    m = open_one
                    await record(
                        session,
                        m,
                        "signal_attached",
                        actor=SYSTEM,
                        actor_name=SYSTEM_NAME,
                        at=signal.at,
                        layer=m.layer,
                        detail={"event_type": signal.event_type, "event_id": str(signal.event_id)},
                    )
                await session.execute(
                    sa.update(matter_signal).where(matter_signal.c.id == signal.id).values(matter_id=m.id)
                )
            handled += 1
    return handled
