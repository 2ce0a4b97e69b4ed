"""What the console's desk reads of the issues service, over HTTP (issue #17, "My desk": the person's
matters with every clock and the working days left):

- every clock of a matter carries its working days left, counted on the official calendar (2020's May Day
  holiday and the 调休 Saturday 05-09) at the shared clock's now, 0 on its last day, negative when overdue,
  and an ended clock as it stood when it ended;
- ``awaiting_me`` gives the open matters whose next step is for what the caller acts for: a reported
  problem awaits the line's service department (to accept), an assigned one its resolving unit (to
  answer); the reporter waits on neither; a value that is not a boolean is a 422 and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

import pytest_asyncio
from issues_world import dept, get, issues_world, street

from lkg.common.clock import TZ


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


def problem(system, title: str) -> dict:
    return {"project_id": str(system.project.id), "title": title, "topic": "水电", "description": "二期"}


def left(matter: dict) -> list[tuple[str, int, str, int]]:
    return [(k["kind"], k["layer"], k["state"], k["working_days_left"]) for k in matter["clocks"]]


async def ids(system, headers: dict, query: str) -> set[str]:
    answer = await system.client.get(f"/api/v1/problems?{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    return {m["id"] for m in answer.json()["items"]}


async def test_every_clock_carries_its_working_days_left_on_the_official_calendar(world):
    # 2020-05-01 09:00, the first day of the May Day holiday (05-01..05-05; 05-09, a Saturday, is worked).
    created = await world.client.post(
        "/api/v1/problems",
        json=problem(world, "供水接入"),
        headers=street(world),
    )
    assert created.status_code == 201, created.text
    # Acceptance: 1 working day, due at the end of 05-06; the 5 holiday days are not counted.
    assert left(created.json()) == [("acceptance", 1, "running", 1)]
    problem_id = created.json()["id"]

    accepted = await world.client.post(
        f"/api/v1/problems/{problem_id}/acceptance",
        json={"resolving_unit_id": str(world.org.service_dept), "resolving_unit_name": "区科经局"},
        headers={**dept(world), "If-Match": created.headers["ETag"]},
    )
    assert accepted.status_code == 200, accepted.text
    # Met at once: it keeps the day it was met with to spare. The reply clock: 3 working days (05-06..08).
    assert [c for c in left(accepted.json()) if c[0] in ("acceptance", "reply")] == [
        ("acceptance", 1, "met", 1),
        ("reply", 1, "running", 3),
    ]

    await world.move_clock(set=datetime(2020, 5, 7, 9, tzinfo=TZ))
    reply = [c for c in left(await get(world, problem_id)) if c[0] == "reply"]
    assert reply == [("reply", 1, "running", 1)]
    await world.move_clock(set=datetime(2020, 5, 8, 9, tzinfo=TZ))
    reply = [c for c in left(await get(world, problem_id)) if c[0] == "reply"]
    assert reply == [("reply", 1, "running", 0)]  # its last day

    # 05-09 is a working Saturday (调休): the breached reply clock is one working day over, and the clock
    # that starts again at layer 2 has its 3 working days (05-11..13) ahead.
    await world.move_clock(set=datetime(2020, 5, 9, 9, tzinfo=TZ))
    reply = [c for c in left(await get(world, problem_id)) if c[0] == "reply"]
    assert reply == [("reply", 1, "breached", -1), ("reply", 2, "running", 3)], reply
    # The list answers the same clocks.
    listed = (await world.client.get("/api/v1/problems", headers=world.operator)).json()["items"]
    assert [left(m) for m in listed if m["id"] == problem_id] == [left(await get(world, problem_id))]


async def test_awaiting_me_gives_the_matters_whose_next_step_is_the_callers(world):
    created = await world.client.post(
        "/api/v1/problems",
        json=problem(world, "施工用电"),
        headers=street(world),
    )
    assert created.status_code == 201, created.text
    problem_id = created.json()["id"]

    # Reported: the line's service department accepts it; the reporting street waits.
    assert problem_id in await ids(world, dept(world), "awaiting_me=true")
    assert problem_id not in await ids(world, street(world), "awaiting_me=true")
    assert problem_id in await ids(world, street(world), "awaiting_me=false")
    assert problem_id not in await ids(world, dept(world), "awaiting_me=false")

    # Assigned to the street: now it is the street's to answer, and no longer the department's.
    accepted = await world.client.post(
        f"/api/v1/problems/{problem_id}/acceptance",
        json={"resolving_unit_id": str(world.org.street), "resolving_unit_name": "金银湖街道"},
        headers={**dept(world), "If-Match": created.headers["ETag"]},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "assigned"
    assert problem_id in await ids(world, street(world), "awaiting_me=true")
    assert problem_id not in await ids(world, dept(world), "awaiting_me=true")
    # Combined with the other filters as any of them.
    assert problem_id in await ids(world, street(world), "awaiting_me=true&state=assigned")
    assert problem_id not in await ids(world, street(world), "awaiting_me=true&state=reported")

    refused = await world.client.get("/api/v1/problems?awaiting_me=perhaps", headers=street(world))
    assert refused.status_code == 422, refused.text
    assert refused.headers["Content-Type"].startswith("application/problem+json")
