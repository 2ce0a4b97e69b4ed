"""Use cases of the issues service: problems and meeting matters through their life cycle (issue #5).

reported → accepted (受理) or returned → assigned to a resolving unit → answered (处理意见, to the line's
coordination office) → in progress → resolved → closed (销号, confirmed by the layer that holds it); also
merged and withdrawn. Every use case changes rows, stages events and appends to the audit trail in the
caller's transaction; none commits or speaks HTTP (STYLE.md). User actions check the matter's revision
(``If-Match`` at the edge, a conditional UPDATE here): of two officials acting at once, one wins.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.contracts import ClosureOutcome, EscalationCause, Layer
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, apply_updated_since, fetch_page
from lkg.common.http.problems import Conflict, NotFound
from lkg.common.runtime.service import ServiceRuntime
from lkg.issues import org
from lkg.issues.access import Viewer, require
from lkg.issues.audit import record
from lkg.issues.clocks import clock_row, escalate, running_clocks, start_clocks, stop_clocks
from lkg.issues.facts import clocks, tell
from lkg.issues.models import OPEN_STATES, breach, deadline, matter, project_copy
from lkg.issues.settings import IssuesSettings

KIND_LABEL = {"problem": "问题", "meeting_matter": "会议议定事项"}
BY_REPORTED = Keyset(sort=matter.c.reported_at, id=matter.c.id, name="reported")
BY_UPDATED = Keyset(sort=matter.c.updated_at, id=matter.c.id, name="updated")


def _settings(runtime: ServiceRuntime) -> IssuesSettings:
    return runtime.settings  # type: ignore[return-value]


async def get_matter(session: AsyncSession, kind: str, matter_id: UUID, viewer: Viewer | None) -> Any:
    """The matter if the caller may see it; 404 otherwise (hidden and missing look the same)."""
    stmt = sa.select(matter).where(matter.c.id == matter_id, matter.c.kind == kind)
    if viewer is not None and (visible := viewer.visibility()) is not None:
        stmt = stmt.where(visible)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"{KIND_LABEL[kind]}不存在", code=f"{kind}_not_found")
    return row


async def _project(session: AsyncSession, project_id: UUID) -> Any:
    """The project's read copy. A project this service does not know is 404 ``unknown_project``: the id is
    well-formed (the schema admits it), the resource it names is just not here (yet — the copy follows the
    registry's events)."""
    row = (await session.execute(sa.select(project_copy).where(project_copy.c.id == project_id))).first()
    if row is None:
        raise NotFound("项目不存在或尚未同步到问题督办服务", code="unknown_project")
    return row


async def _changed(
    session: AsyncSession, m: Any, expected_revision: int, values: dict[str, Any], at: datetime
) -> Any:
    """Conditional update of a matter (412 if someone else changed it first); the row as it stands."""
    await update_if_revision(session, matter, m.id, expected_revision, {**values, "updated_at": at})
    return (await session.execute(sa.select(matter).where(matter.c.id == m.id))).one()


def _require_state(m: Any, states: tuple[str, ...], what: str) -> None:
    if m.state not in states:
        raise Conflict(f"当前状态（{m.state}）不能{what}", code="invalid_state")


# ---- creating matters -------------------------------------------------------------------------------


async def report_problem(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer | None,
    *,
    project_id: UUID,
    title: str,
    topic: str,
    description: str,
    help_requested: str | None,
    reported_by_unit_id: UUID | None = None,
    origin: str = "reported",
    cause_key: str | None = None,
    actor: str,
    actor_name: str | None,
    person_id: str | None = None,
) -> Any:
    """问题反映: a project's unit (or 重大项目办 on its behalf) reports a problem; the acceptance clock
    starts, charged to the coordination office that must accept it."""
    now = runtime.clock.now()
    project = await _project(session, project_id)
    if viewer is not None:
        require(
            viewer.coordinates_all or project.responsible_unit_id in viewer.reach.units,
            "为该项目反映问题（项目责任单位或重大项目办代为反映）",
        )
    reporter = reported_by_unit_id or project.responsible_unit_id
    day = now.date()
    holders = await org.holders_at(
        session, layer=1, line_id=project.line_id, project_unit_id=project.responsible_unit_id, day=day
    )
    matter_id = uuid.uuid4()
    values = {
        "id": matter_id,
        "kind": "problem",
        "revision": 1,
        "title": title,
        "topic": topic,
        "description": description,
        "help_requested": help_requested,
        "project_id": project.id,
        "project_name": project.name,
        "project_unit_id": project.responsible_unit_id,
        "line_id": project.line_id,
        "origin": origin,
        "cause_key": cause_key,
        "reported_by_unit_id": reporter,
        "reported_by_person_id": person_id,
        "state": "reported",
        "layer": Layer.RESPONSIBLE_UNIT,
        "holder_post_ids": list(holders.post_ids),
        "holder_unit_ids": list(holders.unit_ids),
        "reported_at": now,
        "updated_at": now,
    }
    m = (await session.execute(sa.insert(matter).values(**values).returning(matter))).one()
    acceptor = await org.coordinator_unit(session, project.line_id, day) or project.responsible_unit_id
    limits = _settings(runtime).limits_for("problem")
    row = clock_row(
        runtime.calendar,
        matter_id=matter_id,
        kind="acceptance",
        layer=1,
        charged_unit_id=acceptor,
        start=now,
        limits=limits,
        budget=limits.acceptance_days,
    )
    await start_clocks(session, [row])
    running = await running_clocks(session, matter_id)
    await tell(
        session,
        m,
        "reported",
        now,
        reported_by_unit_id=reporter,
        reported_by_person_id=_uuid_or_none(person_id),
        topic=topic,
        description=description,
        clocks=clocks(running),
    )
    await record(
        session,
        m,
        "reported",
        actor=actor,
        actor_name=actor_name,
        at=now,
        layer=1,
        detail={
            "origin": origin,
            "cause_key": cause_key,
            "on_behalf": reporter != project.responsible_unit_id,
        }
        if cause_key or reported_by_unit_id
        else {"origin": origin},
    )
    return m


async def register_meeting_matter(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    *,
    title: str,
    topic: str,
    description: str,
    meeting_title: str,
    meeting_date: date,
    deciding_layer: int,
    resolving_unit_id: UUID,
    resolving_unit_name: str,
    deadline_on: date,
    project_id: UUID | None,
    line_id: UUID | None,
) -> Any:
    """会议议定事项登记: a matter decided at a leaders' meeting, at the deciding layer, with its resolving
    unit and deadline; the reply (3 working days) and resolution clocks start at once (§五(一))."""
    now = runtime.clock.now()
    day = now.date()
    project = await _project(session, project_id) if project_id is not None else None
    if project is not None:
        line_id = project.line_id
    if not viewer.coordinates_all:
        require(
            deciding_layer == 2 and line_id is not None and line_id in viewer.reach.lines,
            "登记该会议议定事项（包保区级领导综合协调办或重大项目办）",
        )
    reporter = (
        await org.coordinator_unit(session, line_id, day)
        or next(iter(sorted(viewer.reach.units)), None)
        or resolving_unit_id
    )
    holders = await org.holders_at(
        session,
        layer=deciding_layer,
        line_id=line_id,
        project_unit_id=project.responsible_unit_id if project else None,
        day=day,
    )
    matter_id = uuid.uuid4()
    m = (
        await session.execute(
            sa.insert(matter)
            .values(
                id=matter_id,
                kind="meeting_matter",
                revision=1,
                title=title,
                topic=topic,
                description=description,
                project_id=project.id if project else None,
                project_name=project.name if project else None,
                project_unit_id=project.responsible_unit_id if project else None,
                line_id=line_id,
                origin="meeting",
                reported_by_unit_id=reporter,
                reported_by_person_id=viewer.principal.person_id,
                state="reported",
                layer=deciding_layer,
                resolving_unit_id=resolving_unit_id,
                resolving_unit_name=resolving_unit_name,
                holder_post_ids=list(holders.post_ids),
                holder_unit_ids=list(holders.unit_ids),
                resolution_due_on=deadline_on,
                meeting_title=meeting_title,
                meeting_date=meeting_date,
                deciding_layer=deciding_layer,
                reported_at=now,
                updated_at=now,
            )
            .returning(matter)
        )
    ).one()
    limits = _settings(runtime).limits_for("meeting_matter")
    common = {"matter_id": matter_id, "layer": deciding_layer, "charged_unit_id": resolving_unit_id}
    # The resolving unit acknowledges the decided matter (签收, 及时受理 §三(二)) within the acceptance clock;
    # the 3 working days for its handling opinion run from the decision itself (§五(一)), not from that.
    await start_clocks(
        session,
        [
            clock_row(
                runtime.calendar,
                kind="acceptance",
                start=now,
                limits=limits,
                budget=limits.acceptance_days,
                **common,
            ),
            clock_row(
                runtime.calendar, kind="reply", start=now, limits=limits, budget=limits.reply_days, **common
            ),
            clock_row(
                runtime.calendar, kind="resolution", start=now, limits=limits, due_on=deadline_on, **common
            ),
        ],
    )
    running = await running_clocks(session, matter_id)
    await tell(
        session,
        m,
        "reported",
        now,
        reported_by_unit_id=reporter,
        reported_by_person_id=_uuid_or_none(viewer.principal.person_id),
        topic=topic,
        description=description,
        clocks=clocks(running),
    )
    await record(
        session,
        m,
        "reported",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        layer=deciding_layer,
        detail={"meeting_title": meeting_title, "deadline_on": deadline_on.isoformat()},
    )
    return m


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


# ---- the life cycle -------------------------------------------------------------------------------


async def accept(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    resolving_unit_id: UUID | None,
    resolving_unit_name: str | None,
    resolution_due_on: date | None,
) -> Any:
    """受理: the coordination office accepts a reported problem, optionally assigning its resolving unit."""
    require(viewer.coordinates(m), "受理该问题")
    _require_state(m, ("reported",), "受理")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("acceptance",), now)
    m = await _changed(session, m, expected_revision, {"state": "accepted"}, now)
    accepted_by = await org.coordinator_unit(session, m.line_id, now.date()) or m.project_unit_id
    await record(
        session, m, "accepted", actor=viewer.actor, actor_name=viewer.principal.name, at=now, layer=m.layer
    )
    if resolving_unit_id is not None:
        return await assign(
            session,
            runtime,
            viewer,
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
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    note: str | None,
) -> Any:
    """签收: the resolving unit named by the meeting acknowledges the matter (or the coordination office
    records it on its behalf). Its resolving unit was decided at the meeting, so it is assigned at once;
    the reply and resolution clocks already run from the decision."""
    require(viewer.resolves(m) or viewer.coordinates(m), "签收该会议议定事项（须为问题解决单位）")
    _require_state(m, ("reported",), "签收")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("acceptance",), now)
    m = await _changed(session, m, expected_revision, {"state": "assigned"}, now)
    await tell(
        session,
        m,
        "accepted",
        now,
        accepted_by_unit_id=m.resolving_unit_id,
        clocks=clocks(await running_clocks(session, m.id)),
    )
    await record(
        session,
        m,
        "accepted",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        layer=m.layer,
        detail={"note": note} if note else {},
    )
    return m


