"""Who may see what, decided before anything else (issue 9 item 2, issue 11 item 4): a caller who may not
see a project gets the same 404 ``unknown_project`` for it as for a random id, so nothing tells that
another unit's project exists; one who sees it but may not act gets 403; nothing is stored either way."""

from __future__ import annotations

import uuid

import pytest_asyncio
from issues_world import dept, issues_world

from lkg.common.auth import Role


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


def problem(project_id: object) -> dict[str, str]:
    return {"project_id": str(project_id), "title": "用地", "topic": "土地", "description": "征地未完成"}


def meeting_matter(project_id: object) -> dict[str, object]:
    return {
        "title": "供水",
        "topic": "水电",
        "description": "接入",
        "meeting_title": "专题会",
        "meeting_date": "2020-05-01",
        "deciding_layer": 2,
        "resolving_unit_id": str(uuid.uuid4()),
        "resolving_unit_name": "区水务局",
        "deadline_on": "2020-05-20",
        "project_id": str(project_id),
    }


def unique_to_request(problem: dict[str, object]) -> dict[str, object]:
    """A problem+json body without what differs per request (its instance and correlation id)."""
    return {k: v for k, v in problem.items() if k not in ("instance", "correlation_id")}


async def test_another_units_project_answers_as_a_random_id_does(world):
    other_unit = world.auth(Role.UNIT_USER, person=str(uuid.uuid4()))  # holds no post of this project
    other_line = world.auth(Role.SERVICE_DEPARTMENT, person=str(uuid.uuid4()))
    for path, body, headers in [
        ("/api/v1/problems", problem, other_unit),
        ("/api/v1/meeting-matters", meeting_matter, other_line),
    ]:
        theirs = await world.client.post(path, json=body(world.project.id), headers=headers)
        random = await world.client.post(path, json=body(uuid.uuid4()), headers=headers)
        assert (theirs.status_code, random.status_code) == (404, 404), path
        assert unique_to_request(theirs.json()) == unique_to_request(random.json())
        assert theirs.json()["code"] == "unknown_project"
    listed = await world.client.get("/api/v1/problems", headers=world.operator)
    assert listed.json()["items"] == []


async def test_who_sees_the_project_but_may_not_report_gets_403(world):
    # The line's service department sees the project (its line) but reports no problem for it.
    seen = await world.client.post("/api/v1/problems", json=problem(world.project.id), headers=dept(world))
    assert (seen.status_code, seen.json()["code"]) == (403, "forbidden")
    listed = await world.client.get("/api/v1/problems", headers=world.operator)
    assert listed.json()["items"] == []
