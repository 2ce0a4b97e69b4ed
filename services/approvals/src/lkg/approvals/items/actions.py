"""An item's life cycle (policy §三(一)): one use case per action an official takes on it.

The project's side submits (申报), resubmits after a supplement (补正) and withdraws (撤回); the handling
department accepts (受理: the time limit starts), asks for a supplement (the clock pauses), grants (准予许可)
or rejects (不予许可), and verifies a commitment or the inspection after building first (承诺审批、先建后验,
policy §四(一)). Each action checks who may take it and from which state, moves the item against the
revision the official saw (of two acting at once one wins, the other gets 412), writes a line of the item's
history, stages its event and looks again at the plan's planned start (:func:`lkg.approvals.risk.reassess`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller, may_apply, may_decide
from lkg.approvals.clocks import (
    item_fact,
    last_day,
    limit_clock,
    open_obligations,
    refresh,
    start_clock,
)
from lkg.approvals.items.service import record_change
from lkg.approvals.models import ApprovalClock, ApprovalItem, ApprovalPlan, CatalogueItem
from lkg.approvals.risk import reassess
from lkg.common.access import permitted
from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import Clock
from lkg.common.events.base import Event
from lkg.common.events.contracts import (
    ApprovalAccepted,
    ApprovalClockKind,
    ApprovalGranted,
    ApprovalMode,
    ApprovalRejected,
    ApprovalSubmitted,
    BudgetUnit,
)
from lkg.common.events.outbox import stage
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.problems import Conflict


@dataclass(frozen=True)
class Timekeeping:
    """What an item's clocks are counted with: the shared clock, the working calendar and the share of a
    budget after which ``approval.due_soon`` warns."""

    clock: Clock
    calendar: WorkingCalendar
    due_soon_share: float


@dataclass(frozen=True)
class Act:
    """One official's act on one item: who, on which item of which plan, against the revision they saw, and
    what they add to it."""

    caller: Caller
    item: ApprovalItem
    plan: ApprovalPlan
    #: The item's clocks, oldest first, as read with it.
    clocks: Sequence[ApprovalClock]
    expected_revision: int
    note: str | None = None
    document_refs: Sequence[str] = ()


@dataclass(frozen=True)
class Transition:
    """The states an action may start from, the state it leads to, and whose it is to take."""

    sources: frozenset[str]
    target: str
    #: The handling department's (else the project's side).
    department: bool


#: Policy §三(一) and the item's life cycle in docs/approvals.md.
TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(frozenset({"planned", "rejected", "withdrawn"}), "submitted", False),
    "accept": Transition(frozenset({"submitted"}), "accepted", True),
    "request_supplement": Transition(frozenset({"accepted", "resubmitted"}), "supplement_requested", True),
    "resubmit": Transition(frozenset({"supplement_requested"}), "resubmitted", False),
    "grant": Transition(frozenset({"accepted", "resubmitted"}), "granted", True),
    "reject": Transition(frozenset({"submitted", "accepted", "resubmitted"}), "rejected", True),
    "withdraw": Transition(
        frozenset({"planned", "submitted", "accepted", "supplement_requested", "resubmitted"}),
        "withdrawn",
        False,
    ),
    "verify": Transition(frozenset({"granted"}), "granted", True),
}


@dataclass(frozen=True)
class Acted:
    """The item as an action left it, with its clocks, oldest first (those it had and those it started):
    what the answer shows, without reading them again."""

    item: ApprovalItem
    clocks: list[ApprovalClock]


@dataclass(frozen=True)
class _Step:
    """An action under way: the item moved and refreshed, its clocks (with any it starts), the state it
    came from."""

    action: str
    now: datetime
    state_before: str
    clocks: list[ApprovalClock]
    fact: dict[str, Any]


async def _begin(
    session: AsyncSession,
    act: Act,
    action: str,
    now: datetime,
    values: dict[str, Any] | None = None,
    *,
    also_from: Iterable[str] = (),
) -> _Step:
    """Check who may act and from which state, then move the item against the expected revision."""
    rule = TRANSITIONS[action]
    allowed = may_decide(act.caller, act.item) if rule.department else may_apply(act.caller, act.plan)
    who = "承办部门" if rule.department else "项目责任单位"
    permitted(allowed, f"只有{who}、行政审批局或重大项目办可执行此操作")
    if act.plan.project_status != "active":
        raise Conflict("项目已终止，审批计划已关闭", code="plan_closed")
    item = act.item
    if item.state not in rule.sources and item.state not in also_from:
        raise Conflict(
            f"事项当前状态（{item.state}）不允许此操作",
            code="invalid_transition",
            extra={"state": item.state, "action": action},
        )
    row: dict[str, Any] = {"state": rule.target, "updated_at": now, **(values or {})}
    if act.document_refs:
        row["document_refs"] = [*item.document_refs, *act.document_refs]
    if act.note is not None and action != "verify":
        row["notes"] = act.note
    state_before = item.state
    # The UPDATE … RETURNING refreshes ``item`` in the identity map: no second read of it.
    await update_if_revision(session, ApprovalItem, item.id, act.expected_revision, row)
    clocks = list(act.clocks)
    fact = item_fact(item, item_id=item.id, project_name=act.plan.project_name, now=now)
    return _Step(action, now, state_before, clocks, fact)


async def _finish(
    session: AsyncSession,
    timekeeping: Timekeeping,
    act: Act,
    step: _Step,
    *events: Event,
    note: str | None = None,
    certificate_no: str | None = None,
) -> Acted:
    """The history line and the events of the step, then the plan's verdict on its start again."""
    item = act.item
    target = TRANSITIONS[step.action].target
    item.state = target
    details = {"document_refs": list(act.document_refs), "certificate_no": certificate_no}
    record_change(
        session,
        item,
        action=step.action,
        from_state=step.state_before,
        to_state=target,
        actor=act.caller.actor,
        at=step.now,
        note=act.note or note,
        details={k: v for k, v in details.items() if v},
    )
    for event in events:
        await stage(session, event)
    await session.flush()
    await reassess(session, timekeeping.calendar, act.plan, step.now)
    return Acted(item, step.clocks)


