"""Use cases of a matter's life cycle once it is on the books (problems and meeting matters alike).

reported → accepted (受理) → assigned to a resolving unit (交办) → answered (处理意见, to the line's
coordination office) → in progress → resolved; reporting is in :mod:`lkg.issues.matters.intake`, taking a
matter off the books (销号, returned, withdrawn, merged) in :mod:`lkg.issues.matters.closure`. Every use case
decides whether the caller may act (403 otherwise), changes rows, stages events and appends to the audit
trail in the caller's transaction; none commits or speaks HTTP (STYLE.md). User actions check the matter's
revision (``If-Match`` at the edge, a conditional UPDATE here): of two officials acting at once, one wins.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.contracts import EscalationCause, Layer
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.problems import Conflict
from lkg.issues import org
from lkg.issues.access import Caller, require
from lkg.issues.audit import record
from lkg.issues.matters.clocks import clock_row, escalate, running_clocks, start_clocks, stop_clocks
from lkg.issues.matters.events import clocks, tell
from lkg.issues.matters.rows import changed
from lkg.issues.models import OPEN_STATES, matter
from lkg.issues.settings import IssuesRuntime


def require_state(m: Any, states: tuple[str, ...], what: str) -> None:
    if m.state not in states:
        raise Conflict(f"当前状态（{m.state}）不能{what}", code="invalid_state")


async def told(
    session: AsyncSession,
    caller: Caller,
    m: Any,
    verb: str,
    at: datetime,
    *,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
    with_clocks: bool = False,
    **fields: Any,
) -> None:
    """Tell the others the ``verb`` event of matter ``m`` (with its running clocks if ``with_clocks``) and
    append the caller's ``action`` (the verb unless said) to its audit trail."""
    if with_clocks:
        fields["clocks"] = clocks(await running_clocks(session, m.id))
    await tell(session, m, verb, at, **fields)
    await record(
        session,
        m,
        action or verb,
        actor=caller.actor,
        actor_name=caller.name,
        at=at,
        layer=m.layer,
        detail=detail,
    )


async def accept(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    resolving_unit_id: UUID | None,
    resolving_unit_name: str | None,
    resolution_due_on: date | None,
) -> Any:
    """受理: the coordination office accepts a reported problem, optionally assigning its resolving unit."""
    require(caller.coordinates(m), "受理该问题")
    require_state(m, ("reported",), "受理")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("acceptance",), now)
    m = await changed(session, m, expected_revision, {"state": "accepted"}, now)
    accepted_by = await org.coordinator_unit(session, m.line_id, now.date()) or m.project_unit_id
    await record(session, m, "accepted", actor=caller.actor, actor_name=caller.name, at=now, layer=m.layer)
    if resolving_unit_id is not None:
        return await assign(
            session,
            runtime,
            caller,
            m,
            expected_revision=m.revision,
            resolving_unit_id=resolving_unit_id,
            resolving_unit_name=resolving_unit_name or "",
            resolution_due_on=resolution_due_on,
            accepted_by_unit_id=accepted_by,
        )
    await tell(session, m, "accepted", now, accepted_by_unit_id=accepted_by, clocks=())
    return m


async def accept_meeting_matter(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    note: str | None,
) -> Any:
    """签收: the resolving unit named by the meeting acknowledges the matter (or the coordination office
    records it on its behalf). Its resolving unit was decided at the meeting, so it is assigned at once;
    the reply and resolution clocks already run from the decision."""
    require(caller.resolves(m) or caller.coordinates(m), "签收该会议议定事项（须为问题解决单位）")
    require_state(m, ("reported",), "签收")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("acceptance",), now)
    m = await changed(session, m, expected_revision, {"state": "assigned"}, now)
    await told(
        session,
        caller,
        m,
        "accepted",
        now,
        detail={"note": note} if note else {},
        with_clocks=True,
        accepted_by_unit_id=m.resolving_unit_id,
    )
    return m


