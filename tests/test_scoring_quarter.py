"""The quarterly evaluation of line leaders over HTTP with the shared clock moved through Q2 2020 (policy
§六(一)一, §六(二)): the line's progress, problems solved and enrolment give the proposal; only a top
leader confirms it; a handover mid-quarter splits the year-end record by tenure; and replaying the streams
into an emptied scoring database reproduces the published figures.
"""

from __future__ import annotations

import io
import uuid
from datetime import date

import pytest_asyncio
from docx import Document
from openpyxl import load_workbook
from scoring_world import Org, at, problem_breached, project, publish, scoring_world

from lkg.common.auth import Role
from lkg.common.events import contracts as c
from lkg.common.events.operations import rebuild_read_copies
from lkg.scoring.app import SPEC as SCORING
from lkg.scoring.periods import period_id

Q2 = period_id("quarter", date(2020, 4, 1))
MAY = period_id("month", date(2020, 5, 1))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def quarter(db_factory, nats_url, nats_prefix):
    org = Org([("金银湖街", "street"), ("临空产业办", "industry_office"), ("区行政审批局", "department")])
    async with scoring_world(db_factory, nats_url, nats_prefix, [SCORING], org) as system:
        a = project(org, "金银湖街", "甲项目", 签约=date(2020, 5, 20), 开工=date(2020, 6, 10))
        b = project(org, "临空产业办", "乙项目", 进资=date(2020, 6, 15))
        await publish(system, a.registered(), b.registered())
        await system.move_clock(set=at(date(2020, 5, 20), 12))
        await publish(
            system,
            a.achieved("签约", date(2020, 5, 20), at(date(2020, 5, 20), 12)),
            *problem_breached(
                org, "区行政审批局", a, "施工许可未办结", at(date(2020, 5, 11)), at(date(2020, 5, 15), 0)
            ),
        )
        # 李丽 hands the line over to 王强 on 1 June.
        await system.move_clock(set=at(date(2020, 6, 1), 9))
        await publish(system, org.handover(date(2020, 6, 1), revision=2))
        await system.move_clock(set=at(date(2020, 6, 12)))
        await publish(
            system,
            a.achieved("开工", date(2020, 6, 12), at(date(2020, 6, 12))),
            b.achieved("进资", date(2020, 6, 15), at(date(2020, 6, 15))),
            c.EnrolmentFailed(
                effective_at=at(date(2020, 6, 12)),
                project_id=b.id,
                project_name=b.name,
                responsible_unit_id=org["临空产业办"].id,
                year=2020,
                month=5,
                reason="投资额未达入库标准",
                reported_by_unit_id=uuid.uuid4(),
            ),
        )
        await system.move_clock(set=at(date(2020, 7, 3), 9))
        system.org = org  # type: ignore[attr-defined]
        yield system


def _leader(system, person) -> dict[str, str]:
    return system.auth(Role.LINE_LEADER, person=str(person))


async def test_the_quarter_proposes_the_line_leaders_grade_from_three_measures(quarter):
    got = await quarter.client.get(f"/api/v1/evaluations/periods/{Q2}", headers=quarter.operator)
    assert got.status_code == 200, got.text
    period = got.json()
    assert (period["label"], period["state"], period["closes_at"]) == (
        "2020年第2季度",
        "proposed",
        "2020-07-03T00:00:00+08:00",
    )
    (sheet,) = period["sheets"]
    # progress: 签约 on time, 开工 late (6-12 > 6-10), 进资 on time: 2/3 → 66.67; problems: one breach
    # → 75; enrolment: one failure on 2 projects → 80; (0.4·66.67 + 0.4·75 + 0.2·80) / 1.0 = 72.67.
    assert (sheet["subject_kind"], sheet["subject_label"], sheet["score"], sheet["proposed_grade"]) == (
        "line_leader",
        "第二线",
        "72.67",
        "fail",
    )
    assert {k: v["score"] for k, v in sheet["figures"].items() if k != "holders"} == {
        "progress": "66.67",
        "problems": "75.00",
        "enrolment": "80.00",
    }
    assert [(h["name"], h["from"], h["to"]) for h in sheet["figures"]["holders"]] == [
        ("李丽", "2020-04-01", "2020-05-31"),
        ("王强", "2020-06-01", "2020-06-30"),
    ]
    assert sorted(e["counts"] for e in sheet["evidence"]) == [
        "breach",
        "enrolment_failed",
        "missed",
        "on_time",
        "on_time",
        "open",
    ]