def _end_limit(step: _Step, state: str) -> None:
    """The time limit ends with the decision (``met`` by a grant, else ``cancelled``); one already breached
    stays breached."""
    limit = limit_clock(step.clocks)
    if limit is None:
        return
    if limit.state == "running":
        limit.state = state
    limit.ended_at = step.now
    limit.next_at = None


async def submit(session: AsyncSession, *, timekeeping: Timekeeping, act: Act) -> Acted:
    """申报: the applicant submits (again, after a rejection or a withdrawal)."""
    now = timekeeping.clock.now()
    cleared = {"submitted_at": now, "accepted_at": None, "decided_at": None, "certificate_no": None}
    step = await _begin(session, act, "submit", now, cleared)
    return await _finish(session, timekeeping, act, step, ApprovalSubmitted(**step.fact))


async def accept(session: AsyncSession, *, timekeeping: Timekeeping, act: Act) -> Acted:
    """受理: the department accepts the application and the item's time limit starts."""
    now = timekeeping.clock.now()
    step = await _begin(session, act, "accept", now, {"accepted_at": now})
    item = act.item
    limit = start_clock(
        session,
        item=item,
        kind=ApprovalClockKind.LIMIT,
        started_at=now,
        budget=item.limit_days,
        unit=item.limit_unit,
        calendar=timekeeping.calendar,
        due_soon_share=timekeeping.due_soon_share,
    )
    step.clocks.append(limit)
    accepted = ApprovalAccepted(
        **step.fact,
        due_at=limit.due_at,
        budget=limit.budget,
        budget_unit=BudgetUnit(limit.unit),
        provisional=limit.provisional,
    )
    return await _finish(session, timekeeping, act, step, accepted)


async def request_supplement(session: AsyncSession, *, timekeeping: Timekeeping, act: Act) -> Acted:
    """要求补正: the department asks for a supplement; the time limit pauses until it comes."""
    step = await _begin(session, act, "request_supplement", timekeeping.clock.now())
    limit = limit_clock(step.clocks)
    if limit is not None:
        limit.pauses = [*limit.pauses, {"started_at": step.now.isoformat(), "ended_at": None}]
        refresh(limit, timekeeping.calendar, timekeeping.due_soon_share)
    return await _finish(session, timekeeping, act, step)


