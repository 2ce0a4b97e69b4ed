"""The 《要情专报》 and the 销号成绩单 over HTTP through May 2020 (issue 16; policy §五(二)): the shared clock
issues the weekly bulletin at the end of each week's Friday (第1期 for 5月4日—10日: the week of 1 May has no
working Friday before the first fact) and the scorecard when the month's assessment closes (2 June); each is
numbered, frozen (a later fact changes nothing in it) and announced with ``report.published`` to every unit;
its Excel and Word files hold the JSON's figures, download as the same bytes twice, keep a ``=1+2`` project
name as text, and name an East Asian font on every run of Chinese text."""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime
from typing import Any

import pytest_asyncio
from docx import Document
from docx.oxml.ns import qn
from openpyxl import load_workbook
from scoring_world import (
    Org,
    Problem,
    at,
    investment,
    problem_breached,
    project,
    publish,
    scoring_world,
)

from lkg.common.auth import Role
from lkg.common.calendar import end_of_day
from lkg.common.clock import TZ
from lkg.common.documents import missing_chars
from lkg.common.events import contracts as c
from lkg.scoring.app import SPEC as SCORING

REPORTS = "/api/v1/reports"


def card_issued(org: Org, unit: str, when: datetime) -> c.RedCardIssued:
    return c.RedCardIssued(
        effective_at=when,
        red_card_id=uuid.uuid4(),
        target=c.RedCardTarget(unit_id=org[unit].id, unit_name=unit, kind="responsible_unit"),
        source="supervision",
        reason="behind_schedule",
        period=c.Period(kind="month", start=date(2020, 4, 1), end=date(2020, 4, 30)),
        supervision_round_id=uuid.uuid4(),
        evidence=(c.EvidenceRef(kind="project", id=uuid.uuid4(), note="续建项目进度滞后"),),
    )


def ranking_card_issued(org: Org, unit: str, when: datetime) -> c.RedCardIssued:
    return c.RedCardIssued(
        effective_at=when,
        red_card_id=uuid.uuid4(),
        target=c.RedCardTarget(unit_id=org[unit].id, unit_name=unit, kind="responsible_unit"),
        source="ranking",
        reason="bottom_of_ranking",
        period=c.Period(kind="month", start=date(2020, 4, 1), end=date(2020, 4, 30)),
        request_id=uuid.uuid4(),
        evidence=(c.EvidenceRef(kind="ranking", id=uuid.uuid4(), note="月度考核排名第6名"),),
    )


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def may(db_factory, nats_url, nats_prefix):
    org = Org(
        [("金银湖街", "street"), ("长青街", "street"), ("慈惠街", "street"), ("区行政审批局", "department")]
    )
    async with scoring_world(db_factory, nats_url, nats_prefix, [SCORING], org) as system:
        a = project(org, "金银湖街", "甲项目", 签约=date(2020, 6, 20))
        b = project(org, "长青街", "乙项目", 开工=date(2020, 5, 15))
        b.kinds = {"开工": "construction_start"}
        x = project(org, "慈惠街", "=1+2", {"provincial_municipal": True, "project_class": "continuing"})
        x.kinds = {"开工": "construction_start"}
        x.milestones["开工"] = (uuid.uuid4(), date(2020, 5, 14))
        await publish(system, a.registered(), b.registered(), x.registered())
        await system.move_clock(set=at(date(2020, 5, 10), 12))
        await publish(
            system,
            investment(a, 4, "10000000.00", at(date(2020, 5, 10))),
            investment(b, 4, "5000000.00", at(date(2020, 5, 10))),
            investment(x, 3, "1000000.00", at(date(2020, 5, 10))),
            investment(x, 4, "2000000.00", at(date(2020, 5, 10))),
        )
        # Week of 11 May: three problems reported, one breached, two projects start, a card is issued.
        p1 = Problem(org, a, "金银湖街", "用地指标未落实")
        p3 = Problem(org, a, "金银湖街", "水电接入迟缓")
        p4 = Problem(org, b, "区行政审批局", "施工图审查积压")
        p5 = Problem(org, b, "区行政审批局", "重复反映")
        await system.move_clock(set=at(date(2020, 5, 12), 10))
        await publish(
            system,
            p1.reported(
                at(date(2020, 5, 12)), p1.clock("reply", at(date(2020, 5, 12)), end_of_day(date(2020, 5, 18)))
            ),
            p1.accepted(
                at(date(2020, 5, 12), 11),
                p1.clock("resolution", at(date(2020, 5, 12)), end_of_day(date(2020, 5, 20))),
            ),
            p3.reported(
                at(date(2020, 5, 12)),
                p3.clock("resolution", at(date(2020, 5, 12)), end_of_day(date(2020, 5, 22))),
            ),
            p4.reported(
                at(date(2020, 5, 12)),
                p4.clock("resolution", at(date(2020, 5, 12)), end_of_day(date(2020, 5, 27))),
            ),
            p5.reported(
                at(date(2020, 5, 12)),
                p5.clock("resolution", at(date(2020, 5, 12)), end_of_day(date(2020, 5, 27))),
            ),
        )
        await system.move_clock(set=at(date(2020, 5, 14), 12))
        await publish(
            system,
            b.achieved("开工", date(2020, 5, 13), at(date(2020, 5, 13), 17)),
            x.achieved("开工", date(2020, 5, 14), at(date(2020, 5, 14), 11)),
            *problem_breached(
                org, "区行政审批局", b, "施工许可未办结", at(date(2020, 5, 11)), at(date(2020, 5, 14), 0)
            ),
            card_issued(org, "慈惠街", at(date(2020, 5, 14), 11)),
            ranking_card_issued(org, "长青街", at(date(2020, 5, 14), 11)),
            *p5.closed(at(date(2020, 5, 14), 12), outcome="withdrawn"),
        )
        await system.move_clock(set=at(date(2020, 5, 16), 9))
        system.org, system.p1, system.p3 = org, p1, p3  # type: ignore[attr-defined]
        system.a = a  # type: ignore[attr-defined]
        yield system


