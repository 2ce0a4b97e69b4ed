"""The issues API's edges the fuzzer found: a project it does not know, and query parameters it does not
declare (issues service alone, real PostgreSQL + NATS)."""

from __future__ import annotations

import uuid

import pytest_asyncio

from lkg.common.auth import Role
from lkg.common.testing.system import running_system
from lkg.issues.app import SPEC as ISSUES


@pytest_asyncio.fixture(loop_scope="session")
async def system(db_factory, nats_url, nats_prefix):
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}iedge", specs=[ISSUES]
    ) as running:
        yield running


async def test_a_problem_about_an_unknown_project_is_404_unknown_project(system):
    body = {"project_id": str(uuid.uuid4()), "title": "用地", "topic": "土地", "description": "征地未完成"}
    r = await system.client.post("/api/v1/problems", json=body, headers=system.auth(Role.ADMIN))
    assert r.status_code == 404
    assert r.json()["code"] == "unknown_project"
    assert (await system.client.get("/api/v1/problems", headers=system.operator)).json()["items"] == []


async def test_a_meeting_matter_about_an_unknown_project_is_404_unknown_project(system):
    body = {
        "title": "供水",
        "topic": "水电",
        "description": "接入",
        "meeting_title": "专题会",
        "meeting_date": "2020-05-01",
        "deciding_layer": 2,
        "resolving_unit_id": str(uuid.uuid4()),
        "resolving_unit_name": "区水务局",
        "deadline_on": "2020-05-20",
        "project_id": str(uuid.uuid4()),
    }
    r = await system.client.post("/api/v1/meeting-matters", json=body, headers=system.auth(Role.ADMIN))
    assert r.status_code == 404
    assert r.json()["code"] == "unknown_project"


async def test_an_undeclared_query_parameter_is_refused_a_declared_one_is_not(system):
    headers = system.auth(Role.ADMIN)
    misspelt = await system.client.get("/api/v1/red-cards", params={"stat": "issued"}, headers=headers)
    assert misspelt.status_code == 422
    assert misspelt.headers["content-type"].startswith("application/problem+json")
    assert misspelt.json()["code"] == "unknown_query_parameter"
    assert [e["loc"] for e in misspelt.json()["errors"]] == [["query", "stat"]]
    ok = await system.client.get("/api/v1/red-cards", params={"state": "issued"}, headers=headers)
    assert ok.status_code == 200
    assert ok.json() == {"items": [], "next_cursor": None}
    ledger = await system.client.get("/api/v1/problems/ledger.xlsx", params={"lineid": "x"}, headers=headers)
    assert ledger.status_code == 422
    page = await system.client.get("/api/v1/problems", params={"limit": 5, "layer": 1}, headers=headers)
    assert page.status_code == 200
