"""The demo directory and what a project names from it, over HTTP as 重大项目办 uses the registry: a
line keeps its own name while its leader changes; a project's site (街道, 园区, 地块), its service contact
(对口服务, §三(一)) and its agent (代办员, §四(三)) come from the directory, are shown on the project and
travel in its events; the project's history and the directory's refuse UPDATE and DELETE; and ``lkg
seed`` refuses a catalogue item naming a unit the directory document lacks (issue #11, issue #15 items 4
and 5)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa
import typer

from lkg.approvals import seed as approvals_seed
from lkg.approvals.catalogue.document import HandlingUnitRef, default_catalogue
from lkg.common.runtime import cli
from lkg.common.runtime.service import discover_specs, unnamed_units
from lkg.common.testing.system import System, running_system
from lkg.registry.accounts.seed import seed_demo_accounts
from lkg.registry.app import SPEC
from lkg.registry.demo_directory import person_of
from lkg.registry.org.document import default_document, org_id

_n = itertools.count(1)

AGENT_1 = str(org_id(person_of("post.dept.approval.agent", 1)))
AGENT_2 = str(org_id(person_of("post.dept.approval.agent", 2)))
SERVICE_CONTACT = str(org_id(person_of("post.dept.approval.service_contact", 1)))
STREET_STAFF = str(org_id(person_of("post.street.jinyinhu.staff")))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[System]:
    """The registry alone with the 2020 directory and the demo's synthetic people."""
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}rd{next(_n)}", specs=[SPEC]
    ) as system:
        loaded = await system.client.post(
            "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=system.operator
        )
        assert loaded.status_code == 200, loaded.text
        runtime = system.platform.runtimes["registry"]
        async with runtime.db.transaction() as session:
            await seed_demo_accounts(session, runtime.settings, runtime.clock)
        yield system


def project(name: str, **extra) -> dict:
    return {
        "name": name,
        "enterprise": "【演示】某企业",
        "category": "industrial",
        "project_class": "new_start",
        "responsible_unit_id": str(org_id("office.airport")),
        "total_investment": "150000000.00",
        "plan_year": 2020,
        "planned_annual_investment": "50000000.00",
        **extra,
    }


async def test_a_line_keeps_its_name_and_names_its_leader_apart_after_a_handover(registry: System) -> None:
    c, h = registry.client, registry.operator
    before = (await c.get("/api/v1/org/lines", params={"on": "2020-05-01"}, headers=h)).json()[4]
    assert (before["name"], [x["name"] for x in before["leaders"]]) == ("第五线", ["韩忠翔"])
    handed = await c.post(
        f"/api/v1/org/posts/{org_id('post.line5')}/handovers",
        json={"successor_name": "【演示】第五线继任者", "on": "2020-06-01", "reason": "换届"},
        headers=h,
    )
    assert handed.status_code == 200, handed.text
    may = (await c.get("/api/v1/org/lines", params={"on": "2020-05-31"}, headers=h)).json()[4]
    june = (await c.get("/api/v1/org/lines", params={"on": "2020-06-01"}, headers=h)).json()[4]
    assert (may["name"], [x["name"] for x in may["leaders"]]) == ("第五线", ["韩忠翔"])
    assert (june["name"], [x["name"] for x in june["leaders"]]) == ("第五线", ["【演示】第五线继任者"])


