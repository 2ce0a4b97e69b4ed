"""Use cases that put a matter on the books: a problem reported by a project's unit (问题反映) or opened by
the service from a signal, and a meeting matter registered after a leaders' meeting (会议议定事项登记)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.contracts import Layer
from lkg.issues import org
from lkg.issues.access import Caller, person_uuid, require
from lkg.issues.audit import SYSTEM, SYSTEM_NAME, record
from lkg.issues.matters.clocks import clock_row, running_clocks, start_clocks
from lkg.issues.matters.events import clocks, tell
from lkg.issues.matters.queries import project_of
from lkg.issues.models import matter
from lkg.issues.settings import IssuesRuntime


async def report_problem(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller | None,
    *,
    project_id: UUID,
    title: str,
    topic: str,
    description: str,
    help_requested: str | None,
    reported_by_unit_id: UUID | None = None,
    origin: str = "reported",
    cause_key: str | None = None,
) -> Any:
    """问题反映: a project's unit (or 重大项目办 on its behalf) reports a problem; the acceptance clock
    starts, charged to the coordination office that must accept it. ``caller`` None: the service itself
    (a signal)."""
    now = runtime.clock.now()
    actor, actor_name = (caller.actor, caller.name) if caller else (SYSTEM, SYSTEM_NAME)
    person_id = caller.principal.person_id if caller else None
    project = await project_of(session, project_id, caller)
    if caller is not None:
        require(
            caller.coordinates_all or project.responsible_unit_id in caller.reach.units,
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
    limits = runtime.settings.limits_for("problem")
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
    await _tell_reported(session, m, now, reporter, person_id, topic, description)
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
    runtime: IssuesRuntime,
    caller: Caller,
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
    project = await project_of(session, project_id, caller) if project_id is not None else None
    if project is not None:
        line_id = project.line_id
    if not caller.coordinates_all:
        require(
            deciding_layer == 2 and line_id is not None and line_id in caller.reach.lines,
            "登记该会议议定事项（包保区级领导综合协调办或重大项目办）",
        )
    reporter = (
        await org.coordinator_unit(session, line_id, day)
        or next(iter(sorted(caller.reach.units)), None)
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
                reported_by_person_id=caller.principal.person_id,
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
    limits = runtime.settings.limits_for("meeting_matter")
    common: dict[str, Any] = {
        "matter_id": matter_id,
        "layer": deciding_layer,
        "charged_unit_id": resolving_unit_id,
        "start": now,
    }
    # The resolving unit acknowledges the decided matter (签收, 及时受理 §三(二)) within the acceptance clock;
    # the 3 working days for its handling opinion run from the decision itself (§五(一)), not from that.
    await start_clocks(
        session,
        [
            clock_row(
                runtime.calendar, kind="acceptance", limits=limits, budget=limits.acceptance_days, **common
            ),
            clock_row(runtime.calendar, kind="reply", limits=limits, budget=limits.reply_days, **common),
            clock_row(runtime.calendar, kind="resolution", limits=limits, due_on=deadline_on, **common),
        ],
    )
    await _tell_reported(session, m, now, reporter, caller.principal.person_id, topic, description)
    await record(
        session,
        m,
        "reported",
        actor=caller.actor,
        actor_name=caller.name,
        at=now,
        layer=deciding_layer,
        detail={"meeting_title": meeting_title, "deadline_on": deadline_on.isoformat()},
    )
    return m


async def _tell_reported(
    session: AsyncSession,
    m: Any,
    at: datetime,
    reporter: UUID,
    person_id: str | None,
    topic: str,
    description: str,
) -> None:
    await tell(
        session,
        m,
        "reported",
        at,
        reported_by_unit_id=reporter,
        reported_by_person_id=person_uuid(person_id),
        topic=topic,
        description=description,
        clocks=clocks(await running_clocks(session, m.id)),
    )
