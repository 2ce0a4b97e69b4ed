"""The 月度通报 over HTTP through May 2020 (issue 16; policy §五(二), §六(三)): none before the month is
published; once 重大项目办 confirms it, every unit can download it as JSON, Excel and Word, numbered 第1期,
and the Excel and Word files hold the same figures as the JSON; downloading twice gives the same bytes."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest_asyncio
from docx import Document
from openpyxl import load_workbook
from scoring_world import Org, at, problem_breached, project, publish, scoring_world

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.issues.app import SPEC as ISSUES
from lkg.scoring.app import SPEC as SCORING
from lkg.scoring.periods import period_id

MAY = period_id("month", date(2020, 5, 1))
BULLETIN = f"/api/v1/reports/monthly-bulletins/{MAY}"


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
        # 丙项目 is reported not enrolled: May's month-end round proposes a card, which 督查室 confirms.
        cc = project(org, "慈惠街", "丙项目", {"enrolment_status": "failed"}, 进资=date(2020, 5, 25))
        d = project(org, "临空产业办", "丁项目", 签约=date(2020, 5, 10), 开工=date(2020, 6, 20))
        await publish(system, a.registered(), b.registered(), cc.registered(), d.registered())
        await system.move_clock(set=at(date(2020, 5, 10), 12))
        await publish(system, d.achieved("签约", date(2020, 5, 10), at(date(2020, 5, 10), 12)))
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
        supervisor = system.auth(Role.SUPERVISION_OFFICE, person="00000000-0000-0000-0000-000000000007")
        [card] = (await system.client.get("/api/v1/red-cards", headers=supervisor)).json()["items"]
        etag = (await system.client.get(f"/api/v1/red-cards/{card['id']}", headers=supervisor)).headers[
            "ETag"
        ]
        confirmed = await system.client.post(
            f"/api/v1/red-cards/{card['id']}/confirmation", headers={**supervisor, "If-Match": etag}
        )
        assert confirmed.status_code == 200, confirmed.text
        await system.settle()
        system.card = card  # type: ignore[attr-defined]
        system.org = org  # type: ignore[attr-defined]
        yield system


async def test_no_bulletin_before_the_month_is_published(month):
    street = month.auth(Role.UNIT_USER, person=str(month.org["金银湖街"].staff))
    await month.move_clock(set=datetime(2020, 6, 3, 9, 0, tzinfo=TZ))
    listed = await month.client.get("/api/v1/reports/monthly-bulletins", headers=street)
    assert (listed.status_code, listed.json()) == (200, {"items": []})
    for suffix in ("", ".xlsx", ".docx"):
        got = await month.client.get(BULLETIN + suffix, headers=street)
        assert (got.status_code, got.json()["code"]) == (404, "bulletin_not_found")


async def test_the_published_month_downloads_as_json_xlsx_and_docx_with_the_same_figures(month):
    org = month.org
    got = await month.client.get(f"/api/v1/evaluations/periods/{MAY}", headers=month.operator)
    confirmed = await month.client.post(
        f"/api/v1/evaluations/periods/{MAY}/confirmation",
        json={"tie_carded": [str(org["区行政审批局"].id)], "tie_reason": "施工许可超时影响开工，情节较重"},
        headers={**month.operator, "If-Match": got.headers["ETag"]},
    )
    assert confirmed.status_code == 200, confirmed.text

    street = month.auth(Role.UNIT_USER, person=str(org["金银湖街"].staff))
    listed = (await month.client.get("/api/v1/reports/monthly-bulletins", headers=street)).json()["items"]
    assert [(b["period_id"], b["label"], b["number"]) for b in listed] == [(str(MAY), "2020年5月", 1)]

    reply = await month.client.get(BULLETIN, headers=street)
    assert reply.status_code == 200, reply.text
    bulletin = reply.json()
    ranking = [(e["rank"], e["label"], e["score"], e["grade"], e["carded"]) for e in bulletin["ranking"]]
    assert ranking == [
        (1, "临空产业办", "110.00", "excellent", False),
        (2, "金银湖街", "100.00", "pass", False),
        (3, "区自然资源局", "75.00", "fail", False),
        (3, "区行政审批局", "75.00", "fail", True),
        (5, "慈惠街", "0.00", "fail", True),
        (5, "长青街", "0.00", "fail", True),
    ]
    assert sorted(bulletin["carded"]) == sorted(["区行政审批局", "慈惠街", "长青街"])
    assert [x["label"] for x in bulletin["interviews"]] == bulletin["carded"]
    assert sorted(x["label"] for x in bulletin["statements"]) == sorted(
        ["区自然资源局", "区行政审批局", "慈惠街", "长青街"]
    )
    assert bulletin["number"] == 1
    # The month's red cards, of both sources: the supervision round's (counted on 慈惠街's sheet, already
    # at 0) and the ranking's bottom 3 (requested at publication, so no card id yet).
    assert [
        (x["source"], x["label"], x["reason"], x["red_card_id"], x["issued_on"], x["note"])
        for x in bulletin["red_cards"]
    ] == [
        (
            "supervision",
            "慈惠街",
            "not_enrolled",
            month.card["id"],
            "2020-05-29",
            "督查红牌（项目未入统）2020-05-29认定：丙项目：统计局报告项目未通过审核入库",
        ),
        ("ranking", "区行政审批局", "bottom_of_ranking", None, None, "月度考核等级排名第3名"),
        ("ranking", "慈惠街", "bottom_of_ranking", None, None, "月度考核等级排名第5名"),
        ("ranking", "长青街", "bottom_of_ranking", None, None, "月度考核等级排名第5名"),
    ]
    source = {"supervision": "月末督查", "ranking": "月度考核排名后3名"}
    card_rows = [
        [x["label"], source[x["source"]], x["reason_label"], x["issued_on"] or "", x["note"]]
        for x in bulletin["red_cards"]
    ]

    grade = {"excellent": "优秀", "pass": "合格", "fail": "不合格"}
    expected_rows = [
        [str(r), label, score, grade[g], "是" if carded else ""] for r, label, score, g, carded in ranking
    ]

    xlsx = await month.client.get(BULLETIN + ".xlsx", headers=street)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["考核排名", "表态发言", "约谈", "按线投资", "按单位投资", "红牌"]
    card_header = ["单位", "来源", "事由", "认定日期", "说明"]
    assert [[cell.value or "" for cell in row] for row in book["红牌"].iter_rows()] == [
        card_header,
        *card_rows,
    ]
    rows = [[cell.value or "" for cell in row] for row in book["考核排名"].iter_rows()]
    assert rows == [["排名", "单位", "得分", "等级", "红牌"], *expected_rows]
    assert [row[0].value for row in book["约谈"].iter_rows(min_row=2)] == bulletin["carded"]

    docx = await month.client.get(BULLETIN + ".docx", headers=street)
    assert docx.status_code == 200
    doc = Document(io.BytesIO(docx.content))
    assert [p.text for p in doc.paragraphs[:2]] == ["重大产业项目建设月度通报", "第1期"]
    table = doc.tables[0]
    assert [[cell.text for cell in row.cells] for row in table.rows] == [
        ["排名", "单位", "得分", "等级", "红牌"],
        *expected_rows,
    ]
    assert len(doc.inline_shapes) == 1  # the scores chart
    text = "\n".join(p.text for p in doc.paragraphs)
    assert f"约谈单位主要负责人：{'、'.join(bulletin['carded'])}。" in text
    assert "本月红牌4张：月末督查1张，月度考核排名后3名3张。" in text
    assert [[cell.text for cell in row.cells] for row in doc.tables[4].rows] == [card_header, *card_rows]

    def invested(rows: list[dict]) -> list[list[str]]:
        def rate(value: str | None) -> str:
            return "—" if value is None else f"{float(value) * 100:.1f}%"

        return [
            [  # 元 in the JSON, 万元 in the tables
                r["label"],
                f"{float(r['plan']) / 10000:.2f}",
                f"{float(r['year_to_date']) / 10000:.2f}",
                rate(r["completion"]),
            ]
            for r in rows
        ]

    by_line, by_unit = invested(bulletin["investment_by_line"]), invested(bulletin["investment_by_unit"])
    assert len(by_unit) == 4  # the four projects' responsible units
    header = ["名称", "年度计划投资（万元）", "累计完成（万元）", "完成率"]
    for table, sheet, rows in ((doc.tables[2], "按线投资", by_line), (doc.tables[3], "按单位投资", by_unit)):
        assert [[cell.text for cell in row.cells] for row in table.rows] == [header, *rows]
        assert [[cell.value for cell in row] for row in book[sheet].iter_rows()] == [header, *rows]

    again = await month.client.get(BULLETIN + ".docx", headers=street)
    assert again.content == docx.content
    assert (await month.client.get(BULLETIN + ".xlsx", headers=street)).content == xlsx.content
