"""Rules as data over HTTP (versions with effective dates, edited only by 考评办 and 重大项目办) and the live
standings of the running month, on a scoring service running alone."""

from __future__ import annotations

import uuid
from datetime import date

import pytest_asyncio
from scoring_world import Org, at, project, publish, scoring_world

from lkg.common.auth import Role
from lkg.scoring.app import SPEC
from lkg.scoring.rules import current_rules


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def world(db_factory, nats_url, nats_prefix):
    org = Org([("金银湖街", "street"), ("长青街", "street")])
    async with scoring_world(db_factory, nats_url, nats_prefix, [SPEC], org) as system:
        system.org = org  # type: ignore[attr-defined]
        yield system


def _body(**host_unit) -> dict:
    body = current_rules()["body"]
    body["host_unit"] = {**body["host_unit"], **host_unit}
    return body


async def test_the_2020_rules_ship_as_versions_1_and_2(world):
    listed = (await world.client.get("/api/v1/evaluations/rules", headers=world.operator)).json()["items"]
    assert [(r["version"], r["label"], r["effective_from"], r["created_by"]) for r in listed] == [
        (1, "2020-1", "2020-05-01", "system"),
        (2, "2020-2", "2020-05-01", "system"),
    ]
    first, second = (r["body"] for r in listed)
    assert first["host_unit"]["breach_penalty"] == second["host_unit"]["breach_penalty"] == "25"
    assert first["consequences"] == {"bottom": 3, "cards_need_fail_grade": True}
    # Version 1 has no supervision card measure (it counts for nothing there: its periods stay as they
    # were); version 2 adds it to both monthly sheets, and is otherwise version 1.
    assert (
        first["responsible_unit"]["supervision_card_penalty"],
        first["host_unit"]["supervision_card_penalty"],
    ) == (
        "0",
        "0",
    )
    assert (
        second["responsible_unit"]["supervision_card_penalty"],
        second["host_unit"]["supervision_card_penalty"],
    ) == ("25", "25")
    for part in ("responsible_unit", "host_unit"):
        first[part].pop("supervision_card_penalty")
        second[part].pop("supervision_card_penalty")
    assert first == second


async def test_only_the_assessment_office_and_the_office_add_a_version(world):
    new = {
        "label": "2020-3",
        "effective_from": "2020-07-01",
        "body": _body(breach_penalty=30),
        "reason": "加大超时扣分",
    }
    unit = world.auth(Role.UNIT_USER, person=str(uuid.uuid4()))
    refused = await world.client.post("/api/v1/evaluations/rules", json=new, headers=unit)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    office = world.auth(Role.ASSESSMENT_OFFICE, person=str(uuid.uuid4()))
    added = await world.client.post("/api/v1/evaluations/rules", json=new, headers=office)
    assert added.status_code == 201, added.text
    assert (added.json()["version"], added.json()["body"]["host_unit"]["breach_penalty"]) == (3, "30")
    again = await world.client.post("/api/v1/evaluations/rules", json=new, headers=world.operator)
    assert (again.status_code, again.json()["code"]) == (409, "rule_label_taken")
    bad = await world.client.post(
        "/api/v1/evaluations/rules",
        json={**new, "label": "2020-4", "body": _body(excellent_at=90, pass_at=100)},
        headers=world.operator,
    )
    assert (bad.status_code, bad.json()["code"]) == (409, "rule_thresholds_inverted")
    got = await world.client.get("/api/v1/evaluations/rules/3", headers=unit)
    assert got.json()["reason"] == "加大超时扣分"
    assert (await world.client.get("/api/v1/evaluations/rules/9", headers=unit)).json()["code"] == (
        "rule_version_not_found"
    )


async def test_live_standings_show_the_running_month_as_if_it_closed_now(world):
    org = world.org
    a = project(org, "金银湖街", "甲项目", 签约=date(2020, 5, 6))
    b = project(org, "长青街", "乙项目", 签约=date(2020, 5, 8))
    await publish(world, a.registered(), b.registered())
    await world.move_clock(set=at(date(2020, 5, 11)))
    await publish(world, a.achieved("签约", date(2020, 5, 6), at(date(2020, 5, 11))))
    live = (await world.client.get("/api/v1/evaluations/live", headers=world.operator)).json()
    assert (live["label"], live["as_of"], live["rule_label"]) == (
        "2020年5月",
        "2020-05-11T10:00:00+08:00",
        "2020-2",
    )
    assert [(r["rank"], r["label"], r["score"], r["grade"]) for r in live["ranking"]] == [
        (1, "金银湖街", "100.00", "pass"),
        (2, "长青街", "0.00", "fail"),
    ]
    # A unit sees its own sheet and where everyone stands, not the others' evidence.
    street = world.auth(Role.UNIT_USER, person=str(org["金银湖街"].staff))
    own = (await world.client.get("/api/v1/evaluations/live", headers=street)).json()
    assert [s["subject_label"] for s in own["sheets"]] == ["金银湖街"]
    assert [(r["label"], r["evidence"] is None) for r in own["ranking"]] == [
        ("金银湖街", False),
        ("长青街", True),
    ]