async def assign(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    resolving_unit_id: UUID,
    resolving_unit_name: str,
    resolution_due_on: date | None,
    accepted_by_unit_id: UUID | None = None,
) -> Any:
    """交办: a resolving unit is assigned (or changed); the reply clock (3 working days from assignment,
    §五(一)) and, with an agreed date, the resolution clock start. Tells ``*.accepted`` with the unit."""
    require(caller.coordinates(m), "交办该问题")
    require_state(m, ("accepted", "assigned"), "交办")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("reply", "resolution"), now, state="cancelled")
    m = await changed(
        session,
        m,
        expected_revision,
        {
            "state": "assigned",
            "resolving_unit_id": resolving_unit_id,
            "resolving_unit_name": resolving_unit_name,
            "resolution_due_on": resolution_due_on,
        },
        now,
    )
    limits = runtime.settings.limits_for(m.kind)
    common: dict[str, Any] = {
        "matter_id": m.id,
        "layer": m.layer,
        "charged_unit_id": resolving_unit_id,
        "start": now,
    }
    rows = [clock_row(runtime.calendar, kind="reply", limits=limits, budget=limits.reply_days, **common)]
    if resolution_due_on is not None:
        rows.append(
            clock_row(runtime.calendar, kind="resolution", limits=limits, due_on=resolution_due_on, **common)
        )
    await start_clocks(session, rows)
    accepted_by = accepted_by_unit_id or (
        await org.coordinator_unit(session, m.line_id, now.date()) or m.project_unit_id
    )
    await told(
        session,
        caller,
        m,
        "accepted",
        now,
        action="assigned",
        detail={
            "resolving_unit_id": str(resolving_unit_id),
            "resolving_unit_name": resolving_unit_name,
            "resolution_due_on": resolution_due_on.isoformat() if resolution_due_on else None,
        },
        with_clocks=True,
        accepted_by_unit_id=accepted_by,
    )
    return m


async def answer(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    opinion: str,
) -> Any:
    """反馈处理意见: the resolving unit sends its handling opinion to the coordination office; the reply clock
    stops and the progress clock (every 5 working days, §五(一)) starts."""
    require(caller.resolves(m), "反馈处理意见（须为问题解决单位）")
    require_state(m, ("assigned",), "反馈处理意见")
    now = runtime.clock.now()
    stopped = await stop_clocks(session, m.id, ("reply",), now)
    on_time = all(now < r.due_at for r in stopped)
    m = await changed(session, m, expected_revision, {"state": "answered", "answered_at": now}, now)
    await _start_progress_clock(session, runtime, m, now)
    await told(
        session,
        caller,
        m,
        "answered",
        now,
        detail={"opinion": opinion, "on_time": on_time},
        with_clocks=True,
        answered_by_unit_id=m.resolving_unit_id,
        opinion=opinion,
        on_time=on_time,
    )
    return m


async def _start_progress_clock(session: AsyncSession, runtime: IssuesRuntime, m: Any, now: datetime) -> None:
    """A progress report is owed every 5 working days while the matter is in progress (§五(一)); the clock
    starts at the answer and again at each report, charged to the resolving unit."""
    limits = runtime.settings.limits_for(m.kind)
    row = clock_row(
        runtime.calendar,
        matter_id=m.id,
        kind="progress",
        layer=m.layer,
        charged_unit_id=m.resolving_unit_id,
        start=now,
        limits=limits,
        budget=limits.progress_days,
    )
    await start_clocks(session, [row])


async def report_progress(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    summary: str,
) -> Any:
    """报送进展: the progress clock restarts at each report (every 5 working days, §五(一))."""
    require(caller.resolves(m), "报送进展（须为问题解决单位）")
    require_state(m, ("answered", "in_progress"), "报送进展")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("progress",), now)
    m = await changed(session, m, expected_revision, {"state": "in_progress"}, now)
    await _start_progress_clock(session, runtime, m, now)
    await told(
        session,
        caller,
        m,
        "progress_reported",
        now,
        detail={"summary": summary},
        with_clocks=True,
        reported_by_unit_id=m.resolving_unit_id,
        summary=summary,
    )
    return m


async def resolve(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    summary: str,
) -> Any:
    """问题解决: the resolving unit reports it solved; every clock stops; the holding layer confirms 销号."""
    require(caller.resolves(m), "报告办结（须为问题解决单位）")
    require_state(m, ("assigned", "answered", "in_progress"), "报告办结")
    now = runtime.clock.now()
    stopped = await stop_clocks(session, m.id, None, now)
    on_time = all(now < r.due_at for r in stopped if r.kind == "resolution")
    m = await changed(session, m, expected_revision, {"state": "resolved", "resolved_at": now}, now)
    await told(
        session,
        caller,
        m,
        "resolved",
        now,
        detail={"summary": summary, "on_time": on_time},
        resolved_by_unit_id=m.resolving_unit_id,
        summary=summary,
        on_time=on_time,
    )
    return m


async def escalate_by_hand(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """报请协调: the unit cannot solve it at its layer (§二(一)) — up one layer, with a reason."""
    require(caller.holds(m) or caller.resolves(m) or caller.coordinates(m), "上报该问题")
    require_state(m, OPEN_STATES, "上报")
    if m.layer >= Layer.DISTRICT_LEADERS:
        raise Conflict("已在第三层（区委、区政府主要领导），不能再上报", code="top_layer")
    if m.revision != expected_revision:
        await update_if_revision(session, matter, m.id, expected_revision, {})  # raises 412
    return await escalate(
        session,
        m,
        at=runtime.clock.now(),
        cause=EscalationCause.REQUESTED,
        actor=caller.actor,
        actor_name=caller.name,
        reason=reason,
    )
