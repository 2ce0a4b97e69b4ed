"""A change body refuses an explicit null for a field that may be omitted but not cleared (issue #11 item
14): the registry's flags and project changes answered 500 (a NOT NULL violation, a ``TypeError``
iterating ``None``) when fuzzing sent ``{"fast_track": null, ...}`` with a real project id. Now a 422
``null_not_allowed`` at the field, nothing changed; a field that may be cleared still takes null. And
identifiers are ASCII (item 10): a project code in full-width digits is refused."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from lkg.common.testing.system import System, running_system
from lkg.registry.app import SPEC
from lkg.registry.org.document import default_document, org_id

_n = itertools.count(1)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}cb{next(_n)}", specs=[SPEC]
    ) as system:
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        yield system


async def _project(system: System) -> dict[str, Any]:
    created = await system.client.post(
        "/api/v1/projects",
        json={
            "name": f"【演示】标记项目{next(_n)}",
            "enterprise": "【演示】某企业",
            "category": "industrial",
            "project_class": "new_start",
            "responsible_unit_id": str(org_id("street.jinyinhu")),
            "total_investment": "150000000.00",
            "plan_year": 2020,
            "planned_annual_investment": "50000000.00",
            "enterprise_credit_code": "91420112MA4KXXXX0X",
        },
        headers=system.operator,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _refused(system: System, method: str, path: str, body: dict[str, Any], field: str) -> None:
    before = await system.client.get(path.rsplit("/flags", 1)[0], headers=system.operator)
    refused = await system.client.request(
        method, path, json=body, headers={**system.operator, "If-Match": before.headers["ETag"]}
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "validation_failed"), refused.text
    errors = [(e["loc"], e["type"]) for e in refused.json()["errors"]]
    assert errors == [(["body", field], "null_not_allowed")]
    after = await system.client.get(path.rsplit("/flags", 1)[0], headers=system.operator)
    assert (after.headers["ETag"], after.json()) == (before.headers["ETag"], before.json())


@pytest.mark.parametrize("field", ["fast_track", "provincial_municipal", "integrity_flags"])
async def test_a_null_flag_is_refused_and_changes_nothing(registry: System, field: str) -> None:
    project = await _project(registry)
    body = {"fast_track": True, "provincial_municipal": False, "integrity_flags": [], "reason": "0"}
    body[field] = None
    await _refused(registry, "POST", f"/api/v1/projects/{project['id']}/flags", body, field)


@pytest.mark.parametrize("field", ["name", "enterprise", "category", "project_class", "total_investment"])
async def test_a_null_for_a_fact_that_cannot_be_empty_is_refused(registry: System, field: str) -> None:
    project = await _project(registry)
    await _refused(registry, "PATCH", f"/api/v1/projects/{project['id']}", {field: None}, field)


async def test_a_null_clears_what_may_be_empty(registry: System) -> None:
    project = await _project(registry)
    path = f"/api/v1/projects/{project['id']}"
    etag = (await registry.client.get(path, headers=registry.operator)).headers["ETag"]
    cleared = await registry.client.patch(
        path,
        json={"enterprise_credit_code": None, "reason": None},
        headers={**registry.operator, "If-Match": etag},
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["enterprise_credit_code"] is None


async def test_the_document_says_which_fields_take_null(registry: System) -> None:
    schemas = (await registry.client.get("/openapi.json")).json()["components"]["schemas"]
    flags, update = schemas["FlagsUpdate"]["properties"], schemas["ProjectUpdate"]["properties"]
    assert flags["fast_track"] == {"type": "boolean", "title": "Fast Track"}
    assert "anyOf" not in flags["integrity_flags"] and "default" not in flags["integrity_flags"]
    assert {"type": "null"} in update["enterprise_credit_code"]["anyOf"]
    assert "anyOf" not in update["name"]


@pytest.mark.parametrize(
    "code",
    [
        "２０１９-420112-47-03-012345",  # full-width digits (issue #11 item 10)
        "2019-420112-47-03-٠١٢٣٤٥",  # Arabic-Indic digits
        "21074201120401123456７８AX",
        "21074201120401123456ＡＢAX",  # full-width letters
    ],
)
async def test_a_project_code_is_ascii(registry: System, code: str) -> None:
    """Identifiers are ASCII: ``\\d`` matched any Unicode digit, so a full-width code was stored beside its
    ASCII twin and slipped past the uniqueness of the code."""
    project = await _project(registry)
    path = f"/api/v1/projects/{project['id']}"
    etag = (await registry.client.get(path, headers=registry.operator)).headers["ETag"]
    refused = await registry.client.patch(
        path, json={"project_code": code}, headers={**registry.operator, "If-Match": etag}
    )
    assert refused.status_code == 422, refused.text
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "project_code"]]
    from lkg.registry.projects.projectcode import check_project_code

    assert check_project_code(code).errors  # the plan import's check refuses it too
