"""Walking skeleton: a project registered in the registry reaches every other service's read copy over
NATS, and the shared HTTP conventions hold on the way (tokens, Idempotency-Key, ETag/If-Match)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from lkg.common.auth import Role
from lkg.common.clock import wall_clock_utc
from lkg.common.events.base import Envelope

CONSUMERS = ("approvals", "issues", "scoring", "notifier")

PROJECT = {
    "name": "临空港智能制造产业园项目",
    "enterprise": "武汉某智能装备有限公司",
    "category": "industrial",
    "project_class": "new_start",
    "responsible_unit_id": "00000000-0000-4000-8000-00000000a001",
    "responsible_unit_name": "金银湖街道",
    "approval_type": "filing",
    "total_investment": "150000000.00",
    "plan_year": 2020,
    "planned_annual_investment": "50000000.00",
}


async def test_a_registered_project_reaches_every_service(lkg_system):
    system = lkg_system
    key = str(uuid.uuid4())
    created = await system.client.post(
        "/api/v1/projects",
        json=PROJECT,
        headers=system.auth(Role.MAJOR_PROJECTS_OFFICE, **{"Idempotency-Key": key}),
    )
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["revision"] == 1
    assert project["above_100m"] is True
    assert project["line_id"] is None and project["routing_basis"] == "unrouted"
    assert project["effective_at"] == "2020-05-01T09:00:00+08:00"
    assert created.headers["Location"] == f"/api/v1/projects/{project['id']}"

    # A mobile client retrying the same create gets the same project, not a second one.
    retried = await system.client.post(
        "/api/v1/projects",
        json=PROJECT,
        headers=system.auth(Role.MAJOR_PROJECTS_OFFICE, **{"Idempotency-Key": key}),
    )
    assert retried.status_code == 201
    assert retried.json()["id"] == project["id"]
    assert retried.headers["Idempotent-Replayed"] == "true"

    await system.settle()
    for service in CONSUMERS:
        copy = await system.client.get(
            f"/api/v1/read-copies/{service}/projects/{project['id']}", headers=system.operator
        )
        assert copy.status_code == 200, (service, copy.text)
        assert copy.json()["revision"] == 1
        assert copy.json()["name"] == PROJECT["name"]
        # When the copy was written, on the wall clock (an ops fact; docs/time.md), not the simulated 2020.
        written = datetime.fromisoformat(copy.json()["updated_at"])
        assert abs(written - wall_clock_utc()) < timedelta(minutes=5), copy.json()["updated_at"]

    listed = await system.client.get("/api/v1/projects", headers=system.operator)
    assert [p["id"] for p in listed.json()["items"]] == [project["id"]]


async def test_two_officials_changing_one_project_one_wins_and_copies_follow(lkg_system):
    system = lkg_system
    created = await system.client.post(
        "/api/v1/projects", json={**PROJECT, "name": "临空港冷链物流中心项目"}, headers=system.operator
    )
    project_id, etag = created.json()["id"], created.headers["ETag"]

    first = await system.client.patch(
        f"/api/v1/projects/{project_id}",
        json={"total_investment": "90000000.00"},
        headers={**system.operator, "If-Match": etag},
    )
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == 2
    assert first.json()["above_100m"] is False

    second = await system.client.patch(
        f"/api/v1/projects/{project_id}", json={"name": "改名"}, headers={**system.operator, "If-Match": etag}
    )
    assert second.status_code == 412
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["code"] == "precondition_failed"

    missing = await system.client.patch(
        f"/api/v1/projects/{project_id}", json={"name": "改名"}, headers=system.operator
    )
    assert missing.status_code == 428

    await system.settle()
    for service in CONSUMERS:
        copy = await system.client.get(
            f"/api/v1/read-copies/{service}/projects/{project_id}", headers=system.operator
        )
        assert copy.json()["revision"] == 2, service
        assert copy.json()["name"] == "临空港冷链物流中心项目"


async def test_bad_input_and_missing_tokens_change_nothing(lkg_system):
    system = lkg_system
    before = (await system.client.get("/api/v1/projects?limit=200", headers=system.operator)).json()["items"]

    no_token = await system.client.post("/api/v1/projects", json=PROJECT)
    assert no_token.status_code == 401
    assert no_token.json()["code"] == "unauthenticated"

    wrong_role = await system.client.post(
        "/api/v1/projects", json=PROJECT, headers=system.auth(Role.UNIT_USER)
    )
    assert wrong_role.status_code == 403

    invalid = await system.client.post(
        "/api/v1/projects", json={**PROJECT, "total_investment": "-1"}, headers=system.operator
    )
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "validation_failed"

    after = (await system.client.get("/api/v1/projects?limit=200", headers=system.operator)).json()["items"]
    assert after == before


async def test_the_simulated_clock_moves_forward_only(lkg_system):
    system = lkg_system
    now = (await system.client.get("/api/v1/dev/clock", headers=system.operator)).json()["now"]
    moved = await system.move_clock(working_days=3)
    # 2020-05-01..05 is the Labour Day holiday and Saturday 05-09 a make-up working day: 3 working days
    # after 2020-05-01 is 2020-05-08 (policy-issue day + 3).
    assert now.startswith("2020-05-01")
    assert moved["now"].startswith("2020-05-08T09:00:00")
    back = await system.client.post(
        "/api/v1/dev/clock", json={"set": "2020-05-01T09:00:00+08:00"}, headers=system.operator
    )
    assert back.status_code == 409
    assert back.json()["code"] == "clock_not_forward"
    assert back.json()["detail"] == f"共享时钟只能向前移动，当前为 {moved['now']}"
    both = await system.client.post(
        "/api/v1/dev/clock", json={"advance": "1d", "working_days": 1}, headers=system.operator
    )
    assert (both.status_code, both.json()["errors"][0]["type"]) == (422, "clock_move_one_of")
    assert both.json()["errors"][0]["msg"] == "set、advance、working_days 须且只能给出其中一个（不可为 null）"


async def test_the_correlation_id_follows_a_request_into_its_event(lkg_system):
    system = lkg_system
    created = await system.client.post(
        "/api/v1/projects",
        json={**PROJECT, "name": "关联ID测试项目"},
        headers={**system.operator, "X-Correlation-Id": "walk-1"},
    )
    assert created.headers["X-Correlation-Id"] == "walk-1"
    await system.settle()
    platform = system.platform
    message = await platform.js.get_last_msg(
        platform.names.stream("registry"), platform.names.subject("lkg.registry.project.registered")
    )
    envelope = Envelope.from_bytes(message.data)
    assert envelope.correlation_id == "walk-1"
    assert envelope.event().project.name == "关联ID测试项目"
    assert message.headers["Nats-Msg-Id"] == str(envelope.event_id)

    metrics = (await system.client.get("/metrics")).text
    for series in (
        'lkg_events_published_total{service="registry",type="project.registered"}',
        'lkg_events_consumed_total{service="issues",type="project.registered"}',
        'lkg_outbox_lag_seconds{service="registry"}',
        "lkg_http_request_duration_seconds_bucket",
    ):
        assert series in metrics, series
