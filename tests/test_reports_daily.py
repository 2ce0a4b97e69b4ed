"""The frozen 日调度 over HTTP through the first working days after May Day 2020 (issue 16; policy §五(二)
"日调度"): the shared clock issues the dispatch board as each working day begins (00:00), and only on
working days — none from 1 to 5 May (the May Day holiday) nor on Sunday 10 May, one on the make-up
Saturday 9 May; each is numbered 第N期, frozen (a later fact changes nothing in it), announced with
``report.published`` to those who see something of it, read by reach (a street reads its own part, whose
files are rendered from that part of the frozen JSON), and downloads as Excel and Word holding the JSON's
figures, byte for byte the same twice and the same as a fresh render of the JSON, a ``=1+2`` project name
kept as text, an East Asian font on every run of Chinese text."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import date, datetime

import pytest_asyncio
import sqlalchemy as sa
from docx import Document
from openpyxl import load_workbook
from reports_world import REPORTS, east_asian_fonts_everywhere, listed
from scoring_world import Problem, at, project, publish

from lkg.common.auth import Role
from lkg.common.calendar import end_of_day
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.testing import eventually
from lkg.scoring.models import report
from lkg.scoring.reports import daily
from lkg.scoring.reports import schemas as s

UNITS = [("金银湖街", "street"), ("长青街", "street"), ("区行政审批局", "department")]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def days(reports_world):
    org = reports_world.org
    a = project(org, "金银湖街", "甲项目", 开工=date(2020, 6, 20))
    b = project(org, "长青街", "=1+2", 开工=date(2020, 5, 8))
    await publish(reports_world, a.registered(), b.registered())
    reports_world.a, reports_world.b = a, b
    return reports_world


async def dailies(system, headers=None) -> list[dict]:
    return await listed(system, headers, kind="daily_dispatch")


def states(body: dict) -> dict[str, tuple[str, str]]:
    return {p["name"]: (p["state"], p["reason"]) for p in body["projects"]}


async def test_a_daily_dispatch_is_issued_frozen_each_working_day_and_read_by_reach(days):
    org, a = days.org, days.a
    await days.move_clock(set=at(date(2020, 5, 7), 10))
    assert [(r["number"], r["period"]["start"], r["as_of"], r["title"]) for r in await dailies(days)] == [
        (2, "2020-05-07", "2020-05-07T00:00:00+08:00", "重大产业项目日调度（2020年5月7日）"),
        (1, "2020-05-06", "2020-05-06T00:00:00+08:00", "重大产业项目日调度（2020年5月6日）"),
    ]

    # A problem reported on the 7th, its acceptance due by the end of the 8th: on the 8th's dispatch it is
    # due today and 甲项目 is warned; the 7th's dispatch, issued before, does not show it.
    p = Problem(org, a, "金银湖街", "用地指标未落实")
    await publish(
        days,
        p.reported(
            at(date(2020, 5, 7), 11),
            p.clock("acceptance", at(date(2020, 5, 7), 11), end_of_day(date(2020, 5, 8))),
        ),
    )
    await days.move_clock(set=at(date(2020, 5, 11), 10))
    listed = await dailies(days)
    assert [(r["number"], r["period"]["start"]) for r in listed] == [
        (5, "2020-05-11"),
        (4, "2020-05-09"),  # the Saturday worked in exchange for May Day; Sunday the 10th has none
        (3, "2020-05-08"),
        (2, "2020-05-07"),
        (1, "2020-05-06"),
    ]
    by_day = {r["period"]["start"]: r for r in listed}
    seventh = (await days.client.get(f"{REPORTS}/{by_day['2020-05-07']['id']}", headers=days.operator)).json()
    assert states(seventh["body"])["甲项目"] == ("on_track", "无超时、预警事项")
    eighth = (await days.client.get(f"{REPORTS}/{by_day['2020-05-08']['id']}", headers=days.operator)).json()
    body = eighth["body"]
    assert (body["kind"], body["as_of"], body["day"], body["next_working_day"]) == (
        "daily_dispatch",
        "2020-05-08T00:00:00+08:00",
        "2020-05-08",
        "2020-05-09",
    )
    assert states(body)["甲项目"] == ("warning", "问题「用地指标未落实」即将到期")
    [line] = [g for g in body["lines"] if g["line_id"] == str(org.line)]
    assert [(m["title"], m["clock"]) for m in line["due_today"]] == [("用地指标未落实", "acceptance")]
    assert [(x["what"], x["text"]) for x in line["changes"]] == [
        ("problem.reported", "问题「用地指标未落实」反映"),
        ("project.state", "甲项目：正常 → 预警（问题「用地指标未落实」即将到期）"),
    ]
    assert [(m["project_name"], m["label"]) for m in line["milestones_this_week"]] == [("=1+2", "开工")]
    ninth = (await days.client.get(f"{REPORTS}/{by_day['2020-05-09']['id']}", headers=days.operator)).json()
    assert states(ninth["body"])["甲项目"] == ("breached", "问题「用地指标未落实」受理超时")
    assert (
        await days.client.get(
            REPORTS, params={"kind": "daily_dispatch", "period": "2020-05-08"}, headers=days.operator
        )
    ).json()["items"] == [by_day["2020-05-08"]]

    # The Word and Excel files: the JSON's figures, the same bytes twice and as a fresh render of the JSON.
    path = f"{REPORTS}/{eighth['id']}"
    docx = (await days.client.get(f"{path}.docx", headers=days.operator)).content
    assert (await days.client.get(f"{path}.docx", headers=days.operator)).content == docx
    issued = datetime.fromisoformat(eighth["published_at"])
    board = s.DispatchBoard.model_validate(body)
    assert daily.to_docx(board, 3, issued) == docx
    xlsx = (await days.client.get(f"{path}.xlsx", headers=days.operator)).content
    assert daily.to_xlsx(board, issued) == xlsx
    doc = Document(io.BytesIO(docx))
    text = "\n".join(p.text for p in doc.paragraphs) + "".join(
        cell.text for t in doc.tables for row in t.rows for cell in row.cells
    )
    assert "第3期" in text and "用地指标未落实" in text and "甲项目" in text
    assert east_asian_fonts_everywhere(doc)
    sheet = load_workbook(io.BytesIO(xlsx))["项目状态"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert sorted((r[1], r[0]) for r in rows) == [("=1+2", "正常"), ("甲项目", "预警")]
    formula = next(cell for row in sheet.iter_rows(min_row=2) for cell in row if cell.value == "=1+2")
    assert formula.data_type == "s"

    # Frozen: a later fact (the problem accepted, dated the 8th) leaves the 8th's dispatch byte for byte.
    await publish(
        days,
        p.accepted(
            at(date(2020, 5, 8), 9), p.clock("reply", at(date(2020, 5, 8), 9), end_of_day(date(2020, 5, 13)))
        ),
    )
    await days.settle()
    assert (await days.client.get(f"{path}.docx", headers=days.operator)).content == docx
    assert (await days.client.get(path, headers=days.operator)).json() == eighth

    # By reach: 长青街 reads its own project only, and its files are that part.
    street = days.auth(Role.UNIT_USER, person=str(org["长青街"].staff))
    assert [r["id"] for r in await dailies(days, street)] == [r["id"] for r in listed]
    mine = (await days.client.get(path, headers=street)).json()["body"]
    assert [p["name"] for p in mine["projects"]] == ["=1+2"]
    assert mine["counts"]["warning"] == 0
    assert all(g["due_today"] == [] for g in mine["lines"])
    part = (await days.client.get(f"{path}.docx", headers=street)).content
    part_text = "".join(
        cell.text for t in Document(io.BytesIO(part)).tables for row in t.rows for cell in row.cells
    )
    assert "甲项目" not in part_text and "用地指标未落实" not in part_text
    assert part == daily.to_docx(s.DispatchBoard.model_validate(mine), 3, issued)

    # Announced once each, at 00:00 of its day, to those who see something of it.
    published = [e for e in await days.published("scoring", "report.published") if e.kind == "daily_dispatch"]
    assert [(e.number, e.period.start.isoformat(), e.effective_at) for e in published] == [
        (n, d, datetime.fromisoformat(d).replace(tzinfo=TZ))
        for n, d in enumerate(["2020-05-06", "2020-05-07", "2020-05-08", "2020-05-09", "2020-05-11"], 1)
    ]
    audience = published[2].audience
    assert set(audience.unit_roles) == {
        c.UnitRole.MAJOR_PROJECTS_OFFICE,
        c.UnitRole.ASSESSMENT_OFFICE,
        c.UnitRole.SUPERVISION_OFFICE,
    }
    assert audience.post_kinds == (c.PostKind.DISTRICT_LEADER,)
    assert audience.line_ids == (org.line,)
    assert {org["金银湖街"].id, org["长青街"].id} <= set(audience.unit_ids)
    assert not audience.all_units


async def test_the_files_are_rendered_at_the_first_download_and_kept(days):
    """Issuing stores the JSON only (a clock jump over months renders no document); the first download of
    each file renders it from the frozen JSON and stores it; a first download racing another's keeps the
    file the other stored."""
    await days.move_clock(set=at(date(2020, 5, 12), 10))
    [latest, *_] = await dailies(days)
    assert latest["period"]["start"] == "2020-05-12"
    rid, path = uuid.UUID(latest["id"]), f"{REPORTS}/{latest['id']}"
    db = days.platform.runtimes["scoring"].db

    async def files() -> tuple[bytes | None, bytes | None]:
        async with db.sessions() as session:
            q = sa.select(report.c.xlsx, report.c.docx).where(report.c.id == rid)
            xlsx, docx = (await session.execute(q)).one()
            return xlsx, docx

    assert await files() == (None, None)

    body = (await days.client.get(path, headers=days.operator)).json()
    board = s.DispatchBoard.model_validate(body["body"])
    issued = datetime.fromisoformat(body["published_at"])
    xlsx = (await days.client.get(f"{path}.xlsx", headers=days.operator)).content
    assert xlsx == daily.to_xlsx(board, issued)
    assert await files() == (xlsx, None)
    assert (await days.client.get(f"{path}.xlsx", headers=days.operator)).content == xlsx

    async def waiting_for_the_row() -> bool:
        async with db.sessions() as session:
            q = sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE report%'"
            )
            return (await session.execute(q)).scalar_one() == 1

    # Another first download has stored its Word file and not yet committed: this one finds none, renders,
    # waits for the other's row and answers with the file the other stored, not its own render.
    async with db.transaction() as other:
        await other.execute(sa.update(report).where(report.c.id == rid).values(docx=b"stored first"))
        racing = asyncio.create_task(days.client.get(f"{path}.docx", headers=days.operator))
        await eventually(waiting_for_the_row, what="the download waits for the other's row")
    assert (await racing).content == b"stored first"
    assert await files() == (xlsx, b"stored first")

    async with db.transaction() as session:
        await session.execute(sa.update(report).where(report.c.id == rid).values(docx=None))
    docx = (await days.client.get(f"{path}.docx", headers=days.operator)).content
    assert docx == daily.to_docx(board, latest["number"], issued)
    assert await files() == (xlsx, docx)