async def resubmit(session: AsyncSession, *, timekeeping: Timekeeping, act: Act) -> Acted:
    """补正后重新提交: the supplement arrives and the time limit runs on."""
    step = await _begin(session, act, "resubmit", timekeeping.clock.now())
    limit = limit_clock(step.clocks)
    if limit is not None:
        now = step.now.isoformat()
        limit.pauses = [{**p, "ended_at": now} if p.get("ended_at") is None else p for p in limit.pauses]
        refresh(limit, timekeeping.calendar, timekeeping.due_soon_share)
    return await _finish(session, timekeeping, act, step)


async def grant(
    session: AsyncSession, *, timekeeping: Timekeeping, act: Act, certificate_no: str | None = None
) -> Acted:
    """准予许可: the time limit is met. Granted on a commitment (承诺审批, straight from submission), the
    commitment is then verified on a clock of its own; granted to build first (先建后验), the inspection
    follows on one (policy §四(一))."""
    now = timekeeping.clock.now()
    values: dict[str, Any] = {"decided_at": now}
    if certificate_no is not None:
        values["certificate_no"] = certificate_no
    item = act.item
    on_commitment = item.mode == ApprovalMode.COMMITMENT.value
    step = await _begin(session, act, "grant", now, values, also_from={"submitted"} if on_commitment else ())
    _end_limit(step, "met")
    verification_due_on = None
    if item.mode in (ApprovalMode.COMMITMENT.value, ApprovalMode.BUILD_FIRST.value):
        entry = await session.get(CatalogueItem, item.catalogue_item_id)
        commitment = item.mode == ApprovalMode.COMMITMENT.value
        kind = ApprovalClockKind.VERIFICATION if commitment else ApprovalClockKind.INSPECTION
        budget = (entry.verification_days if commitment else entry.inspection_days) if entry else 20
        unit = (entry.verification_unit if commitment else entry.inspection_unit) if entry else "working"
        obligation = start_clock(
            session,
            item=item,
            kind=kind,
            started_at=now,
            budget=budget,
            unit=unit,
            calendar=timekeeping.calendar,
            due_soon_share=timekeeping.due_soon_share,
        )
        step.clocks.append(obligation)
        verification_due_on = last_day(obligation.due_at) if obligation.due_at else None
    granted = ApprovalGranted(
        **step.fact, certificate_no=item.certificate_no, verification_due_on=verification_due_on
    )
    return await _finish(session, timekeeping, act, step, granted, certificate_no=certificate_no)


async def reject(session: AsyncSession, *, timekeeping: Timekeeping, act: Act, reason: str) -> Acted:
    """不予许可, with the reason; the time limit ends."""
    now = timekeeping.clock.now()
    step = await _begin(session, act, "reject", now, {"decided_at": now})
    _end_limit(step, "cancelled")
    rejected = ApprovalRejected(**step.fact, reason=reason or act.note or "不予许可")
    return await _finish(session, timekeeping, act, step, rejected, note=reason)


async def withdraw(session: AsyncSession, *, timekeeping: Timekeeping, act: Act) -> Acted:
    """撤回: the applicant withdraws; a running time limit ends."""
    step = await _begin(session, act, "withdraw", timekeeping.clock.now())
    _end_limit(step, "cancelled")
    return await _finish(session, timekeeping, act, step)


async def verify(session: AsyncSession, *, timekeeping: Timekeeping, act: Act) -> Acted:
    """承诺核查/事后验收完成: the commitment verified, or the inspection after building first done."""
    step = await _begin(session, act, "verify", timekeeping.clock.now())
    pending = open_obligations(step.clocks)
    if not pending:
        raise Conflict("此事项没有待核验的承诺或验收", code="invalid_transition")
    for obligation in pending:
        if obligation.state == "running":
            obligation.state = "met"
        obligation.ended_at = step.now
        obligation.next_at = None
    return await _finish(session, timekeeping, act, step)
