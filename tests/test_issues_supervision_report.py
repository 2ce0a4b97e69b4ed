"""The 《督查问题专报》 and the discipline commission's outcomes over HTTP, through May and June 2020 on the
shared clock (policy §五(三); issue 16, issue 15 item 8).

May's round finds a ≥100M new start with no real progress (on 第二线) and an unrouted project not enrolled;
督查室 confirms one card and dismisses the other, the line leader consents to a referral and 督查室 refers
it; the report is issued once, numbered 第1期, frozen, announced to its audience, and read by 督查室,
重大项目办, the top leaders, and by the line leader for their line only. The commission's outcome comes back
after the report and is reported in June's (第2期).
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from datetime import date, datetime

import pytest_asyncio
from docx import Document
from issues_world import _id, issues_world, project_event, publish
from openpyxl import load_workbook

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c


@pytest_asyncio.fixture(loop_scope="session")
async def world(db_factory, nats_url, nats_prefix):
    async with issues_world(db_factory, nats_url, nats_prefix) as system:
        yield system


def _stuck(org):
    start = c.MilestoneSnapshot(
        id=_id(), type="construction_start", label="开工", planned_date=date(2020, 5, 15)
    )
    return project_event(org, name="临空港冷链物流中心项目", milestones=(start,))


def _not_enrolled(org):
    return project_event(
        org,
        name="临空港食品产业园项目",
        project_class="continuing",
        line_id=None,
        routing_basis="unrouted",
        routing_reason="无适用规则，待重大项目办确定",
        enrolment_status="failed",
    )


async def _act(world, card_id: str, verb: str, who: dict, body: dict | None = None):
    etag = (await world.client.get(f"/api/v1/red-cards/{card_id}", headers=who)).headers["ETag"]
    return await world.client.post(
        f"/api/v1/red-cards/{card_id}/{verb}", json=body, headers={**who, "If-Match": etag}
    )


def _figures(report: dict) -> list[tuple]:
    return [
        (x["reason"], [f["name"] for f in x["findings"]], x["proposed"], x["confirmed"], x["dismissed"])
        for x in report["categories"]
    ]


async def test_the_round_report_is_issued_once_frozen_and_read_by_its_audience(world):
    org = world.org
    stuck, unenrolled = _stuck(org), _not_enrolled(org)
    await publish(world, stuck, unenrolled)
    await world.move_clock(set=datetime(2020, 5, 25, 9, tzinfo=TZ))
    [rnd] = (await world.client.get("/api/v1/supervision-rounds", headers=world.operator)).json()["items"]
    assert (rnd["report_number"], rnd["report_issued_at"]) == (None, None)
    path = f"/api/v1/supervision-rounds/{rnd['id']}/report"
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(uuid.uuid4()))
    leader = world.auth(Role.LINE_LEADER, person=str(org.leader_a))
    top = world.auth(Role.TOP_LEADER, person=str(uuid.uuid4()))

    draft = (await world.client.get(path, headers=supervisor)).json()
    assert (draft["state"], draft["number"], draft["issued_at"]) == ("draft", None, None)
    assert _figures(draft) == [
        ("no_real_progress", ["临空港冷链物流中心项目"], 1, 0, 0),
        ("behind_schedule", [], 0, 0, 0),
        ("not_enrolled", ["临空港食品产业园项目"], 1, 0, 0),
        ("meeting_matter_overdue", [], 0, 0, 0),
    ]
    assert draft["categories"][0]["findings"][0]["line_name"] == "第二线"
    assert draft["categories"][0]["findings"][0]["notes"] == [
        "临空港冷链物流中心项目：计划2020-05-15开工，至2020-05-25未开工"
    ]
    # The documents are of an issued report only; issuing waits for every card to be decided.
    assert (await world.client.get(f"{path}.xlsx", headers=supervisor)).json()["code"] == "report_not_issued"
    undecided = await world.client.post(path, headers=supervisor)
    assert (undecided.status_code, undecided.json()["code"]) == (409, "cards_undecided")

    cards = {
        x["reason"]: x
        for x in (await world.client.get("/api/v1/red-cards", headers=supervisor)).json()["items"]
    }
    # The round told 督查室 of each card it proposed, once.
    proposed = await world.published("issues", "red_card.proposed")
    assert sorted((str(e.red_card_id), e.reason) for e in proposed) == sorted(
        (x["id"], x["reason"]) for x in cards.values()
    )
    carded, dismissed = cards["no_real_progress"]["id"], cards["not_enrolled"]["id"]
    assert (await _act(world, carded, "confirmation", supervisor)).status_code == 200
    dismissal = await _act(world, dismissed, "dismissal", supervisor, {"reason": "统计局已于5月20日补录入库"})
    assert dismissal.status_code == 200
    # 督查室 asks the line leader's consent (the leader's post is named, so the notifier tells its holder).
    asked = await _act(world, carded, "referral-request", supervisor, {"note": "提请同意移交区纪委监委"})
    assert asked.json()["referral_state"] == "requested"
    [request] = await world.published("issues", "red_card.referral_requested")
    assert (str(request.red_card_id), request.line_id, request.leader_post_id) == (
        carded,
        org.line,
        org.leader_post,
    )
    # A card on its way to 区纪委监委 is decided there: 督查室 can no longer withdraw it.
    late = await _act(world, carded, "withdrawal", supervisor, {"reason": "复核"})
    assert (late.status_code, late.json()["code"]) == (409, "referral_in_progress")
    assert (await _act(world, carded, "referral-consent", leader, {"note": "同意移交"})).status_code == 200
    referred = await _act(world, carded, "referral", supervisor, {"note": "移交区纪委监委"})
    assert referred.json()["referred_at"] == "2020-05-25T09:00:00+08:00"

    # Only 督查室 issues it (§五(三): 重大项目办 joins the inspections, the report is 督查室's); the first
    # issue is 第1期 and freezes it; a second is refused.
    assert (await world.client.post(path, headers=top)).status_code == 403
    assert (await world.client.post(path, headers=world.operator)).status_code == 403  # 重大项目办
    assert (await world.client.post(path, headers=leader)).status_code == 403
    issued = await world.client.post(path, headers={**supervisor, "Idempotency-Key": "zb-2020-05"})
    assert issued.status_code == 201, issued.text
    report = issued.json()
    assert (report["state"], report["number"], report["issued_at"]) == (
        "issued",
        1,
        "2020-05-25T09:00:00+08:00",
    )
    assert _figures(report) == [
        ("no_real_progress", ["临空港冷链物流中心项目"], 1, 1, 0),
        ("behind_schedule", [], 0, 0, 0),
        ("not_enrolled", ["临空港食品产业园项目"], 1, 0, 1),
        ("meeting_matter_overdue", [], 0, 0, 0),
    ]
    assert report["totals"] == {
        "findings": 2,
        "proposed": 2,
        "confirmed": 1,
        "dismissed": 1,
        "pending": 0,
        "referred": 1,
        "concluded": 0,
    }
    replay = await world.client.post(path, headers={**supervisor, "Idempotency-Key": "zb-2020-05"})
    assert (replay.status_code, replay.json()) == (201, report)
    again = await world.client.post(path, headers=supervisor)
    assert (again.status_code, again.json()["code"]) == (409, "report_already_issued")
    [announced] = await world.published("issues", "supervision_report.published")
    assert (announced.number, announced.title, announced.path) == (
        1,
        "全区投资和重大产业项目落地建设督查问题专报（2020年第1期）",
        path,
    )
    assert announced.audience == c.Audience(
        unit_roles=(c.UnitRole.SUPERVISION_OFFICE, c.UnitRole.MAJOR_PROJECTS_OFFICE),
        post_kinds=(c.PostKind.DISTRICT_LEADER,),
        line_ids=(org.line,),
    )
    [rnd] = (await world.client.get("/api/v1/supervision-rounds", headers=world.operator)).json()["items"]
    assert (rnd["report_number"], rnd["report_issued_at"]) == (1, "2020-05-25T09:00:00+08:00")

    # Readers: 督查室, 重大项目办, the top leaders all of it; the line leader their line only; others none.
    for reader in (world.operator, top):
        assert (await world.client.get(path, headers=reader)).json() == report
    mine = (await world.client.get(path, headers=leader)).json()
    assert _figures(mine) == [
        ("no_real_progress", ["临空港冷链物流中心项目"], 1, 1, 0),
        ("behind_schedule", [], 0, 0, 0),
        ("not_enrolled", [], 0, 0, 0),
        ("meeting_matter_overdue", [], 0, 0, 0),
    ]
    assert (mine["totals"]["proposed"], mine["totals"]["referred"]) == (1, 1)
    street = world.auth(Role.UNIT_USER, person=str(org.street_staff))
    service_dept = world.auth(Role.SERVICE_DEPARTMENT, person=str(org.dept_staff))
    for outsider in (street, service_dept):
        hidden = await world.client.get(path, headers=outsider)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "supervision_report_not_found")
        assert (await world.client.get(f"{path}.docx", headers=outsider)).status_code == 404
    missing = await world.client.get(f"/api/v1/supervision-rounds/{uuid.uuid4()}/report", headers=supervisor)
    assert (missing.status_code, missing.json()["code"]) == (404, "supervision_round_not_found")

    # The documents hold the JSON's figures, and come out byte for byte the same every time.
    xlsx = await world.client.get(f"{path}.xlsx", headers=supervisor)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert [row[1:] for row in book["汇总"].iter_rows(min_row=2, values_only=True)] == [
        (1, 1, 1, 0, 0),
        (0, 0, 0, 0, 0),
        (1, 1, 0, 1, 0),
        (0, 0, 0, 0, 0),
    ]
    assert [(r[1], r[4], r[6], r[7]) for r in book["督查发现"].iter_rows(min_row=2, values_only=True)] == [
        ("临空港冷链物流中心项目", "金银湖街道", "已发红牌", None),
        ("临空港食品产业园项目", "金银湖街道", "不予认定", "统计局已于5月20日补录入库"),
    ]
    assert [(r[1], r[4], r[5]) for r in book["移交问责"].iter_rows(min_row=2, values_only=True)] == [
        ("金银湖街道", "已移交，待反馈", "2020-05-25")
    ]
    docx = await world.client.get(f"{path}.docx", headers=supervisor)
    document = Document(io.BytesIO(docx.content))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "全区投资和重大产业项目落地建设督查问题专报" in text and "第1期" in text
    assert "共发现问题2个，拟定红牌2张，经核实发出红牌1张、不予认定1张" in text
    cells = [[cell.text for cell in row.cells] for table in document.tables for row in table.rows]
    assert ["临空港冷链物流中心项目", "第二线"] in [row[:2] for row in cells]
    assert (await world.client.get(f"{path}.docx", headers=supervisor)).content == docx.content
    assert (await world.client.get(f"{path}.xlsx", headers=supervisor)).content == xlsx.content
    # The line leader's documents hold only their line.
    theirs = load_workbook(io.BytesIO((await world.client.get(f"{path}.xlsx", headers=leader)).content))
    assert [r[1] for r in theirs["督查发现"].iter_rows(min_row=2, values_only=True)] == [
        "临空港冷链物流中心项目"
    ]

    # The commission's outcome comes back in June: recorded on the card, not in May's frozen report.
    await world.move_clock(set=datetime(2020, 6, 10, 10, tzinfo=TZ))
    outcome = {
        "outcome": "accountability_taken",
        "note": "对金银湖街道分管负责人诫勉谈话",
        "decided_on": "2020-06-08",
    }
    concluded = await _act(world, carded, "referral-outcome", supervisor, outcome)
    assert concluded.status_code == 200, concluded.text
    card = concluded.json()
    assert (card["referral_state"], card["referral_outcome"], card["referral_outcome_on"]) == (
        "concluded",
        "accountability_taken",
        "2020-06-08",
    )
    assert card["referral_outcome_recorded_at"] == "2020-06-10T10:00:00+08:00"
    [event] = await world.published("issues", "red_card.referral_concluded")
    assert (str(event.red_card_id), event.outcome, event.decided_on, event.line_id) == (
        carded,
        c.ReferralOutcome.ACCOUNTABILITY_TAKEN,
        date(2020, 6, 8),
        org.line,
    )
    assert (await world.client.get(path, headers=supervisor)).json() == report

    # June's round finds the project again; its report (第2期) carries May's referral with its outcome.
    await world.move_clock(set=datetime(2020, 6, 24, 9, tzinfo=TZ))
    rounds = (await world.client.get("/api/v1/supervision-rounds", headers=world.operator)).json()["items"]
    june = f"/api/v1/supervision-rounds/{rounds[1]['id']}/report"
    june_cards = (
        await world.client.get(f"/api/v1/red-cards?round_id={rounds[1]['id']}", headers=supervisor)
    ).json()["items"]
    for x in june_cards:
        assert (await _act(world, x["id"], "confirmation", supervisor)).status_code == 200
    second = (await world.client.post(june, headers=supervisor)).json()
    assert second["number"] == 2
    assert [
        (r["round_month"], r["referral_state"], r["outcome"], r["outcome_note"]) for r in second["referrals"]
    ] == [(5, "concluded", "accountability_taken", "对金银湖街道分管负责人诫勉谈话")]
    assert (second["totals"]["referred"], second["totals"]["concluded"]) == (1, 1)


async def test_an_outcome_is_recorded_once_by_the_supervision_office_within_its_dates(world):
    org = world.org
    await publish(world, _stuck(org))
    await world.move_clock(set=datetime(2020, 5, 25, 9, tzinfo=TZ))
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(uuid.uuid4()))
    leader = world.auth(Role.LINE_LEADER, person=str(org.leader_a))
    [card] = (await world.client.get("/api/v1/red-cards", headers=supervisor)).json()["items"]
    outcome = {"outcome": "no_accountability", "note": "经核查系客观原因", "decided_on": "2020-05-25"}
    assert (await _act(world, card["id"], "confirmation", supervisor)).status_code == 200
    early = await _act(world, card["id"], "referral-outcome", supervisor, outcome)
    assert (early.status_code, early.json()["code"]) == (409, "invalid_state")
    assert (await _act(world, card["id"], "referral-consent", leader, {"note": "同意"})).status_code == 200
    assert (await _act(world, card["id"], "referral", supervisor, {"note": "移交"})).status_code == 200
    assert (await _act(world, card["id"], "referral-outcome", leader, outcome)).status_code == 403
    for day in ("2020-05-24", "2020-05-26"):  # before the referral; after today
        refused = await _act(
            world, card["id"], "referral-outcome", supervisor, {**outcome, "decided_on": day}
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_decision_date")
    unchanged = (await world.client.get(f"/api/v1/red-cards/{card['id']}", headers=supervisor)).json()
    assert (unchanged["referral_state"], unchanged["referral_outcome"]) == ("referred", None)
    done = await _act(world, card["id"], "referral-outcome", supervisor, outcome)
    assert done.json()["referral_outcome"] == "no_accountability"
    twice = await _act(world, card["id"], "referral-outcome", supervisor, outcome)
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_state")
    assert len(await world.published("issues", "red_card.referral_concluded")) == 1
    audit = await world.client.get(f"/api/v1/red-cards/{card['id']}", headers=supervisor)
    assert audit.json()["referral_outcome_note"] == "经核查系客观原因"


async def test_a_card_with_no_line_has_no_leader_to_ask(world):
    await publish(world, _not_enrolled(world.org))
    await world.move_clock(set=datetime(2020, 5, 25, 9, tzinfo=TZ))
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(uuid.uuid4()))
    [card] = (await world.client.get("/api/v1/red-cards", headers=supervisor)).json()["items"]
    early = await _act(world, card["id"], "referral-request", supervisor, {"note": "提请"})
    assert (early.status_code, early.json()["code"]) == (409, "invalid_state")  # not issued yet
    assert (await _act(world, card["id"], "confirmation", supervisor)).status_code == 200
    office = await _act(world, card["id"], "referral-request", world.operator, {"note": "提请"})
    assert office.status_code == 403
    refused = await _act(world, card["id"], "referral-request", supervisor, {"note": "提请"})
    assert (refused.status_code, refused.json()["code"]) == (409, "no_line_leader")
    assert await world.published("issues", "red_card.referral_requested") == []


async def test_the_documents_name_their_chinese_font_and_keep_a_formula_as_text(world):
    org = world.org
    await publish(world, _stuck(org))
    await world.move_clock(set=datetime(2020, 5, 25, 9, tzinfo=TZ))
    supervisor = world.auth(Role.SUPERVISION_OFFICE, person=str(uuid.uuid4()))
    [card] = (await world.client.get("/api/v1/red-cards", headers=supervisor)).json()["items"]
    assert (await _act(world, card["id"], "dismissal", supervisor, {"reason": "=1+2"})).status_code == 200
    path = f"/api/v1/supervision-rounds/{card['supervision_round_id']}/report"
    assert (await world.client.post(path, headers=supervisor)).status_code == 201

    book = load_workbook(io.BytesIO((await world.client.get(f"{path}.xlsx", headers=supervisor)).content))
    [row] = list(book["督查发现"].iter_rows(min_row=2))
    assert (row[7].value, row[7].data_type) == ("=1+2", "s")
    data = (await world.client.get(f"{path}.docx", headers=supervisor)).content
    chinese = re.compile(r"[\u3400-\u9fff]")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("word/document.xml")
    runs = re.findall(rb"<w:r>.*?</w:r>|<w:r [^>]*>.*?</w:r>", xml, flags=re.S)
    texts = [(b"".join(re.findall(rb"<w:t[^>]*>([^<]*)</w:t>", r)).decode(), r) for r in runs]
    chinese_runs = [(text, r) for text, r in texts if chinese.search(text)]
    assert len(chinese_runs) > 20
    assert all(b"w:eastAsia=" in r for _, r in chinese_runs)
    assert "=1+2" in [text for text, _ in texts]
    # One issue, one document: the Word file's core properties carry the issue's date.
    document = Document(io.BytesIO(data))
    assert document.core_properties.created == datetime(2020, 5, 25, 9, tzinfo=TZ)
