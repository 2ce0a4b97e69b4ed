"""Use cases of the approval agents' team (代办员队伍) and its periodic training (代办业务培训,
policy §四(三): 区行政审批局要定期组织开展全区代办业务培训).

The team is the directory's: the people holding an ``approval_agent`` post (registry, org directory), read
from the org read copy, so that joining and leaving the team is a post holding with its dates like any
other, and a project's agent (``agent_id`` on the registry's project snapshot) is one of them. Approvals
records each training session the approval bureau holds, with its topic and who attended (directory people;
whether each held an agent's post that day is shown), and shows per agent the sessions attended and the
last one, so the bureau sees who is due for training. Every signed-in caller may read both; the approval
bureau, 重大项目办 and admin record sessions. A project's agent is carried by ``approval.stalled`` so that
the notifier can tell the agent (docs/events.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.approvals.models import AgentTraining, org
from lkg.common.access import permitted
from lkg.common.calendar import local_date
from lkg.common.clock import Clock
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, NotFound
from lkg.common.orgcopy import in_force

#: The post kind of the agents' team in the directory (PostKind.APPROVAL_AGENT).
AGENT_POST_KIND = "approval_agent"

TRAININGS_BY_DAY = Keyset(sort=AgentTraining.held_on, id=AgentTraining.id, name="held_on", descending=True)


def _refused(field: str, message: str, code: str, **extra: Any) -> Conflict:
    """409: well formed, but refused by what the service holds (the directory, the clock)."""
    return Conflict(message, code=code, extra={"field": field, **extra})


async def team(session: AsyncSession, day: date) -> list[Any]:
    """The agents on ``day``: holders of an ``approval_agent`` post in force then, with the post, ordered by
    name (rows: person_id, name, post_id, post_title, unit_id, since)."""
    h, p, people = org.holdings, org.posts, org.people
    stmt = (
        sa.select(
            h.c.person_id,
            people.c.name,
            p.c.id.label("post_id"),
            p.c.title.label("post_title"),
            p.c.unit_id,
            h.c.valid_from.label("since"),
        )
        .select_from(h.join(p, p.c.id == h.c.post_id).join(people, people.c.id == h.c.person_id))
        .where(p.c.kind == AGENT_POST_KIND, in_force(h, day), in_force(p, day))
        .order_by(people.c.name, h.c.person_id, p.c.id)
    )
    return list((await session.execute(stmt)).all())


async def agents_on(session: AsyncSession, people: Sequence[uuid.UUID], day: date) -> set[uuid.UUID]:
    """Which of ``people`` held an agent's post on ``day``."""
    if not people:
        return set()
    h, p = org.holdings, org.posts
    rows = await session.scalars(
        sa.select(h.c.person_id)
        .select_from(h.join(p, p.c.id == h.c.post_id))
        .where(
            h.c.person_id.in_(list(people)), p.c.kind == AGENT_POST_KIND, in_force(h, day), in_force(p, day)
        )
    )
    return set(rows.all())


_ATTENDED = sa.text(
    "SELECT (a->>'person_id')::uuid AS person_id, count(*) AS sessions, max(t.held_on) AS last_on "
    "FROM agent_training AS t, jsonb_array_elements(t.attendees) AS a "
    "WHERE (a->>'person_id')::uuid = ANY(CAST(:people AS uuid[])) AND t.held_on <= :day GROUP BY 1"
)


async def trainings_of(
    session: AsyncSession, people: Sequence[uuid.UUID], day: date
) -> dict[uuid.UUID, tuple[int, date]]:
    """Sessions attended up to ``day`` and the last one, per person."""
    if not people:
        return {}
    rows = await session.execute(_ATTENDED, {"people": list(people), "day": day})
    return {row.person_id: (row.sessions, row.last_on) for row in rows}


def training_due(last_trained_on: date | None, day: date, every_days: int) -> bool:
    """Never trained, or the last session more than ``every_days`` before ``day``."""
    return last_trained_on is None or (day - last_trained_on).days > every_days


async def _people(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The directory's names of ``ids``; 409 ``unknown_person`` (nothing recorded) for any it lacks."""
    people = org.people
    found = dict(
        (await session.execute(sa.select(people.c.id, people.c.name).where(people.c.id.in_(list(ids))))).all()
    )
    if missing := sorted(str(i) for i in ids if i not in found):
        raise _refused("attendees", "组织目录中没有这些人员", "unknown_person", unknown=missing)
    return found


async def record_training(
    session: AsyncSession,
    *,
    caller: Caller,
    clock: Clock,
    held_on: date,
    topic: str,
    attendees: Sequence[uuid.UUID],
) -> AgentTraining:
    """A session held (not one planned: ``held_on`` is today or before), with who attended."""
    permitted(caller.manages_all, "只有行政审批局或重大项目办可登记代办业务培训")
    now = clock.now()
    if held_on > local_date(now):
        raise _refused("held_on", "培训尚未举行，不能登记", "training_in_future")
    attendees = list(dict.fromkeys(attendees))  # repeats taken once
    names = await _people(session, attendees)
    training = AgentTraining(
        id=uuid.uuid4(),
        held_on=held_on,
        topic=topic,
        attendees=[{"person_id": str(p), "name": names[p]} for p in attendees],
        recorded_by=caller.actor,
        created_at=now,
    )
    session.add(training)
    await session.flush()
    return training


async def get_training(session: AsyncSession, training_id: uuid.UUID) -> AgentTraining:
    found = await session.get(AgentTraining, training_id)
    if found is None:
        raise NotFound("培训记录不存在", code="agent_training_not_found")
    return found


async def list_trainings(
    session: AsyncSession, *, page: PageParams, person_id: uuid.UUID | None = None
) -> tuple[list[AgentTraining], str | None]:
    """Sessions, latest first; ``person_id``: those that person attended."""
    stmt = sa.select(AgentTraining)
    if person_id is not None:
        stmt = stmt.where(AgentTraining.attendees.contains([{"person_id": str(person_id)}]))
    return await fetch_page(session, stmt, TRAININGS_BY_DAY, page)