async def test_a_project_names_its_site_service_contact_and_agent_from_the_directory(
    registry: System,
) -> None:
    c, h = registry.client, registry.operator
    site = {"street_id": str(org_id("street.jinyinhu")), "park": "临空产业园（演示）", "plot": "J-12号地块"}
    body = project("【演示】选址与代办项目", site=site, service_contact_id=SERVICE_CONTACT, agent_id=AGENT_1)
    created = await c.post("/api/v1/projects", json=body, headers=h)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    shown = (await c.get(f"/api/v1/projects/{pid}", headers=h)).json()
    assert shown["site"] == {**site, "street_name": "金银湖街"}
    assert shown["service_contact"] == {"id": SERVICE_CONTACT, "name": "【演示】审批服务专员1"}
    assert shown["agent"] == {"id": AGENT_1, "name": "【演示】区行政审批局代办员1"}
    assert created.json()["site"] == shown["site"] and created.json()["agent"] == shown["agent"]
    [registered] = [
        e for e in await registry.published("registry", "project.registered") if str(e.project.id) == pid
    ]
    assert registered.project.site.model_dump(mode="json") == {**site, "street_name": "金银湖街"}
    assert (str(registered.project.service_contact_id), str(registered.project.agent_id)) == (
        SERVICE_CONTACT,
        AGENT_1,
    )

    # The agent passes to the other member of the team; then the project has none (null clears it).
    etag = (await c.get(f"/api/v1/projects/{pid}", headers=h)).headers["ETag"]
    moved = await c.patch(
        f"/api/v1/projects/{pid}", json={"agent_id": AGENT_2}, headers={**h, "If-Match": etag}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["agent"] == {"id": AGENT_2, "name": "【演示】区行政审批局代办员2"}
    cleared = await c.patch(
        f"/api/v1/projects/{pid}", json={"agent_id": None}, headers={**h, "If-Match": moved.headers["ETag"]}
    )
    assert cleared.status_code == 200 and cleared.json()["agent"] is None
    changed = [e for e in await registry.published("registry", "project.changed") if str(e.project.id) == pid]
    assert [(e.changes, e.project.agent_id and str(e.project.agent_id)) for e in changed] == [
        (("agent_id",), AGENT_2),
        (("agent_id",), None),
    ]


@pytest.mark.parametrize(
    ("extra", "status", "code", "loc"),
    [
        # A department is not a street: the site's street comes from the directory's streets.
        ({"site": {"street_id": str(org_id("dept.housing"))}}, 422, "site_not_a_street", "site.street_id"),
        ({"site": {"street_id": str(org_id("street.nowhere"))}}, 404, "site_street_not_found", None),
        # A street's staff member is in the directory but not of the agents' team.
        ({"agent_id": STREET_STAFF}, 422, "agent_not_eligible", "agent_id"),
        ({"service_contact_id": str(org_id("person.nobody"))}, 404, "service_contact_not_found", None),
    ],
)
async def test_a_site_or_person_the_directory_does_not_hold_is_refused_and_nothing_is_registered(
    registry: System, extra: dict, status: int, code: str, loc: str | None
) -> None:
    c, h = registry.client, registry.operator
    name = f"【演示】被拒绝的项目{code}"
    refused = await c.post("/api/v1/projects", json=project(name, **extra), headers=h)
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    if loc is not None:
        assert refused.json()["errors"][0]["loc"] == ["body", *loc.split(".")]
    listed = (await c.get("/api/v1/projects", params={"q": name}, headers=h)).json()["items"]
    assert listed == []


async def test_the_project_history_and_the_directory_history_refuse_update_and_delete(
    registry: System,
) -> None:
    c, h = registry.client, registry.operator
    pid = (await c.post("/api/v1/projects", json=project("【演示】留痕项目"), headers=h)).json()["id"]
    history = (await c.get(f"/api/v1/projects/{pid}/history", headers=h)).json()
    db = registry.platform.runtimes["registry"].db
    for table, statement in (
        ("project_change", "UPDATE project_change SET actor = 'person:nobody' WHERE project_id = :id"),
        ("project_change", "DELETE FROM project_change WHERE project_id = :id"),
        ("org_entry_version", "UPDATE org_entry_version SET reason = '改写' WHERE entry_id = :line"),
        ("org_entry_version", "DELETE FROM org_entry_version WHERE entry_id = :line"),
    ):
        with pytest.raises(sa.exc.DBAPIError, match=f"{table} is append-only"):
            async with db.transaction() as session:
                await session.execute(sa.text(statement), {"id": pid, "line": org_id("line.1")})
    assert (await c.get(f"/api/v1/projects/{pid}/history", headers=h)).json() == history


def test_the_shipped_catalogue_names_only_units_of_the_directory_document() -> None:
    assert unnamed_units(list(discover_specs().values())) == []


async def test_seeding_refuses_a_catalogue_item_naming_a_unit_the_document_lacks(monkeypatch) -> None:
    shipped = default_catalogue()
    wrong = shipped.items[0].model_copy(update={"handling_unit": HandlingUnitRef(name="区不存在局")})
    broken = shipped.model_copy(update={"items": [wrong, *shipped.items[1:]]})
    monkeypatch.setattr(approvals_seed, "default_catalogue", lambda: broken)
    assert unnamed_units(list(discover_specs().values())) == [f"approvals: {wrong.code} names '区不存在局'"]
    # Before any database is touched: the settings given name none.
    with pytest.raises(typer.Exit):
        await cli._seed(list(discover_specs().values()), {})
