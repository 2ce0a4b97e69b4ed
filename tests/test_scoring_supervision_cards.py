"""A supervision red card on the carded unit's monthly sheet, over HTTP through May 2020 (policy §五(三),
§六; docs/scoring.md "A supervision red card on the sheet").

Three streets each meet May's milestone on time and each has a project the statistics bureau reported not
enrolled; May's month-end round (issues service) proposes a card for each. 督查室 confirms 金银湖街's and
慈惠街's and dismisses 长青街's. The confirmed cards count on their units' May sheets (one card is 25
points: 不合格), with the card as evidence; the dismissed one never counts; 慈惠街, with nothing else due in
May, is graded because of its card. After May is published, 金银湖街's card is withdrawn (撤销): a numbered
correction, the published figure unchanged. Ranking cards (§六(三)) are consequences of the sheets and
never count on them.

督查室 withdraws it over HTTP after a review (复核), as the issues register lets it; 重大项目办 may not, and
a second withdrawal is refused.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest_asyncio
from scoring_world import Org, at, project, publish, scoring_world

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.issues.app import SPEC as ISSUES
from lkg.scoring.app import SPEC as SCORING
from lkg.scoring.periods import period_id

MAY = period_id("month", date(2020, 5, 1))
NOT_ENROLLED = {"enrolment_status": "failed"}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def may(db_factory, nats_url, nats_prefix):
    org = Org([("金银湖街", "street"), ("长青街", "street"), ("慈惠街", "street")])
    async with scoring_world(db_factory, nats_url, nats_prefix, [ISSUES, SCORING], org) as system:
        a = project(org, "金银湖街", "甲项目", NOT_ENROLLED, 签约=date(2020, 5, 11))
        b = project(org, "长青街", "乙项目", NOT_ENROLLED, 签约=date(2020, 5, 12))
        cc = project(org, "慈惠街", "丙项目", NOT_ENROLLED, 签约=date(2020, 6, 20))
        await publish(system, a.registered(), b.registered(), cc.registered())
        await system.move_clock(set=at(date(2020, 5, 12), 12))
        await publish(
            system,
            a.achieved("签约", date(2020, 5, 11), at(date(2020, 5, 11))),
            b.achieved("签约", date(2020, 5, 12), at(date(2020, 5, 12))),
        )
        # The month's last week: the supervision round opens and proposes its cards.
        await system.move_clock(set=at(date(2020, 5, 25), 9))
        system.org = org  # type: ignore[attr-defined]
        yield system


def _supervisor(system) -> dict[str, str]:
    return system.auth(Role.SUPERVISION_OFFICE, person="00000000-0000-0000-0000-000000000007")


async def _act(system, card_id: str, verb: str, body: dict | None = None):
    who = _supervisor(system)
    etag = (await system.client.get(f"/api/v1/red-cards/{card_id}", headers=who)).headers["ETag"]
    return await system.client.post(
        f"/api/v1/red-cards/{card_id}/{verb}", json=body, headers={**who, "If-Match": etag}
    )


def _sheets(period: dict) -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (s["subject_kind"], s["subject_label"]): (s["score"], s["proposed_grade"]) for s in period["sheets"]
    }


def _cards_on(sheet: dict) -> list[tuple]:
    return [
        (
            e["counts"],
            e["red_card"]["source"],
            e["red_card"]["reason"],
            e["red_card"]["issued_on"],
            e["red_card"]["withdrawn_on"],
        )
        for e in sheet["evidence"]
        if e["kind"] == "red_card"
    ]


async def test_confirmed_cards_count_on_the_may_sheets_and_a_dismissed_one_never(may):
    cards = (await may.client.get("/api/v1/red-cards", headers=_supervisor(may))).json()["items"]
    by_unit = {x["target_unit_name"]: x for x in cards}
    assert sorted((n, x["source"], x["reason"], x["state"]) for n, x in by_unit.items()) == [
        ("慈惠街", "supervision", "not_enrolled", "proposed"),
        ("金银湖街", "supervision", "not_enrolled", "proposed"),
        ("长青街", "supervision", "not_enrolled", "proposed"),
    ]
    await may.move_clock(set=at(date(2020, 5, 26), 10))
    assert (await _act(may, by_unit["金银湖街"]["id"], "confirmation")).status_code == 200
    assert (await _act(may, by_unit["慈惠街"]["id"], "confirmation")).status_code == 200
    dismissed = await _act(may, by_unit["长青街"]["id"], "dismissal", {"reason": "统计局已于5月20日补录入库"})
    assert dismissed.status_code == 200
    await may.settle()

    # Live standings already show the card before the month closes.
    live = (await may.client.get("/api/v1/evaluations/live", headers=may.operator)).json()
    assert _sheets(live)[("responsible_unit", "金银湖街")] == ("75.00", "fail")

    await may.move_clock(set=datetime(2020, 6, 3, 9, tzinfo=TZ))
    period = (await may.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=may.operator)).json()
    assert (period["state"], period["rule_label"]) == ("proposed", "2020-2")
    assert _sheets(period) == {
        ("responsible_unit", "金银湖街"): ("75.00", "fail"),  # 签约 on time (100), one card (−25)
        ("responsible_unit", "长青街"): ("100.00", "pass"),  # its card was dismissed: never counts
        ("responsible_unit", "慈惠街"): ("75.00", "fail"),  # nothing else due in May: graded for the card
    }
    sheets = {s["subject_label"]: s for s in period["sheets"]}
    jyh = sheets["金银湖街"]
    assert jyh["figures"] == {"due": 1, "on_time": 1, "missed": 0, "ahead": 0, "supervision_cards": 1}
    assert _cards_on(jyh) == [("red_card", "supervision", "not_enrolled", "2020-05-26", None)]
    [card] = [e for e in jyh["evidence"] if e["kind"] == "red_card"]
    assert card["id"] == by_unit["金银湖街"]["id"]
    assert card["note"] == "督查红牌（项目未入统）2020-05-26认定：甲项目：统计局报告项目未通过审核入库"
    assert card["red_card"]["reason_label"] == "项目未入统"
    assert _cards_on(sheets["长青街"]) == []
    assert sheets["慈惠街"]["figures"]["due"] == 0
    assert _cards_on(sheets["慈惠街"]) == [("red_card", "supervision", "not_enrolled", "2020-05-26", None)]


async def test_a_withdrawn_card_stops_counting_with_a_correction_and_ranking_cards_never_count(may):
    org = may.org
    got = await may.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=may.operator)
    confirmed = await may.client.post(
        f"/api/v1/evaluations/periods/{MAY}/confirmation",
        json={},
        headers={**may.operator, "If-Match": got.headers["ETag"]},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert sorted(confirmed.json()["carded"]) == sorted([str(org["金银湖街"].id), str(org["慈惠街"].id)])
    await may.settle()
    ranking_cards = [
        e for e in await may.published("issues", "red_card.issued") if e.source is c.RedCardSource.RANKING
    ]
    assert sorted(e.target.unit_name for e in ranking_cards) == ["慈惠街", "金银湖街"]

    # The ranking cards were recorded after the cut-off: they change nothing on the sheets.
    period = (await may.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=may.operator)).json()
    assert period["corrections"] == []

    # 金银湖街's supervision card is withdrawn (撤销) on 6-10, by 督查室 after a review; not by 重大项目办.
    await may.move_clock(set=at(date(2020, 6, 10)))
    cards = (await may.client.get("/api/v1/red-cards", headers=_supervisor(may))).json()["items"]
    [card] = [x for x in cards if x["source"] == "supervision" and x["target_unit_name"] == "金银湖街"]
    etag = (await may.client.get(f"/api/v1/red-cards/{card['id']}", headers=_supervisor(may))).headers["ETag"]
    office = may.auth(Role.MAJOR_PROJECTS_OFFICE, person="00000000-0000-0000-0000-000000000008")
    reason = {"reason": "复核：统计局确认项目已于5月22日入库"}
    refused = await may.client.post(
        f"/api/v1/red-cards/{card['id']}/withdrawal", json=reason, headers={**office, "If-Match": etag}
    )
    assert refused.status_code == 403
    withdrawn = await _act(may, card["id"], "withdrawal", reason)
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["state"], withdrawn.json()["withdrawal_reason"]) == (
        "withdrawn",
        reason["reason"],
    )
    again = await _act(may, card["id"], "withdrawal", reason)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    await may.settle()
    events = await may.published("issues", "red_card.withdrawn")
    assert [(str(e.red_card_id), e.source, e.withdrawal_reason) for e in events] == [
        (card["id"], c.RedCardSource.SUPERVISION, reason["reason"])
    ]

    period = (await may.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=may.operator)).json()
    assert period["corrections"] == [1]
    sheets = {s["subject_label"]: s for s in period["sheets"]}
    # The published figure stays; the correction shows the card no longer counting.
    assert (sheets["金银湖街"]["score"], sheets["金银湖街"]["grade"]) == ("75.00", "fail")
    assert sheets["金银湖街"]["corrections"] == [{"number": 1, "score": "100.00", "grade": "pass"}]
    assert sheets["慈惠街"]["corrections"] == []
    corrections = (
        await may.client.get(f"/api/v1/evaluations/periods/{MAY}/corrections", headers=may.operator)
    ).json()["items"]
    assert [(x["number"], x["cause_event_type"], x["card_review"]) for x in corrections] == [
        (1, "red_card.withdrawn", "pending")
    ]
    assert [(x["subject_label"], x["before_score"], x["score"]) for x in corrections[0]["changes"]] == [
        ("金银湖街", "75.00", "100.00")
    ]

    # The published sheet still shows the card as it counted at the cut-off.
    assert _cards_on(sheets["金银湖街"]) == [("red_card", "supervision", "not_enrolled", "2020-05-26", None)]
