"""The approvals API admits what its OpenAPI document admits and nothing else (the fuzz findings of
tests/test_fuzz_openapi.py, pinned): JSON integers such as ``20.0`` for day counts, days only as
``YYYY-MM-DD`` from 2000 to 2100, no unknown query parameters, and 409 (not 422) for prerequisites the
catalogue cannot take."""

from __future__ import annotations

import itertools

import pytest_asyncio

from lkg.approvals.app import SPEC as APPROVALS
from lkg.common.auth import Role
from lkg.common.testing.system import running_system

_systems = itertools.count(1)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ENTRY = {
    "name": "测试事项",
    "handling_unit_name": "区行政审批局",
    "limit_unit": "working",
    "source": "测试假设",
    "applies_to": ["filing"],
}


@pytest_asyncio.fixture(loop_scope="session")
async def system(db_factory, nats_url, nats_prefix):
    async with running_system(
        db_factory=db_factory,
        nats_url=nats_url,
        prefix=f"{nats_prefix}ape{next(_systems)}",
        specs=[APPROVALS],
    ) as running:
        yield running


def bureau(system) -> dict[str, str]:
    return system.auth(Role.APPROVAL_BUREAU, person="bureau")


async def test_day_counts_are_json_integers_and_20_0_is_one(system):
    created = await system.client.post(
        "/api/v1/approval-catalogue",
        json={**ENTRY, "code": "edge_float", "limit_days": 20.0, "verification_days": 5.0},
        headers=bureau(system),
    )
    assert created.status_code == 201, created.text
    assert (created.json()["limit_days"], created.json()["verification_days"]) == (20, 5)

    for wrong in ("20", True, 20.5):
        refused = await system.client.patch(
            f"/api/v1/approval-catalogue/{created.json()['id']}",
            json={"limit_days": wrong},
            headers={**bureau(system), "If-Match": created.headers["ETag"]},
        )
        assert refused.status_code == 422, (wrong, refused.text)
        assert refused.json()["errors"][0]["loc"] == ["body", "limit_days"]


async def test_prerequisites_the_catalogue_cannot_take_are_conflicts(system):
    itself = await system.client.post(
        "/api/v1/approval-catalogue",
        json={**ENTRY, "code": "edge_self", "limit_days": 3, "prerequisites": {"filing": ["edge_self"]}},
        headers=bureau(system),
    )
    assert (itself.status_code, itself.json()["code"]) == (409, "prerequisite_cycle")

    unknown = await system.client.post(
        "/api/v1/approval-catalogue",
        json={**ENTRY, "code": "edge_unknown", "limit_days": 3, "prerequisites": {"filing": ["no_such"]}},
        headers=bureau(system),
    )
    assert (unknown.status_code, unknown.json()["code"]) == (409, "unknown_prerequisite")
    assert unknown.json()["unknown"] == ["no_such"]


async def test_week_of_is_a_day_between_2000_and_2100(system):
    for wrong in ("0", "1979-12-31", "1999-12-31", "2101-01-01", "2021-02-29", "2020-5-8"):
        for path in ("weekly", "weekly.xlsx"):
            refused = await system.client.get(
                f"/api/v1/approval-reports/{path}", params={"week_of": wrong}, headers=bureau(system)
            )
            assert refused.status_code == 422, (wrong, path, refused.text)
            assert refused.json()["errors"][0]["type"] == "day_invalid"

    oldest = await system.client.get(
        "/api/v1/approval-reports/weekly.xlsx", params={"week_of": "2000-01-03"}, headers=bureau(system)
    )
    assert oldest.status_code == 200, oldest.text
    assert oldest.headers["content-type"] == XLSX
    # The last admitted week is still to come on the simulated clock (2020): not yet, and not a 500.
    latest = await system.client.get(
        "/api/v1/approval-reports/weekly.xlsx", params={"week_of": "2100-12-31"}, headers=bureau(system)
    )
    assert (latest.status_code, latest.json()["code"]) == (409, "report_not_ready")


async def test_unknown_query_parameters_are_refused(system):
    for query in ("=false", "projectid=00000000-0000-4000-8000-000000000001"):
        refused = await system.client.get(f"/api/v1/approval-plans?{query}", headers=bureau(system))
        assert (refused.status_code, refused.json()["code"]) == (422, "unknown_query_parameter"), query
    listed = await system.client.get("/api/v1/approval-plans?limit=5", headers=bureau(system))
    assert listed.status_code == 200, listed.text


async def test_a_planned_start_override_is_a_day_too(system):
    # Body validation comes before the plan is looked up: a timestamp is refused whatever the plan.
    refused = await system.client.patch(
        "/api/v1/approval-plans/00000000-0000-4000-8000-000000000001",
        json={"planned_start_override": 0},
        headers={**bureau(system), "If-Match": '"x"'},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "planned_start_override"]