async def assign(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
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
    require(viewer.coordinates(m), "交办该问题")
    _require_state(m, ("accepted", "assigned"), "交办")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("reply", "resolution"), now, state="cancelled")
    m = await _changed(
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
    limits = _settings(runtime).limits_for(m.kind)
    common = {"matter_id": m.id, "layer": m.layer, "charged_unit_id": resolving_unit_id}
    rows = [
        clock_row(
            runtime.calendar, kind="reply", start=now, limits=limits, budget=limits.reply_days, **common
        )
    ]
    if resolution_due_on is not None:
        rows.append(
            clock_row(
                runtime.calendar,
                kind="resolution",
                start=now,
                limits=limits,
                due_on=resolution_due_on,
                **common,
            )
        )
    await start_clocks(session, rows)
    accepted_by = accepted_by_unit_id or (
        await org.coordinator_unit(session, m.line_id, now.date()) or m.project_unit_id
    )
    await tell(
        session,
        m,
        "accepted",
        now,
        accepted_by_unit_id=accepted_by,
        clocks=clocks(await running_clocks(session, m.id)),
    )
    await record(
        session,
        m,
        "assigned",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        layer=m.layer,
        detail={
            "resolving_unit_id": str(resolving_unit_id),
            "resolving_unit_name": resolving_unit_name,
            "resolution_due_on": resolution_due_on.isoformat() if resolution_due_on else None,
        },
    )
    return m


async def answer(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    opinion: str,
) -> Any:
    """反馈处理意见: the resolving unit sends its handling opinion to the coordination office; the reply clock
    stops and the progress clock (every 5 working days, §五(一)) starts."""
    require(viewer.resolves(m), "反馈处理意见（须为问题解决单位）")
    _require_state(m, ("assigned",), "反馈处理意见")
    now = runtime.clock.now()
    stopped = await stop_clocks(session, m.id, ("reply",), now)
    on_time = all(now < r.due_at for r in stopped)
    m = await _changed(session, m, expected_revision, {"state": "answered", "answered_at": now}, now)
    await _start_progress_clock(session, runtime, m, now)
    await tell(
        session,
        m,
        "answered",
        now,
        answered_by_unit_id=m.resolving_unit_id,
        opinion=opinion,
        on_time=on_time,
        clocks=clocks(await running_clocks(session, m.id)),
    )
    await record(
        session,
        m,
        "answered",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        layer=m.layer,
        detail={"opinion": opinion, "on_time": on_time},
    )
    return m


async def _start_progress_clock(
    session: AsyncSession, runtime: ServiceRuntime, m: Any, now: datetime
) -> None:
    """A progress report is owed every 5 working days while the matter is in progress (§五(一)); the clock
    starts at the answer and again at each report, charged to the resolving unit."""
    limits = _settings(runtime).limits_for(m.kind)
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
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    summary: str,
) -> Any:
    """报送进展: the progress clock restarts at each report (every 5 working days, §五(一))."""
    require(viewer.resolves(m), "报送进展（须为问题解决单位）")
    _require_state(m, ("answered", "in_progress"), "报送进展")
    now = runtime.clock.now()
    await stop_clocks(session, m.id, ("progress",), now)
    m = await _changed(session, m, expected_revision, {"state": "in_progress"}, now)
    await _start_progress_clock(session, runtime, m, now)
    await tell(
        session,
        m,
        "progress_reported",
        now,
        reported_by_unit_id=m.resolving_unit_id,
        summary=summary,
        clocks=clocks(await running_clocks(session, m.id)),
    )
    await record(
        session,
        m,
        "progress_reported",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        layer=m.layer,
        detail={"summary": summary},
    )
    return m


