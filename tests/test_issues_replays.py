"""A stale or repeated project snapshot moves no open matter (issue 11 item 9, over HTTP): a project moved to
another line takes its open problem along once; republishing its older ``project.registered`` (revision 1),
then its ``project.changed`` (revision 2) again, each under a new event id, leaves the problem, its audit
trail and the read copy as they were."""

from __future__ import annotations

import uuid

import pytest_asyncio
from issues_world import D0, START, get, issues_world, publish, street

from lkg.common.events import contracts as c


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


async def test_a_stale_or_repeated_snapshot_moves_no_open_problem(world):
    line_b, leader_b, dept_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await publish(
        world,
        c.OrgChanged(
            aggregate_id=uuid.UUID(int=1),
            revision=2,
            effective_at=START,
            units=(c.UnitSnapshot(id=dept_b, revision=1, valid_from=D0, name="区住建局", kind="department"),),
            posts=(
                c.PostSnapshot(
                    id=leader_b,
                    revision=1,
                    valid_from=D0,
                    title="副区长",
                    unit_id=world.org.leadership,
                    kind="line_leader",
                ),
            ),
            lines=(
                c.LineSnapshot(
                    id=line_b,
                    revision=1,
                    valid_from=D0,
                    number=3,
                    name="第三线",
                    leader_post_id=leader_b,
                    service_unit_id=dept_b,
                ),
            ),
        ),
    )
    created = await world.client.post(
        "/api/v1/problems",
        json={
            "project_id": str(world.project.id),
            "title": "用地指标未落实",
            "topic": "土地",
            "description": "项目二期用地指标尚未落实，影响开工。",
        },
        headers=street(world),
    )
    assert created.status_code == 201, created.text
    problem_id = created.json()["id"]
    registered = c.ProjectRegistered(aggregate_id=world.project.id, revision=1, project=world.project)
    moved = world.project.model_copy(
        update={"line_id": line_b, "routing_reason": "金银湖街 → 第三线（调整）"}
    )
    changed = c.ProjectChanged(aggregate_id=moved.id, revision=2, project=moved, changes=("line_id",))

    await publish(world, changed)
    on_b = await get(world, problem_id)
    assert (on_b["line_id"], on_b["revision"]) == (str(line_b), 2)
    trail = await world.client.get(f"/api/v1/problems/{problem_id}/audit", headers=world.operator)
    assert [e["action"] for e in trail.json()["items"]] == ["reported", "rerouted"]
    (told,) = await world.published("issues", "problem.rerouted")
    assert (told.matter_id, told.line_id, told.from_line_id, told.project_revision, told.layer) == (
        uuid.UUID(problem_id),
        line_b,
        world.org.line,
        2,
        1,
    )
    assert (told.holder_post_ids, told.holder_unit_ids) == ((), (world.org.street,))

    await publish(world, registered)  # revision 1 again, under a new event id
    await publish(world, changed)  # revision 2 again, under a new event id
    assert await get(world, problem_id) == on_b
    again = await world.client.get(f"/api/v1/problems/{problem_id}/audit", headers=world.operator)
    assert again.json() == trail.json()
    assert len(await world.published("issues", "problem.rerouted")) == 1
    copy = await world.client.get(
        f"/api/v1/read-copies/issues/projects/{world.project.id}", headers=world.operator
    )
    assert (copy.json()["revision"], copy.json()["line_id"]) == (2, str(line_b))