async def reports(system: Any, **params: str) -> list[dict]:
    got = await system.client.get(REPORTS, params=params, headers=system.operator)
    assert got.status_code == 200, got.text
    return got.json()["items"]


def east_asian_fonts_everywhere(doc: Any) -> bool:
    runs = [r for p in doc.paragraphs for r in p.runs]
    runs += [
        r for t in doc.tables for row in t.rows for cell in row.cells for p in cell.paragraphs for r in p.runs
    ]
    chinese = [r for r in runs if any("\u4e00" <= ch <= "\u9fff" for ch in r.text)]
    assert chinese
    return all(r._element.rPr is not None and r._element.rPr.rFonts.get(qn("w:eastAsia")) for r in chinese)


async def test_the_weekly_bulletin_of_the_week_of_11_may_holds_the_weeks_figures(may):
    org = may.org
    street = may.auth(Role.UNIT_USER, person=str(org["长青街"].staff))
    listed = (await may.client.get(REPORTS, params={"kind": "weekly_bulletin"}, headers=street)).json()[
        "items"
    ]
    assert [(r["number"], r["period"]["start"], r["as_of"]) for r in listed] == [
        (2, "2020-05-11", "2020-05-16T00:00:00+08:00"),
        (1, "2020-05-04", "2020-05-09T00:00:00+08:00"),
    ]
    assert listed[0]["title"] == "要情专报（2020年第20周（5月11日至5月17日））"
    assert [r["id"] for r in await reports(may, kind="weekly_bulletin", period="2020-W20")] == [
        listed[0]["id"]
    ]

    got = await may.client.get(f"{REPORTS}/{listed[0]['id']}", headers=street)
    assert got.status_code == 200, got.text
    w = got.json()["body"]
    assert w["investment_month"] == "2020-04"
    assert (w["investment_total"]["plan"], w["investment_total"]["year_to_date"]) == (
        "150000000.00",
        "18000000.00",
    )
    assert w["investment_total"]["completion"] == "0.1200"
    assert [(r["label"], r["projects"], r["construction"]) for r in w["progress_by_class"]] == [
        ("计划新开工", 2, 0),
        ("结转续建", 1, 0),
    ]
    assert [(s["name"], s["achieved_on"]) for s in w["new_starts"]] == [
        ("乙项目", "2020-05-13"),
        ("=1+2", "2020-05-14"),
    ]
    line = {
        k: w["matters_by_line"][0][k] for k in ("label", "open_problems", "overdue", "breaches_this_week")
    }
    assert line == {"label": "第二线", "open_problems": 4, "overdue": 1, "breaches_this_week": 1}
    # Cards of both sources: the month-end supervision round's and the ranking's bottom 3.
    cards = [
        (x["target_unit_name"], x["source"], x["card_reason_label"], x["month"], x["state"], x["changed_on"])
        for x in w["new_red_cards"]
    ]
    assert cards == [
        ("慈惠街", "supervision", "亿元以上续建项目进度相对滞后", "2020-04", "issued", "2020-05-14"),
        ("长青街", "ranking", "月度考核等级排名后3名", "2020-04", "issued", "2020-05-14"),
    ]
    assert [(u["rank"], u["label"], u["month_amount"], u["month_on_month"]) for u in w["provincial"]] == [
        (1, "慈惠街", "2000000.00", "100.00")
    ]

    xlsx = await may.client.get(f"{REPORTS}/{listed[0]['id']}.xlsx", headers=street)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == [
        "投资完成",
        "按类别推进",
        "按线推进",
        "新开工",
        "问题办理",
        "红牌",
        "省市重大项目",
    ]
    assert [[cell.value for cell in row] for row in book["投资完成"].iter_rows()][-1] == [
        "合计",
        "15000.00",
        "1800.00",
        "12.0%",
    ]
    names = [row[0] for row in book["新开工"].iter_rows(min_row=2)]
    assert [(cell.value, cell.data_type) for cell in names] == [("乙项目", "s"), ("=1+2", "s")]
    assert [cell.value for cell in next(book["问题办理"].iter_rows(min_row=2))] == ["第二线", 4, 0, 1, 1, 0]
    assert [[cell.value for cell in row] for row in book["红牌"].iter_rows()] == [
        ["单位", "来源", "事由", "所属月份", "状态", "日期", "说明"],
        ["慈惠街", "月末督查", "亿元以上续建项目进度相对滞后", "2020-04", "已发放", "2020-05-14", None],
        ["长青街", "月度考核排名后3名", "月度考核等级排名后3名", "2020-04", "已发放", "2020-05-14", None],
    ]

    docx = await may.client.get(f"{REPORTS}/{listed[0]['id']}.docx", headers=street)
    doc = Document(io.BytesIO(docx.content))
    assert [p.text for p in doc.paragraphs[:2]] == ["要情专报", "第2期"]
    text = "\n".join(p.text for p in doc.paragraphs)
    assert (
        "截至2020年4月，全区重大产业项目年度计划投资15000.00万元，累计完成1800.00万元，完成率12.0%。" in text
    )
    assert "本周新开工项目2个。" in text
    assert "本周红牌变动2张（月末督查1张、月度考核排名后3名1张）。" in text
    new_starts = next(t for t in doc.tables if t.rows[0].cells[0].text == "项目名称")
    assert [[c.text for c in row.cells] for row in new_starts.rows][1:] == [
        ["乙项目", "第二线", "长青街", "2020-05-13"],
        ["=1+2", "第二线", "慈惠街", "2020-05-14"],
    ]
    assert len(doc.inline_shapes) == 1  # investment against plan, by line
    # The chart font covers every character the chart draws (the writer also refuses a missing glyph).
    assert (
        missing_chars("各包保线投资完成率完成率（%）" + "".join(r["label"] for r in w["investment_by_line"]))
        == ""
    )
    assert east_asian_fonts_everywhere(doc)

    # Frozen: a later fact about the week (a breach on Friday, told on Saturday) changes nothing in it.
    await publish(
        may,
        *problem_breached(org, "长青街", may.a, "道路未通", at(date(2020, 5, 13)), at(date(2020, 5, 15), 18)),
    )
    await may.settle()
    again = await may.client.get(f"{REPORTS}/{listed[0]['id']}", headers=street)
    assert again.json()["body"] == w
    assert (await may.client.get(f"{REPORTS}/{listed[0]['id']}.xlsx", headers=street)).content == xlsx.content
    assert (await may.client.get(f"{REPORTS}/{listed[0]['id']}.docx", headers=street)).content == docx.content