async def resolve(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    summary: str,
) -> Any:
    """问题解决: the resolving unit reports it solved; every clock stops; the holding layer confirms 销号."""
    require(viewer.resolves(m), "报告办结（须为问题解决单位）")
    _require_state(m, ("assigned", "answered", "in_progress"), "报告办结")
    now = runtime.clock.now()
    stopped = await stop_clocks(session, m.id, None, now)
    on_time = all(now < r.due_at for r in stopped if r.kind == "resolution")
    m = await _changed(session, m, expected_revision, {"state": "resolved", "resolved_at": now}, now)
    await tell(
        session, m, "resolved", now, resolved_by_unit_id=m.resolving_unit_id, summary=summary, on_time=on_time
    )
    await record(
        session,
        m,
        "resolved",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        layer=m.layer,
        detail={"summary": summary, "on_time": on_time},
    )
    return m


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
    now = at
    await stop_clocks(session, m.id, None, now, state="cancelled")
    values = {
        "state": state,
        "closure_outcome": str(outcome),
        "closure_reason": reason,
        "closed_at": now,
        **(extra or {}),
    }
    if expected_revision is None:
        m = (
            await session.execute(
                sa.update(matter)
                .where(matter.c.id == m.id)
                .values(**values, revision=matter.c.revision + 1, updated_at=now)
                .returning(matter)
            )
        ).one()
    else:
        m = await _changed(session, m, expected_revision, values, now)
    await tell(session, m, "closed", now, outcome=outcome, closed_by_unit_id=closed_by_unit_id, reason=reason)
    await record(
        session,
        m,
        state,
        actor=actor,
        actor_name=actor_name,
        at=now,
        layer=m.layer,
        detail={"outcome": str(outcome), "reason": reason, **{k: str(v) for k, v in (extra or {}).items()}},
    )
    return m