async def test_only_the_leader_and_the_deciders_see_a_line_leaders_evaluation(quarter):
    org = quarter.org
    assert (
        await quarter.client.get(f"/api/v1/evaluations/periods/{Q2}", headers=_leader(quarter, org.leader_b))
    ).json()["sheets"][0]["subject_label"] == "第二线"
    street = quarter.auth(Role.UNIT_USER, person=str(org["金银湖街"].staff))
    assert (await quarter.client.get(f"/api/v1/evaluations/periods/{Q2}", headers=street)).status_code == 404
    office = quarter.auth(Role.ASSESSMENT_OFFICE, person=str(uuid.uuid4()))
    assert (
        len((await quarter.client.get(f"/api/v1/evaluations/periods/{Q2}", headers=office)).json()["sheets"])
        == 1
    )


async def test_only_a_top_leader_confirms_the_quarter(quarter):
    got = await quarter.client.get(f"/api/v1/evaluations/periods/{Q2}", headers=quarter.operator)
    refused = await quarter.client.post(
        f"/api/v1/evaluations/periods/{Q2}/confirmation",
        json={},
        headers={**quarter.operator, "If-Match": got.headers["ETag"]},
    )
    assert refused.status_code == 403
    top = quarter.auth(Role.TOP_LEADER, person=str(uuid.uuid4()))
    confirmed = await quarter.client.post(
        f"/api/v1/evaluations/periods/{Q2}/confirmation",
        json={"note": "区委、区政府综合评定"},
        headers={**top, "If-Match": got.headers["ETag"]},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "published"
    again = await quarter.client.post(
        f"/api/v1/evaluations/periods/{Q2}/confirmation",
        json={},
        headers={**top, "If-Match": confirmed.headers["ETag"]},
    )
    assert (again.status_code, again.json()["code"]) == (409, "period_already_published")


async def test_the_published_quarter_is_a_report_for_the_deciders_and_the_leader_only(quarter):
    org = quarter.org
    top = quarter.auth(Role.TOP_LEADER, person=str(uuid.uuid4()))
    await quarter.settle()  # the reports scan issues it on the clock's next round
    [item] = (
        await quarter.client.get("/api/v1/reports", params={"kind": "quarterly_evaluation"}, headers=top)
    ).json()["items"]
    assert (item["number"], item["title"], item["period"]["label"]) == (
        1,
        "包保区级领导季度考评（2020年第2季度）",
        "2020年第2季度",
    )
    report = (await quarter.client.get(f"/api/v1/reports/{item['id']}", headers=top)).json()["body"]
    [entry] = report["entries"]
    assert (entry["label"], entry["score"], entry["grade"], entry["progress"], entry["enrolment"]) == (
        "第二线",
        "72.67",
        "fail",
        "66.67",
        "80.00",
    )
    assert entry["holders"] == ["李丽（2020-04-01至2020-05-31）", "王强（2020-06-01至2020-06-30）"]
    assert len(entry["evidence"]) == 6

    # The line's leader reads their own line; a unit neither finds it listed nor reads it.
    leader = _leader(quarter, org.leader_b)
    mine = await quarter.client.get(f"/api/v1/reports/{item['id']}", headers=leader)
    assert [e["label"] for e in mine.json()["body"]["entries"]] == ["第二线"]
    street = quarter.auth(Role.UNIT_USER, person=str(org["金银湖街"].staff))
    listed = await quarter.client.get(
        "/api/v1/reports", params={"kind": "quarterly_evaluation"}, headers=street
    )
    assert listed.json()["items"] == []
    for suffix in ("", ".xlsx", ".docx"):
        hidden = await quarter.client.get(f"/api/v1/reports/{item['id']}{suffix}", headers=street)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "report_not_found")

    docx = await quarter.client.get(f"/api/v1/reports/{item['id']}.docx", headers=top)
    doc = Document(io.BytesIO(docx.content))
    assert [p.text for p in doc.paragraphs[:2]] == ["包保区级领导季度考评", "第1期"]
    assert [c.text for c in doc.tables[0].rows[1].cells][:4] == [
        "第二线",
        "李丽（2020-04-01至2020-05-31）；王强（2020-06-01至2020-06-30）",
        "72.67",
        "不合格",
    ]
    xlsx = await quarter.client.get(f"/api/v1/reports/{item['id']}.xlsx", headers=leader)
    assert [c.value for c in next(load_workbook(io.BytesIO(xlsx.content))["考评结果"].iter_rows(min_row=2))][
        :4
    ] == [
        "第二线",
        "李丽（2020-04-01至2020-05-31）；王强（2020-06-01至2020-06-30）",
        "72.67",
        "不合格",
    ]

    [event] = [
        e for e in await quarter.published("scoring", "report.published") if e.kind == "quarterly_evaluation"
    ]
    assert event.audience == c.Audience(
        unit_roles=(c.UnitRole.MAJOR_PROJECTS_OFFICE, c.UnitRole.ASSESSMENT_OFFICE),
        post_kinds=(c.PostKind.DISTRICT_LEADER,),
        line_ids=(org.line,),
    )


