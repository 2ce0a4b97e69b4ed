"""The rankings of §三(三) over HTTP: provincial/municipal projects ranked by the units that carry them with
all three measures, investment against the year's plan from monthly reports (a corrected report replaces
the one it supersedes), and 比晒亮, the planned new starts by progress against their baseline. None of
them gives a red card."""

from __future__ import annotations

from datetime import date

import pytest_asyncio
from scoring_world import Org, at, investment, project, publish, scoring_world

from lkg.scoring.app import SPEC as SCORING

PROVINCIAL = {"provincial_municipal": True, "project_class": "continuing"}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def world(db_factory, nats_url, nats_prefix):
    org = Org([("金银湖街", "street"), ("长青街", "street")])
    async with scoring_world(db_factory, nats_url, nats_prefix, [SCORING], org) as system:
        p1 = project(org, "金银湖街", "甲项目", {**PROVINCIAL, "total_investment": "300000000.00"})
        p2 = project(org, "金银湖街", "乙项目", {**PROVINCIAL, "total_investment": "100000000.00"})
        p3 = project(org, "长青街", "丙项目", {**PROVINCIAL, "total_investment": "200000000.00"})
        p4 = project(org, "长青街", "丁项目", 签约=date(2020, 5, 10), 开工=date(2020, 5, 20))
        p5 = project(org, "金银湖街", "戊项目", 签约=date(2020, 6, 30))
        await publish(system, *(p.registered() for p in (p1, p2, p3, p4, p5)))
        await system.move_clock(set=at(date(2020, 5, 6)))
        april = [
            investment(p1, 4, "10000000.00", at(date(2020, 5, 6))),
            investment(p2, 4, "10000000.00", at(date(2020, 5, 6))),
            investment(p3, 4, "20000000.00", at(date(2020, 5, 6))),
        ]
        await publish(system, *april)
        await system.move_clock(set=at(date(2020, 5, 25)))
        p2_may = investment(p2, 5, "5000000.00", at(date(2020, 5, 25)))
        await publish(
            system,
            investment(p1, 5, "20000000.00", at(date(2020, 5, 25))),
            p2_may,
            investment(p3, 5, "10000000.00", at(date(2020, 5, 25))),
            p4.achieved("签约", date(2020, 5, 9), at(date(2020, 5, 25))),
        )
        await system.move_clock(set=at(date(2020, 5, 26)))
        # 乙项目 corrects its May figure: 15 million, not 5.
        await publish(
            system, investment(p2, 5, "15000000.00", at(date(2020, 5, 26)), supersedes=p2_may.report_id)
        )
        system.org = org  # type: ignore[attr-defined]
        yield system


async def test_provincial_projects_rank_the_units_with_all_three_measures(world):
    got = await world.client.get(
        "/api/v1/rankings/provincial-projects", params={"year": 2020, "month": 5}, headers=world.operator
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["total_projects"], body["order_by"], body["as_of"]) == (
        3,
        "month_on_month",
        "2020-05-26T10:00:00+08:00",
    )
    assert [
        (
            u["rank"],
            u["label"],
            u["count_share"],
            u["investment_share"],
            u["month_amount"],
            u["month_on_month"],
        )
        for u in body["units"]
    ] == [
        (1, "金银湖街", "66.67", "66.67", "35000000.00", "75.00"),
        (2, "长青街", "33.33", "33.33", "10000000.00", "-50.00"),
    ]
    assert [(p["name"], p["month_amount"], p["previous_amount"]) for p in body["units"][0]["projects"]] == [
        ("乙项目", "15000000.00", "10000000.00"),
        ("甲项目", "20000000.00", "10000000.00"),
    ]
    by_share = await world.client.get(
        "/api/v1/rankings/provincial-projects",
        params={"year": 2020, "month": 5, "order_by": "investment_share"},
        headers=world.operator,
    )
    assert [u["label"] for u in by_share.json()["units"]] == ["金银湖街", "长青街"]


async def test_investment_against_the_years_plan(world):
    by_unit = (
        await world.client.get("/api/v1/rankings/investment", params={"year": 2020}, headers=world.operator)
    ).json()
    assert [
        (r["label"], r["plan"], r["months"], r["year_to_date"], r["completion"]) for r in by_unit["rows"]
    ] == [
        ("金银湖街", "150000000.00", {"4": "20000000.00", "5": "35000000.00"}, "55000000.00", "36.67"),
        ("长青街", "100000000.00", {"4": "20000000.00", "5": "10000000.00"}, "30000000.00", "30.00"),
    ]
    by_class = (
        await world.client.get(
            "/api/v1/rankings/investment", params={"year": 2020, "by": "class"}, headers=world.operator
        )
    ).json()
    assert [(r["label"], r["year_to_date"]) for r in by_class["rows"]] == [
        ("结转续建", "85000000.00"),
        ("计划新开工", "0"),
    ]


async def test_new_starts_ranked_by_progress_against_their_baseline(world):
    live = (await world.client.get("/api/v1/rankings/new-starts", headers=world.operator)).json()
    assert [
        (n["rank"], n["name"], n["milestones"], n["reached"], n["overdue"], n["progress"])
        for n in live["items"]
    ] == [
        (1, "丁项目", 2, 1, 1, "50.00"),
        (2, "戊项目", 1, 0, 0, "0"),
    ]
    assert live["items"][0]["evidence"] == [
        "签约：基线2020-05-10，2020-05-09完成",
        "开工：基线2020-05-20，逾期未完成",
    ]
    april = (
        await world.client.get(
            "/api/v1/rankings/new-starts", params={"year": 2020, "month": 4}, headers=world.operator
        )
    ).json()
    assert [(n["name"], n["reached"], n["overdue"]) for n in april["items"]] == [
        ("丁项目", 0, 0),
        ("戊项目", 0, 0),
    ]
