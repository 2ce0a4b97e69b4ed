"""The monthly assessment over HTTP with the shared clock moved through May 2020 (policy §六): the period
closes after its last working day and the grace with a proposal whose figures all show their evidence;
重大项目办 settles the tie across third place and confirms; the bottom 3 get exactly one red card each in
the issues register even when the request is delivered twice; a fact recorded after the freeze gives a
numbered correction next to the published figure, and the card change it makes is put to 重大项目办.

The org directory, projects and facts arrive as the registry and approvals services would send them,
staged into the bus from the test (``scoring_world``).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest_asyncio
from scoring_world import Org, at, problem_breached, project, publish, scoring_world

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.issues.app import SPEC as ISSUES
from lkg.scoring.app import SPEC as SCORING
from lkg.scoring.periods import period_id

MAY = period_id("month", date(2020, 5, 1))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def month(db_factory, nats_url, nats_prefix):
    org = Org(
        [
            ("金银湖街", "street"),
            ("长青街", "street"),
            ("慈惠街", "street"),
            ("临空产业办", "industry_office"),
            ("区行政审批局", "department"),
            ("区自然资源局", "department"),
        ]
    )
    async with scoring_world(db_factory, nats_url, nats_prefix, [ISSUES, SCORING], org) as system:
        a = project(org, "金银湖街", "甲项目", 签约=date(2020, 5, 20))
        b = project(org, "长青街", "乙项目", 开工=date(2020, 5, 15))
        cc = project(org, "慈惠街", "丙项目", 进资=date(2020, 5, 25))
        d = project(org, "临空产业办", "丁项目", 签约=date(2020, 5, 10), 开工=date(2020, 6, 20))
        await publish(system, a.registered(), b.registered(), cc.registered(), d.registered())
        await system.move_clock(set=at(date(2020, 5, 10), 12))
        await publish(system, d.achieved("签约", date(2020, 5, 10), at(date(2020, 5, 10), 12)))
        await system.move_clock(set=at(date(2020, 5, 14)))
        # The day before its deadline, 乙项目 re-plans 开工 to 6-15: the baseline stays 5-15.
        await publish(system, b.replanned(at(date(2020, 5, 14)), "开工", date(2020, 6, 15)))
        await system.move_clock(set=at(date(2020, 5, 21), 12))
        await publish(
            system,
            a.achieved("签约", date(2020, 5, 18), at(date(2020, 5, 18))),
            *problem_breached(
                org, "区行政审批局", a, "施工许可未办结", at(date(2020, 5, 15)), at(date(2020, 5, 21), 0)
            ),
            *problem_breached(
                org, "区自然资源局", b, "用地预审未办结", at(date(2020, 5, 15)), at(date(2020, 5, 21), 0)
            ),
        )
        await system.move_clock(set=at(date(2020, 5, 29), 16))
        await publish(
            system,
            cc.achieved("进资", date(2020, 5, 28), at(date(2020, 5, 28))),
            d.achieved("开工", date(2020, 5, 29), at(date(2020, 5, 29), 16)),
        )
        system.org = org  # type: ignore[attr-defined]
        system.projects = {"a": a, "b": b, "c": cc, "d": d}  # type: ignore[attr-defined]
        yield system


def _sheets(period: dict) -> dict[tuple[str, str], tuple[str, str, str]]:
    return {
        (s["subject_kind"], s["subject_label"]): (s["score"], s["proposed_grade"], s["grade"])
        for s in period["sheets"]
    }


async def _period(system, headers=None) -> dict:
    got = await system.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=headers or system.operator)
    assert got.status_code == 200, got.text
    return got.json()


async def test_may_closes_after_its_last_working_day_and_the_grace(month):
    # 2020-05-29 (Fri) is May's last working day; 2 working days of grace end on Tuesday 2 June.
    await month.move_clock(set=datetime(2020, 6, 2, 23, 0, tzinfo=TZ))
    listed = await month.client.get("/api/v1/evaluations/periods", headers=month.operator)
    assert listed.json()["items"] == []
    await month.move_clock(set=datetime(2020, 6, 3, 9, 0, tzinfo=TZ))
    listed = await month.client.get("/api/v1/evaluations/periods", headers=month.operator)
    assert [(p["label"], p["state"], p["closes_at"]) for p in listed.json()["items"]] == [
        ("2020年5月", "proposed", "2020-06-03T00:00:00+08:00")
    ]


async def test_the_proposal_grades_every_unit_with_its_evidence(month):
    period = await _period(month)
    assert _sheets(period) == {
        ("host_unit", "区自然资源局"): ("75.00", "fail", "fail"),
        ("host_unit", "区行政审批局"): ("75.00", "fail", "fail"),
        ("responsible_unit", "临空产业办"): ("110.00", "excellent", "excellent"),
        ("responsible_unit", "慈惠街"): ("0.00", "fail", "fail"),
        ("responsible_unit", "金银湖街"): ("100.00", "pass", "pass"),
        # re-planned the day before its baseline date: still a miss
        ("responsible_unit", "长青街"): ("0.00", "fail", "fail"),
    }
    by_label = {s["subject_label"]: s for s in period["sheets"]}
    assert [(e["counts"], e["note"]) for e in by_label["长青街"]["evidence"]] == [
        ("missed", "开工：基线2020-05-15，至2020-06-03未完成")
    ]
    assert [(e["counts"], e["note"]) for e in by_label["临空产业办"]["evidence"]] == [
        ("on_time", "签约：基线2020-05-10，2020-05-10完成，按期"),
        ("ahead", "开工：基线2020-06-20，2020-05-29提前完成"),
    ]
    assert all(e["event_id"] for s in period["sheets"] for e in s["evidence"])
    assert [(r["rank"], r["label"], r["grade"]) for r in period["ranking"]] == [
        (1, "临空产业办", "excellent"),
        (2, "金银湖街", "pass"),
        (3, "区自然资源局", "fail"),
        (3, "区行政审批局", "fail"),
        (5, "慈惠街", "fail"),
        (5, "长青街", "fail"),
    ]
    org = month.org
    # Two units share third from the bottom with one place left: 重大项目办 decides, not the sort order.
    assert period["tie"] == {
        "candidates": sorted([str(org["区行政审批局"].id), str(org["区自然资源局"].id)]),
        "places": 1,
        "decided": False,
        "decision": None,
    }
    assert sorted(period["carded"]) == sorted([str(org["慈惠街"].id), str(org["长青街"].id)])


async def test_a_unit_sees_its_own_proposal_only_and_may_not_confirm(month):
    street = month.auth(Role.UNIT_USER, person=str(month.org["金银湖街"].staff))
    own = await _period(month, street)
    assert [s["subject_label"] for s in own["sheets"]] == ["金银湖街"]
    assert own["ranking"] == [] and own["tie"] is None
    refused = await month.client.post(
        f"/api/v1/evaluations/periods/{MAY}/confirmation",
        json={},
        headers={**street, "If-Match": "*"},
    )
    assert refused.status_code == 403
    stranger = month.auth(Role.UNIT_USER, person="00000000-0000-0000-0000-000000000009")
    hidden = await month.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=stranger)
    assert hidden.status_code == 404


async def test_confirming_needs_the_tie_decided_then_publishes_and_cards_the_bottom_3(month):
    org = month.org
    got = await month.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=month.operator)
    etag = got.headers["ETag"]
    undecided = await month.client.post(
        f"/api/v1/evaluations/periods/{MAY}/confirmation",
        json={},
        headers={**month.operator, "If-Match": etag},
    )
    # About the period (its proposal holds a tie), not the body's shape: 409, with a stable code.
    assert (undecided.status_code, undecided.json()["code"]) == (409, "tie_decision_required")
    for body, expected in (
        ({"tie_carded": [str(org["区行政审批局"].id)]}, (422, "tie_reason_required")),
        ({"tie_carded": [str(org["慈惠街"].id)], "tie_reason": "情节较重"}, (409, "invalid_tie_decision")),
        (
            {
                "tie_carded": [str(org["区行政审批局"].id)],
                "tie_reason": "情节较重",
                "grade_changes": [
                    {
                        "subject_kind": "line_leader",
                        "subject_id": str(org["金银湖街"].id),
                        "grade": "pass",
                        "reason": "月度不评包保领导",
                    }
                ],
            },
            (409, "subject_not_graded"),
        ),
    ):
        refused = await month.client.post(
            f"/api/v1/evaluations/periods/{MAY}/confirmation",
            json=body,
            headers={**month.operator, "If-Match": etag},
        )
        assert (refused.status_code, refused.json()["code"]) == expected, refused.text
    assert (await _period(month))["state"] == "proposed"

    confirmed = await month.client.post(
        f"/api/v1/evaluations/periods/{MAY}/confirmation",
        json={
            "tie_carded": [str(org["区行政审批局"].id)],
            "tie_reason": "施工许可超时影响开工，情节较重",
            "grade_changes": [
                {
                    "subject_kind": "responsible_unit",
                    "subject_id": str(org["金银湖街"].id),
                    "grade": "excellent",
                    "reason": "提前完成签约并协调解决用地问题",
                }
            ],
        },
        headers={**month.operator, "If-Match": etag},
    )
    assert confirmed.status_code == 200, confirmed.text
    period = confirmed.json()
    assert period["state"] == "published"
    assert _sheets(period)[("responsible_unit", "金银湖街")] == ("100.00", "pass", "excellent")
    carded = {str(org[n].id) for n in ("区行政审批局", "慈惠街", "长青街")}
    assert set(period["carded"]) == carded

    evaluations = await month.published("scoring", "evaluation.published")
    assert sorted((e.subject_label, e.grade.value, str(e.score)) for e in evaluations) == [
        ("临空产业办", "excellent", "110.00"),
        ("区自然资源局", "fail", "75.00"),
        ("区行政审批局", "fail", "75.00"),
        ("慈惠街", "fail", "0.00"),
        ("金银湖街", "excellent", "100.00"),
        ("长青街", "fail", "0.00"),
    ]
    # The ranking tells the places; each unit's evidence is in its own evaluation (one message each), not
    # repeated in the ranking, whose one message must stay within what NATS carries however many projects.
    [ranking] = await month.published("scoring", "ranking.published")
    assert [(e.rank, e.subject_label) for e in ranking.entries][:2] == [(1, "临空产业办"), (2, "金银湖街")]
    assert all(e.evidence == () for e in ranking.entries)
    assert all(e.evidence for e in evaluations)
    requests = await month.published("scoring", "red_card.requested")
    assert sorted(r.target.unit_name for r in requests) == ["区行政审批局", "慈惠街", "长青街"]

    # Delivered twice: the register still holds one card per target.
    await publish(month, *requests)
    cards = (await month.client.get("/api/v1/red-cards", headers=month.operator)).json()["items"]
    assert sorted((x["target_unit_name"], x["source"], x["state"]) for x in cards) == [
        ("区行政审批局", "ranking", "issued"),
        ("慈惠街", "ranking", "issued"),
        ("长青街", "ranking", "issued"),
    ]
    consequences = (
        await month.client.get(f"/api/v1/evaluations/periods/{MAY}/consequences", headers=month.operator)
    ).json()
    assert sorted((x["unit_label"], x["heads"][0]) for x in consequences["interviews"]) == [
        ("区行政审批局", "区行政审批局主要负责同志"),
        ("慈惠街", "慈惠街主要负责同志"),
        ("长青街", "长青街主要负责同志"),
    ]
    assert sorted(x["unit_label"] for x in consequences["statements"]) == [
        "区自然资源局",
        "区行政审批局",
        "慈惠街",
        "长青街",
    ]
    assert consequences["key_supervision"] == consequences["statements"]
    assert sorted((x["state"], x["rank"]) for x in consequences["cards"]) == [
        ("issued", 3),
        ("issued", 5),
        ("issued", 5),
    ]


async def test_a_late_fact_gives_a_numbered_correction_and_leaves_the_published_figure(month):
    org, b = month.org, month.projects["b"]
    await month.move_clock(set=at(date(2020, 6, 10)))
    # 长青街 records on 6-10 that 开工 was reached on 5-15, its baseline date.
    await publish(month, b.achieved("开工", date(2020, 5, 15), at(date(2020, 6, 10))))
    period = await _period(month)
    assert period["corrections"] == [1]
    by_label = {s["subject_label"]: s for s in period["sheets"]}
    assert (by_label["长青街"]["score"], by_label["长青街"]["grade"]) == ("0.00", "fail")
    assert by_label["长青街"]["corrections"] == [{"number": 1, "score": "100.00", "grade": "pass"}]
    corrections = (
        await month.client.get(f"/api/v1/evaluations/periods/{MAY}/corrections", headers=month.operator)
    ).json()["items"]
    assert [(x["number"], x["cause_event_type"], x["card_review"]) for x in corrections] == [
        (1, "milestone.achieved", "pending")
    ]
    assert [(x["subject_label"], x["before_score"], x["score"]) for x in corrections[0]["changes"]] == [
        ("长青街", "0.00", "100.00")
    ]
    assert set(corrections[0]["carded_after"]) == {
        str(org[n].id) for n in ("区自然资源局", "区行政审批局", "慈惠街")
    }
    republished = [e for e in await month.published("scoring", "evaluation.published") if e.supersedes]
    assert [(e.subject_label, str(e.score)) for e in republished] == [("长青街", "100.00")]

    reviewed = await month.client.post(
        f"/api/v1/evaluations/periods/{MAY}/corrections/1/card-review",
        json={"request_cards_for": [str(org["区自然资源局"].id)], "reason": "更正后进入后3名"},
        headers=month.operator,
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["card_review"] == "decided"
    await month.settle()
    cards = (await month.client.get("/api/v1/red-cards", headers=month.operator)).json()["items"]
    assert sorted(x["target_unit_name"] for x in cards) == [
        "区自然资源局",
        "区行政审批局",
        "慈惠街",
        "长青街",
    ]


async def test_the_office_withdraws_the_card_of_a_unit_the_correction_took_out(month):
    cards = (await month.client.get("/api/v1/red-cards", headers=month.operator)).json()["items"]
    card = next(x for x in cards if x["target_unit_name"] == "长青街")
    got = await month.client.get(f"/api/v1/red-cards/{card['id']}", headers=month.operator)
    supervisor = month.auth(Role.SUPERVISION_OFFICE, person="00000000-0000-0000-0000-000000000007")
    refused = await month.client.post(
        f"/api/v1/red-cards/{card['id']}/withdrawal",
        json={"reason": "更正后不在后3名"},
        headers={**supervisor, "If-Match": got.headers["ETag"]},
    )
    assert refused.status_code == 403
    withdrawn = await month.client.post(
        f"/api/v1/red-cards/{card['id']}/withdrawal",
        json={"reason": "更正第1号：开工已于5月15日按期完成，不在后3名"},
        headers={**month.operator, "If-Match": got.headers["ETag"]},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["state"], withdrawn.json()["withdrawal_reason"]) == (
        "withdrawn",
        "更正第1号：开工已于5月15日按期完成，不在后3名",
    )
    again = await month.client.post(
        f"/api/v1/red-cards/{card['id']}/withdrawal",
        json={"reason": "重复"},
        headers={**month.operator, "If-Match": withdrawn.headers["ETag"]},
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    events = await month.published("issues", "red_card.withdrawn")
    assert [(e.target.unit_name, e.withdrawal_reason) for e in events] == [
        ("长青街", "更正第1号：开工已于5月15日按期完成，不在后3名")
    ]
    consequences = (
        await month.client.get(f"/api/v1/evaluations/periods/{MAY}/consequences", headers=month.operator)
    ).json()
    by_unit = {x["unit_id"]: (x["state"], x["correction_number"]) for x in consequences["cards"]}
    org = month.org
    assert by_unit == {
        str(org["长青街"].id): ("withdrawn", None),
        str(org["慈惠街"].id): ("issued", None),
        str(org["区行政审批局"].id): ("issued", None),
        str(org["区自然资源局"].id): ("issued", 1),
    }


async def test_a_unit_sees_the_published_ranking_without_the_others_evidence(month):
    org = month.org
    street = month.auth(Role.UNIT_USER, person=str(org["金银湖街"].staff))
    ranking = await month.client.get("/api/v1/rankings/units-monthly/2020-05", headers=street)
    assert ranking.status_code == 200, ranking.text
    # The published figures, not the correction's: 长青街 stays at 0 and carded in the published ranking.
    assert [
        (r["rank"], r["label"], r["score"], r["carded"], r["evidence"] is None) for r in ranking.json()
    ] == [
        (1, "临空产业办", "110.00", False, True),
        (2, "金银湖街", "100.00", False, False),
        (3, "区自然资源局", "75.00", False, True),
        (3, "区行政审批局", "75.00", True, True),
        (5, "慈惠街", "0.00", True, True),
        (5, "长青街", "0.00", True, True),
    ]
    june = await month.client.get("/api/v1/rankings/units-monthly/2020-06", headers=street)
    assert (june.status_code, june.json()["code"]) == (404, "period_not_found")
