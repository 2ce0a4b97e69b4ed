"""Use cases that take a matter off the books: 销号 by the layer that holds it, returned (退回), withdrawn
(撤回), merged (合并), and the withdrawal of a terminated project's system-opened problems. Every running
clock of the matter stops; its history stays."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.contracts import ClosureOutcome
from lkg.common.http.problems import Conflict
from lkg.issues import org
from lkg.issues.access import Caller, require
from lkg.issues.audit import SYSTEM, SYSTEM_NAME, record
from lkg.issues.matters.clocks import stop_clocks
from lkg.issues.matters.events import tell
from lkg.issues.matters.queries import get_matter
from lkg.issues.matters.rows import advanced, changed
from lkg.issues.matters.service import require_state
from lkg.issues.models import OPEN_STATES, matter
from lkg.issues.settings import IssuesRuntime


async def close_matter(
    session: AsyncSession,
    m: Any,
    *,
    at: datetime,
    expected_revision: int | None,
    state: str,
    outcome: ClosureOutcome,
    closed_by_unit_id: UUID,
    reason: str | None,
    actor: str,
    actor_name: str | None,
    extra: dict[str, Any] | None = None,
) -> Any:
    """Take a matter off the books (closed, returned, withdrawn, merged): every running clock stops."""
    await stop_clocks(session, m.id, None, at, state="cancelled")
    values = {
        "state": state,
        "closure_outcome": str(outcome),
        "closure_reason": reason,
        "closed_at": at,
        **(extra or {}),
    }
    if expected_revision is None:
        m = await advanced(session, m.id, values, at)
    else:
        m = await changed(session, m, expected_revision, values, at)
    await tell(session, m, "closed", at, outcome=outcome, closed_by_unit_id=closed_by_unit_id, reason=reason)
    await record(
        session,
        m,
        state,
        actor=actor,
        actor_name=actor_name,
        at=at,
        layer=m.layer,
        detail={"outcome": str(outcome), "reason": reason, **{k: str(v) for k, v in (extra or {}).items()}},
    )
    return m


def _acting_unit(caller: Caller, m: Any, *candidates: UUID | None) -> UUID:
    for unit in candidates:
        if unit is not None and unit in caller.reach.units:
            return unit
    units = sorted(caller.reach.units)
    return units[0] if units else (m.holder_unit_ids[0] if m.holder_unit_ids else m.reported_by_unit_id)


#: The outcome each way off the books tells the others (``*.closed``).
_OUTCOME = {
    "closed": ClosureOutcome.RESOLVED,
    "returned": ClosureOutcome.RETURNED,
    "withdrawn": ClosureOutcome.WITHDRAWN,
    "merged": ClosureOutcome.WITHDRAWN,
}


async def _off_books(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    expected_revision: int,
    state: str,
    unit: UUID,
    reason: str | None,
    extra: dict[str, Any] | None = None,
) -> Any:
    """:func:`close_matter` by the caller, now, into ``state``, acting for ``unit``."""
    return await close_matter(
        session,
        m,
        at=runtime.clock.now(),
        expected_revision=expected_revision,
        state=state,
        outcome=_OUTCOME[state],
        closed_by_unit_id=unit,
        reason=reason,
        actor=caller.actor,
        actor_name=caller.name,
        extra=extra,
    )


async def close(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    note: str | None,
) -> Any:
    """销号: the layer that holds the matter confirms it solved."""
    require(caller.holds(m), "销号（须由问题所在层级确认）")
    require_state(m, ("resolved",), "销号")
    unit = _acting_unit(caller, m, *m.holder_unit_ids, m.project_unit_id)
    return await _off_books(session, runtime, caller, m, expected_revision, "closed", unit, note)


async def return_problem(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """不予受理退回: the coordination office returns a reported problem with a reason."""
    require(caller.coordinates(m), "退回该问题")
    require_state(m, ("reported",), "退回")
    office = await org.coordinator_unit(session, m.line_id, runtime.clock.now().date())
    unit = _acting_unit(caller, m, office)
    return await _off_books(session, runtime, caller, m, expected_revision, "returned", unit, reason)


async def return_meeting_matter(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """退回: the unit a meeting named sends the matter back before acknowledging it (not its remit, the
    wrong unit named), with a reason; the coordination office registers it again as decided."""
    require(caller.resolves(m) or caller.coordinates(m), "退回该会议议定事项（须为问题解决单位）")
    require_state(m, ("reported",), "退回")
    unit = _acting_unit(caller, m, m.resolving_unit_id)
    return await _off_books(session, runtime, caller, m, expected_revision, "returned", unit, reason)


async def withdraw(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """撤回: the reporting unit (or 重大项目办) takes the matter off the books."""
    require(caller.reported(m), "撤回该问题（须为反映单位）")
    require_state(m, OPEN_STATES, "撤回")
    unit = _acting_unit(caller, m, m.reported_by_unit_id)
    return await _off_books(session, runtime, caller, m, expected_revision, "withdrawn", unit, reason)


async def merge(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    expected_revision: int,
    into_id: UUID,
    reason: str,
) -> Any:
    """合并: a duplicate joins another open matter of the same kind; its clocks stop, its history stays."""
    require(caller.coordinates(m), "合并该问题")
    require_state(m, OPEN_STATES, "合并")
    target = await get_matter(session, m.kind, into_id, caller)
    if target.id == m.id or target.state not in OPEN_STATES:
        raise Conflict("只能并入另一个未办结的同类事项", code="invalid_merge_target")
    unit = _acting_unit(caller, m, *m.holder_unit_ids)
    extra = {"merged_into_id": target.id}
    return await _off_books(session, runtime, caller, m, expected_revision, "merged", unit, reason, extra)


async def withdraw_system_problems(
    session: AsyncSession, *, project_id: UUID, at: datetime, reason: str
) -> int:
    """A terminated project's open system-opened problems, opened by ``at``, are withdrawn with ``reason``
    (its other matters stay: people reported them). The same termination again finds none of those open and
    changes nothing. Returns how many were withdrawn."""
    rows = (
        await session.execute(
            sa.select(matter).where(
                matter.c.project_id == project_id,
                matter.c.origin == "system",
                matter.c.state.in_(OPEN_STATES),
                matter.c.reported_at <= at,
            )
        )
    ).all()
    for m in rows:
        await close_matter(
            session,
            m,
            at=at,
            expected_revision=None,
            state="withdrawn",
            outcome=ClosureOutcome.WITHDRAWN,
            closed_by_unit_id=m.project_unit_id or m.reported_by_unit_id,
            reason=reason,
            actor=SYSTEM,
            actor_name=SYSTEM_NAME,
        )
    return len(rows)