async def test_the_closure_scorecard_of_may_is_issued_when_the_month_closes(may):
    await may.move_clock(set=at(date(2020, 5, 19), 15))
    await publish(may, *may.p1.closed(at(date(2020, 5, 19), 15)))
    await may.move_clock(set=at(date(2020, 5, 26), 15))
    await publish(may, *may.p3.closed(at(date(2020, 5, 26), 15)))
    assert await reports(may, kind="closure_scorecard") == []
    await may.move_clock(set=datetime(2020, 6, 3, 9, tzinfo=TZ))
    [card] = await reports(may, kind="closure_scorecard", period="2020-05")
    assert (card["number"], card["as_of"], card["title"]) == (
        1,
        "2020-06-03T00:00:00+08:00",
        "困难问题销号成绩单（2020年5月）",
    )
    body = (await may.client.get(f"{REPORTS}/{card['id']}", headers=may.operator)).json()["body"]

    def row(r: dict) -> tuple:
        return (r["label"], r["due"], r["closed_on_time"], r["closed_late"], r["open"], r["closure_rate"])

    assert [row(r) for r in body["by_unit"]] == [
        ("金银湖街", 2, 1, 1, 0, "1.0000"),
        ("区行政审批局", 1, 0, 0, 1, "0.0000"),
    ]
    assert [row(r) for r in body["by_line"]] == [("第二线", 3, 1, 1, 1, "0.6667")]
    assert [(m["title"], m["status"]) for m in body["matters"]] == [
        ("施工图审查积压", "open"),
        ("水电接入迟缓", "closed_late"),
        ("用地指标未落实", "closed_on_time"),
    ]

    xlsx = (await may.client.get(f"{REPORTS}/{card['id']}.xlsx", headers=may.operator)).content
    book = load_workbook(io.BytesIO(xlsx))
    assert [[c.value for c in r] for r in book["按线"].iter_rows()] == [
        ["名称", "应销号", "按期销号", "逾期销号", "未销号", "销号率"],
        ["第二线", 3, 1, 1, 1, "66.7%"],
        ["合计", 3, 1, 1, 1, "66.7%"],
    ]
    doc = Document(
        io.BytesIO((await may.client.get(f"{REPORTS}/{card['id']}.docx", headers=may.operator)).content)
    )
    assert [p.text for p in doc.paragraphs[:2]] == ["困难问题销号成绩单", "第1期"]
    assert (
        "2020年5月，全区应销号问题和会议议定事项3个，按期销号1个，逾期销号1个，未销号1个，销号率66.7%。"
        in "\n".join(p.text for p in doc.paragraphs)
    )
    assert [[c.text for c in r.cells] for r in doc.tables[1].rows][1:] == [
        ["金银湖街", "2", "1", "1", "0", "100.0%"],
        ["区行政审批局", "1", "0", "0", "1", "0.0%"],
    ]
    assert len(doc.inline_shapes) == 1  # closure rates by line
    assert (
        missing_chars(
            f"{body['label']}各包保线销号率销号率（%）" + "".join(r["label"] for r in body["by_line"])
        )
        == ""
    )
    assert east_asian_fonts_everywhere(doc)

    published = [e for e in await may.published("scoring", "report.published") if e.kind != "daily_dispatch"]
    assert sorted((str(e.kind), e.number, e.period.start.isoformat()) for e in published) == [
        ("closure_scorecard", 1, "2020-05-01"),
        *[
            ("weekly_bulletin", n, d)
            for n, d in enumerate(["2020-05-04", "2020-05-11", "2020-05-18", "2020-05-25"], 1)
        ],
    ]
    assert all(e.audience == c.Audience(all_units=True) for e in published)
    scorecard = next(e for e in published if e.kind == "closure_scorecard")
    assert (scorecard.path, scorecard.effective_at) == (
        f"{REPORTS}/{card['id']}",
        datetime(2020, 6, 3, tzinfo=TZ),
    )