async def test_the_year_end_record_splits_the_quarter_by_tenure(quarter):
    month = await quarter.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=quarter.operator)
    confirmed = await quarter.client.post(
        f"/api/v1/evaluations/periods/{MAY}/confirmation",
        json={},
        headers={**quarter.operator, "If-Match": month.headers["ETag"]},
    )
    assert confirmed.status_code == 200, confirmed.text
    record = (
        await quarter.client.get(
            "/api/v1/evaluations/year-end", params={"year": 2020}, headers=quarter.operator
        )
    ).json()
    assert [(e["period_label"], e["subject_label"], e["grade"]) for e in record["entries"]] == [
        ("2020年5月", "区行政审批局", "fail"),
        ("2020年5月", "金银湖街", "pass"),
        ("2020年第2季度", "第二线", "fail"),
    ]
    leader = record["entries"][-1]
    assert [(t["name"], t["start"], t["end"], t["days"]) for t in leader["tenure"]] == [
        ("李丽", "2020-04-01", "2020-05-31", 61),
        ("王强", "2020-06-01", "2020-06-30", 30),
    ]


async def test_the_published_month_is_issued_as_the_first_monthly_bulletin(quarter):
    await quarter.settle()
    [item] = (
        await quarter.client.get(
            "/api/v1/reports",
            params={"kind": "monthly_assessment", "period": "2020"},
            headers=quarter.operator,
        )
    ).json()["items"]
    body = (await quarter.client.get(f"/api/v1/reports/{item['id']}", headers=quarter.operator)).json()[
        "body"
    ]
    assert (item["number"], body["number"], body["label"]) == (1, 1, "2020年5月")
    assert [(e["label"], e["grade"]) for e in body["ranking"]] == [
        ("金银湖街", "pass"),
        ("区行政审批局", "fail"),
    ]


async def test_replaying_the_streams_into_emptied_facts_reproduces_the_published_figures(quarter):
    before = {
        pid: (await quarter.client.get(f"/api/v1/evaluations/periods/{pid}", headers=quarter.operator)).json()
        for pid in (Q2, MAY)
    }
    reports = (await quarter.client.get("/api/v1/reports", headers=quarter.operator)).json()["items"]
    runtime = quarter.platform.runtimes["scoring"]
    settings = quarter.service_settings["scoring"]
    applied = runtime.consumer.applied_total
    await rebuild_read_copies(SCORING, settings.database_url, runtime.nc, runtime.js, runtime.names)
    await quarter.settle()
    # Applied again from the start: org (2), projects (2), milestones achieved (3), the problem reported
    # and breached (2), enrolment (1).
    assert runtime.consumer.applied_total - applied == 10
    after = {
        pid: (await quarter.client.get(f"/api/v1/evaluations/periods/{pid}", headers=quarter.operator)).json()
        for pid in (Q2, MAY)
    }
    assert after == before
    # The issued reports are decisions a rebuild keeps: none is issued again, none changes.
    assert (await quarter.client.get("/api/v1/reports", headers=quarter.operator)).json()["items"] == reports
