"""System-opened problems (issue #5): one open problem per cause key; later signals attach to it; a new
signal after closure opens a new one (the unique index ``uq_matter_open_cause`` covers open states only).

Cause keys (documented in docs/issues.md): ``approval.stalled:<approval item>``,
``approval.start_at_risk:<project>:<planned start date>``, ``milestone.missed:<milestone>``,
``commitment.overdue:<commitment>``. A system-opened problem is accepted at once and assigned to the unit
the signal names (the handling department of a stalled approval, the obliged unit of a commitment, the
responsible unit of a missed milestone), so its reply clock runs from the signal's time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import EMPTY_REACH, Principal, Role
from lkg.common.runtime.service import ServiceRuntime
from lkg.issues import service
from lkg.issues.access import Viewer
from lkg.issues.audit import SYSTEM, record
from lkg.issues.clocks import first_due, remember_first_clock
from lkg.issues.models import OPEN_STATES, matter, matter_signal, project_copy

#: The issues service acting on its own (scans, signals).
SYSTEM_VIEWER = Viewer(
    principal=Principal(
        subject="issues",
        kind="client",
        person_id=None,
        client_id="issues",
        name="系统",
        roles=frozenset({Role.ADMIN}),
    ),
    reach=EMPTY_REACH,
)


async def _open_for(session: AsyncSession, runtime: ServiceRuntime, signal: Any) -> Any:
    payload = signal.payload
    m = await service.report_problem(
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
        actor=SYSTEM,
        actor_name="系统",
    )
    unit = UUID(payload["resolving_unit_id"])
    return await service.accept(
        session,
        runtime,
        SYSTEM_VIEWER,
        m,
        expected_revision=m.revision,
        resolving_unit_id=unit,
        resolving_unit_name=payload.get("resolving_unit_name") or "",
        resolution_due_on=None,
    )


async def scan_signals(runtime: ServiceRuntime, until: datetime) -> int:
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
                        actor_name="系统",
                        at=signal.at,
                        layer=m.layer,
                        detail={"event_type": signal.event_type, "event_id": str(signal.event_id)},
                    )
                await session.execute(
                    sa.update(matter_signal).where(matter_signal.c.id == signal.id).values(matter_id=m.id)
                )
            handled += 1
    return handled