def _acting_unit(viewer: Viewer, m: Any, *candidates: UUID | None) -> UUID:
    for unit in candidates:
        if unit is not None and unit in viewer.reach.units:
            return unit
    units = sorted(viewer.reach.units)
    return units[0] if units else (m.holder_unit_ids[0] if m.holder_unit_ids else m.reported_by_unit_id)


async def close(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    note: str | None,
) -> Any:
    """销号: the layer that holds the matter confirms it solved."""
    require(viewer.holds(m), "销号（须由问题所在层级确认）")
    _require_state(m, ("resolved",), "销号")
    unit = _acting_unit(viewer, m, *m.holder_unit_ids, m.project_unit_id)
    return await close_matter(
        session,
        m,
        at=runtime.clock.now(),
        expected_revision=expected_revision,
        state="closed",
        outcome=ClosureOutcome.RESOLVED,
        closed_by_unit_id=unit,
        reason=note,
        actor=viewer.actor,
        actor_name=viewer.principal.name,
    )


async def return_problem(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """不予受理退回: the coordination office returns a reported problem with a reason."""
    require(viewer.coordinates(m), "退回该问题")
    _require_state(m, ("reported",), "退回")
    unit = await org.coordinator_unit(session, m.line_id, runtime.clock.now().date())
    return await close_matter(
        session,
        m,
        at=runtime.clock.now(),
        expected_revision=expected_revision,
        state="returned",
        outcome=ClosureOutcome.RETURNED,
        closed_by_unit_id=_acting_unit(viewer, m, unit),
        reason=reason,
        actor=viewer.actor,
        actor_name=viewer.principal.name,
    )


async def return_meeting_matter(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """退回: the unit a meeting named sends the matter back before acknowledging it (not its remit, the
    wrong unit named), with a reason; the coordination office registers it again as decided."""
    require(viewer.resolves(m) or viewer.coordinates(m), "退回该会议议定事项（须为问题解决单位）")
    _require_state(m, ("reported",), "退回")
    return await close_matter(
        session,
        m,
        at=runtime.clock.now(),
        expected_revision=expected_revision,
        state="returned",
        outcome=ClosureOutcome.RETURNED,
        closed_by_unit_id=_acting_unit(viewer, m, m.resolving_unit_id),
        reason=reason,
        actor=viewer.actor,
        actor_name=viewer.principal.name,
    )


async def withdraw(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """撤回: the reporting unit (or 重大项目办) takes the matter off the books."""
    require(viewer.reported(m), "撤回该问题（须为反映单位）")
    _require_state(m, OPEN_STATES, "撤回")
    return await close_matter(
        session,
        m,
        at=runtime.clock.now(),
        expected_revision=expected_revision,
        state="withdrawn",
        outcome=ClosureOutcome.WITHDRAWN,
        closed_by_unit_id=_acting_unit(viewer, m, m.reported_by_unit_id),
        reason=reason,
        actor=viewer.actor,
        actor_name=viewer.principal.name,
    )


async def merge(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    into_id: UUID,
    reason: str,
) -> Any:
    """合并: a duplicate joins another open matter of the same kind; its clocks stop, its history stays."""
    require(viewer.coordinates(m), "合并该问题")
    _require_state(m, OPEN_STATES, "合并")
    target = await get_matter(session, m.kind, into_id, viewer)
    if target.id == m.id or target.state not in OPEN_STATES:
        raise Conflict("只能并入另一个未办结的同类事项", code="invalid_merge_target")
    return await close_matter(
        session,
        m,
        at=runtime.clock.now(),
        expected_revision=expected_revision,
        state="merged",
        outcome=ClosureOutcome.WITHDRAWN,
        closed_by_unit_id=_acting_unit(viewer, m, *m.holder_unit_ids),
        reason=reason,
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        extra={"merged_into_id": target.id},
    )


async def escalate_by_hand(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    """报请协调: the unit cannot solve it at its layer (§二(一)) — up one layer, with a reason."""
    require(viewer.holds(m) or viewer.resolves(m) or viewer.coordinates(m), "上报该问题")
    _require_state(m, OPEN_STATES, "上报")
    if m.layer >= Layer.DISTRICT_LEADERS:
        raise Conflict("已在第三层（区委、区政府主要领导），不能再上报", code="top_layer")
    if m.revision != expected_revision:
        await update_if_revision(session, matter, m.id, expected_revision, {})  # raises 412
    m, _ = await escalate(
        session,
        runtime,
        m,
        at=runtime.clock.now(),
        cause=EscalationCause.REQUESTED,
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        reason=reason,
    )
    return m


# ---- queries ----------------------------------------------------------------------------------------


async def list_matters(
    session: AsyncSession,
    kind: str,
    viewer: Viewer,
    page: PageParams,
    *,
    now: datetime,
    project_id: UUID | None = None,
    unit_id: UUID | None = None,
    line_id: UUID | None = None,
    layer: int | None = None,
    state: str | None = None,
    overdue: bool | None = None,
    updated_since: datetime | None = None,
) -> tuple[list[Any], str | None]:
    stmt = sa.select(matter).where(matter.c.kind == kind)
    if (visible := viewer.visibility()) is not None:
        stmt = stmt.where(visible)
    if project_id is not None:
        stmt = stmt.where(matter.c.project_id == project_id)
    if unit_id is not None:
        stmt = stmt.where(
            sa.or_(
                matter.c.resolving_unit_id == unit_id,
                matter.c.reported_by_unit_id == unit_id,
                matter.c.project_unit_id == unit_id,
            )
        )
    if line_id is not None:
        stmt = stmt.where(matter.c.line_id == line_id)
    if layer is not None:
        stmt = stmt.where(matter.c.layer == layer)
    if state is not None:
        stmt = stmt.where(matter.c.state == state)
    if overdue is not None:
        late = sa.exists().where(
            deadline.c.matter_id == matter.c.id,
            sa.or_(
                sa.and_(deadline.c.state == "running", deadline.c.due_at <= now),
                sa.and_(deadline.c.state == "breached", matter.c.state.in_(OPEN_STATES)),
            ),
        )
        stmt = stmt.where(late if overdue else ~late)
    keyset = BY_UPDATED if updated_since is not None else BY_REPORTED
    stmt = apply_updated_since(stmt, matter.c.updated_at, updated_since)
    return await fetch_page(session, stmt, keyset, page, scalars=False)


async def clocks_of(session: AsyncSession, matter_id: UUID) -> list[Any]:
    """Every clock of a matter, running or ended (all are visible to whoever sees the matter)."""
    result = await session.execute(
        sa.select(deadline)
        .where(deadline.c.matter_id == matter_id)
        .order_by(deadline.c.started_at, deadline.c.kind)
    )
    return list(result.all())


async def breaches_of(session: AsyncSession, matter_id: UUID) -> list[Any]:
    result = await session.execute(
        sa.select(breach).where(breach.c.matter_id == matter_id).order_by(breach.c.breached_at)
    )
    return list(result.all())
