"""The project plan (《重大产业项目推进计划》) in Excel, as a district office and 重大项目办 use it over HTTP:
export what one sees, edit the workbook, import it back (new projects registered and routed, existing ones
changed with history), a bad row refusing the whole import unless only the valid rows are asked for, every
event once; and ``lkg import plan.xlsx`` against the running deployment. Also the list's ``sort=`` with
cursor pagination, unknown query parameters refused, and Idempotency-Key on the registry's creates."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from openpyxl import Workbook, load_workbook

from lkg.common.auth import Role
from lkg.common.testing.system import System
from lkg.registry.org.document import default_document, org_id
from lkg.registry.plan.workbook import COLUMNS, SHEET, XLSX

HEADERS = [c.header for c in COLUMNS if not c.read_only]
IMPORT = "/api/v1/projects/plan-imports"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(lkg_system: System) -> AsyncIterator[System]:
    """Every service running, with the 2020 directory loaded (the units the workbook names)."""
    loaded = await lkg_system.client.post(
        "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=lkg_system.operator
    )
    assert loaded.status_code == 200, loaded.text
    yield lkg_system


def workbook(rows: list[dict[str, Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(["临空港重大产业项目推进计划（2020年）"])
    ws.append(HEADERS)
    for row in rows:
        ws.append([row.get(h) for h in HEADERS])
    raw = io.BytesIO()
    wb.save(raw)
    return raw.getvalue()


def row(name: str, unit: str = "金银湖街", **extra: Any) -> dict[str, Any]:
    return {
        "项目名称": name,
        "建设单位": "【演示】某企业",
        "项目类型": "工业",
        "项目类别": "计划新开工",
        "责任单位": unit,
        "审批类型": "备案类",
        "总投资（万元）": 15000,
        "年度计划投资（万元）": 5000,
        "计划年度": 2020,
        "计划签约": date(2020, 3, 1),
        "计划开工": date(2020, 6, 30),
        **extra,
    }


def sheet_rows(data: bytes) -> list[dict[str, Any]]:
    sheet = load_workbook(io.BytesIO(data))[SHEET]
    headers = [c.value for c in sheet[2]]
    return [
        dict(zip(headers, values, strict=True)) for values in sheet.iter_rows(min_row=3, values_only=True)
    ]


async def post_plan(
    system: System, data: bytes, *, mode: str | None = None, headers: dict[str, str] | None = None
):
    return await system.client.post(
        IMPORT + (f"?mode={mode}" if mode else ""),
        content=data,
        headers={**(headers or system.operator), "Content-Type": XLSX},
    )


async def events(system: System, event_type: str, ids: set[str]) -> list[Any]:
    """Every ``event_type`` the registry has published about these projects (after settling)."""
    return [e for e in await system.published("registry", event_type) if str(e.aggregate_id) in ids]


async def listed(system: System, query: str, headers: dict[str, str] | None = None) -> list[dict]:
    response = await system.client.get(
        f"/api/v1/projects?limit=200&{query}", headers=headers or system.operator
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_import_registers_routes_and_emits_once_then_changes_nothing_again(system: System) -> None:
    c, h = system.client, system.operator
    data = workbook(
        [
            row("【导入】金银湖智能制造", 项目代码="2019-420112-47-03-100001", 省市重大项目="是"),
            row("【导入】金银湖住宅", 项目类型="房地产"),
            row("【导入】机电配套", unit="机电产业办", 批前提速="是"),
        ]
    )
    key = str(uuid.uuid4())
    first = await post_plan(system, data, headers={**h, "Idempotency-Key": key})
    assert first.status_code == 200, first.text
    report = first.json()
    assert {k: report[k] for k in ("mode", "rows", "created", "updated", "unchanged", "rejected")} == {
        "mode": "all",
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert [(r["row"], r["action"]) for r in report["results"]] == [
        (3, "created"),
        (4, "created"),
        (5, "created"),
    ]
    assert report["errors"] == []
    ids = [r["project_id"] for r in report["results"]]

    smart, estate, machine = [(await c.get(f"/api/v1/projects/{i}", headers=h)).json() for i in ids]
    # Routed as the API routes (policy §一(一)): by unit, by category (real estate → line 6), or unrouted.
    assert (smart["line_id"], smart["routing_basis"]) == (str(org_id("line.2")), "responsible_unit")
    assert (estate["line_id"], estate["routing_basis"]) == (str(org_id("line.6")), "category")
    assert (machine["line_id"], machine["routing_basis"]) == (None, "unrouted")
    assert smart["project_code"] == "2019-420112-47-03-100001"
    assert smart["total_investment"] == "150000000.00" and smart["above_100m"] is True
    assert smart["planned_annual_investment"] == "50000000.00"
    assert (smart["provincial_municipal"], smart["fast_track"], machine["fast_track"]) == (True, False, True)
    assert smart["responsible_unit_id"] == str(org_id("street.jinyinhu"))
    assert [(m["type"], m["planned_date"], m["baseline_date"]) for m in smart["milestones"]] == [
        ("signing", "2020-03-01", "2020-03-01"),
        ("construction_start", "2020-06-30", "2020-06-30"),
    ]
    history = (await c.get(f"/api/v1/projects/{ids[0]}/history", headers=h)).json()
    assert [(e["action"], e["actor"]) for e in history] == [("registered", "person:operator")]

    # A retry with the same key replays the report; the same workbook with a new key changes nothing.
    again = await post_plan(system, data, headers={**h, "Idempotency-Key": key})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == report
    # The same workbook again without ids: the coded row matches its project, the others would be second
    # copies and are refused (nothing imported).
    twice = await post_plan(system, data)
    assert twice.status_code == 422
    assert [(e["row"], e["header"], e["code"]) for e in twice.json()["row_errors"]] == [
        (4, "项目名称", "project_exists"),
        (5, "项目名称", "project_exists"),
    ]
    exported = (await c.get("/api/v1/projects/plan.xlsx?q=【导入】", headers=h)).content
    fresh = (await post_plan(system, exported)).json()
    assert (fresh["created"], fresh["updated"], fresh["unchanged"]) == (0, 0, 3)
    assert sorted(r["project_id"] for r in fresh["results"]) == sorted(ids)

    registered = await events(system, "project.registered", set(ids))
    assert sorted(str(e.aggregate_id) for e in registered) == sorted(ids)
    assert await events(system, "project.changed", set(ids)) == []
    # The other services' read copies got each project once, at revision 1.
    for service in ("approvals", "issues"):
        copy = await c.get(f"/api/v1/read-copies/{service}/projects/{ids[1]}", headers=h)
        assert (copy.status_code, copy.json()["revision"]) == (200, 1)


async def test_an_exported_plan_edited_and_imported_back_updates_with_history(system: System) -> None:
    c, h = system.client, system.operator
    created = (await post_plan(system, workbook([row("【回导】长青物流园", unit="长青街")]))).json()
    (project_id,) = [r["project_id"] for r in created["results"]]

    exported = await c.get("/api/v1/projects/plan.xlsx?q=【回导】", headers=h)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == XLSX
    rows = sheet_rows(exported.content)
    assert len(rows) == 1
    (line,) = rows
    assert line["项目ID"] == project_id and line["项目名称"] == "【回导】长青物流园"
    assert (line["责任单位"], line["项目类型"], line["项目类别"]) == ("长青街", "工业", "计划新开工")
    assert (line["总投资（万元）"], line["年度计划投资（万元）"], line["亿元以上"]) == (15000, 5000, "是")
    assert line["计划开工"].date() == date(2020, 6, 30) and line["计划投产"] is None
    assert (line["包保线"], line["状态"]) == ("第三线", "在库")

    # The office edits the workbook: a smaller investment, 开工 re-planned with a reason, 投产 added, and
    # a new project below it.
    line.update({"总投资（万元）": 9000.5, "计划开工": date(2020, 8, 15), "计划投产": date(2021, 6, 30)})
    line["变更原因"] = "土地挂牌延后"
    edited = workbook([line, row("【回导】新增项目", unit="东山街")])
    missing_reason = workbook([{**line, "变更原因": None}])
    refused = await post_plan(system, missing_reason)
    assert refused.status_code == 422
    assert refused.json()["row_errors"] == [
        {
            "row": 3,
            "column": "W",
            "header": "变更原因",
            "code": "reason_required",
            "message": "调整计划节点（计划开工）须填写变更原因",
        }
    ]

    report = (await post_plan(system, edited)).json()
    assert [(r["row"], r["action"]) for r in report["results"]] == [(3, "updated"), (4, "created")]
    project = (await c.get(f"/api/v1/projects/{project_id}", headers=h)).json()
    assert project["total_investment"] == "90005000.00" and project["above_100m"] is False
    assert [(m["type"], m["planned_date"], m["baseline_date"]) for m in project["milestones"]] == [
        ("signing", "2020-03-01", "2020-03-01"),
        ("construction_start", "2020-08-15", "2020-06-30"),  # the baseline stays as it was
        ("production_start", "2021-06-30", None),
    ]
    history = (await c.get(f"/api/v1/projects/{project_id}/history", headers=h)).json()
    assert [(e["action"], e["reason"]) for e in history] == [
        ("registered", None),
        ("changed", "土地挂牌延后"),
        ("milestone_replanned", "土地挂牌延后"),
        ("milestone_added", "土地挂牌延后"),
    ]
    assert history[1]["changes"]["total_investment"] == ["150000000.00", "90005000.00"]
    changed = await events(system, "project.changed", {project_id})
    assert [e.revision for e in changed] == [2, 3, 4]
    assert changed[-1].project.total_investment == 90005000
    # Imported again as it is now: nothing changes, nothing is emitted.
    again = (
        await post_plan(system, (await c.get("/api/v1/projects/plan.xlsx?q=【回导】", headers=h)).content)
    ).json()
    assert (again["updated"], again["unchanged"], again["created"]) == (0, 2, 0)
    assert len(await events(system, "project.changed", {project_id})) == 3


async def test_a_bad_row_refuses_the_whole_import_and_valid_rows_mode_keeps_the_good_ones(
    system: System,
) -> None:
    taken = (
        await post_plan(system, workbook([row("【坏行】已有", 项目代码="2019-420112-47-03-200001")]))
    ).json()
    taken_id = taken["results"][0]["project_id"]
    before = await listed(system, "q=【坏行】")
    data = workbook(
        [
            row("【坏行】好项目一"),  # row 3
            row("【坏行】单位不存在", unit="不存在街"),  # row 4
            row("【坏行】日期错", 计划开工="2020-13-01"),  # row 5
            row("【坏行】代码占用", 项目ID=str(uuid.uuid4())),  # row 6: no such project
            row("【坏行】好项目二", unit="辛安渡街"),  # row 7
            row("【坏行】年度", 项目ID=taken_id, 计划年度=2021, 项目代码="2019-420112-47-03-200001"),  # 8
        ]
    )
    rejected = await post_plan(system, data)
    assert rejected.status_code == 422
    assert rejected.headers["content-type"] == "application/problem+json"
    body = rejected.json()
    assert (body["code"], body["rows"], body["rejected"]) == ("plan_import_rejected", 6, 4)
    assert body["detail"] == "推进计划共6行，其中4行有错误；未导入任何项目"
    assert [(e["row"], e["column"], e["header"], e["code"], e["message"]) for e in body["row_errors"]] == [
        (4, "H", "责任单位", "responsible_unit_unknown", "组织目录中没有此单位"),
        (5, "S", "计划开工", "invalid_date", "日期不存在"),
        (6, "A", "项目ID", "project_not_found", "项目库中没有此项目ID的项目"),
        (8, "N", "计划年度", "plan_year_differs", "与项目库的计划年度（2020）不一致，不能通过导入修改"),
    ]
    # Nothing changed: no project, no history, no event.
    assert await listed(system, "q=【坏行】") == before
    assert await events(system, "project.changed", {taken_id}) == []

    partial = await post_plan(system, data, mode="valid_rows")
    assert partial.status_code == 200, partial.text
    report = partial.json()
    assert (report["mode"], report["created"], report["rejected"]) == ("valid_rows", 2, 4)
    assert [r["row"] for r in report["results"]] == [3, 7]
    assert [e["row"] for e in report["errors"]] == [4, 5, 6, 8]
    names = sorted(p["name"] for p in await listed(system, "q=【坏行】"))
    assert names == ["【坏行】好项目一", "【坏行】好项目二", "【坏行】已有"]
    made = {r["project_id"] for r in report["results"]}
    assert len(await events(system, "project.registered", made)) == 2


async def test_rows_the_registry_refuses_for_the_state_of_their_project(system: System) -> None:
    c, h = system.client, system.operator
    made = await post_plan(
        system,
        workbook(
            [
                row("【状态】有代码", 项目代码="2019-420112-47-03-300001"),
                row("【状态】无代码"),
                row("【状态】已解约"),
                row("【状态】已签约"),
            ]
        ),
    )
    coded, plain, ended, signed = [r["project_id"] for r in made.json()["results"]]
    terminated = await c.post(
        f"/api/v1/projects/{ended}/terminations",
        json={"cause": "enterprise_fault", "reason": "企业逾期不开工", "terminated_on": "2020-05-01"},
        headers=h,
    )
    assert terminated.status_code == 200, terminated.text
    signing = (await c.get(f"/api/v1/projects/{signed}", headers=h)).json()["milestones"][0]
    achieved = await c.post(
        f"/api/v1/projects/{signed}/milestones/{signing['id']}/achievements",
        json={"actual_date": "2020-03-01"},
        headers=h,
    )
    assert achieved.status_code == 200, achieved.text

    report = await post_plan(
        system,
        workbook(
            [
                row("【状态】无代码", 项目ID=plain, 项目代码="2019-420112-47-03-300001"),  # row 3
                row("【状态】已解约", 项目ID=ended, **{"总投资（万元）": 1}),  # row 4
                row("【状态】已签约", 项目ID=signed, 计划签约=date(2020, 4, 1), 变更原因="补签"),  # row 5
                row("【状态】有代码", 项目ID=coded),  # row 6: a blank code leaves it as it is
            ]
        ),
        mode="valid_rows",
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert [(e["row"], e["column"], e["code"], e["message"]) for e in body["errors"]] == [
        (3, "B", "project_code_taken", "项目代码已被其他项目使用"),
        (4, "A", "project_not_active", "项目已解约或已销号，不能通过导入修改"),
        (5, "P", "milestone_achieved", "节点已完成，不能再调整计划日期"),
    ]
    assert [(r["row"], r["action"]) for r in body["results"]] == [(6, "unchanged")]
    ended_now = (await c.get(f"/api/v1/projects/{ended}", headers=h)).json()
    assert (ended_now["status"], ended_now["total_investment"]) == ("terminated", "150000000.00")


async def test_import_is_the_offices_and_the_export_follows_the_callers_reach(system: System) -> None:
    c = system.client
    data = workbook([row("【可见】金银湖项目"), row("【可见】东山项目", unit="东山街")])
    unit_user = system.auth(Role.UNIT_USER, person=str(org_id("person.li_li")))
    forbidden = await post_plan(system, data, headers=unit_user)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    assert (await post_plan(system, data)).status_code == 200

    # 李丽 leads line 2 (金银湖街): her export holds her line's project only; a filter narrows it further.
    leader = system.auth(Role.LINE_LEADER, person=str(org_id("person.li_li")))
    mine = sheet_rows((await c.get("/api/v1/projects/plan.xlsx?q=【可见】", headers=leader)).content)
    assert [r["项目名称"] for r in mine] == ["【可见】金银湖项目"]
    everything = sheet_rows(
        (await c.get("/api/v1/projects/plan.xlsx?q=【可见】", headers=system.operator)).content
    )
    assert sorted(r["项目名称"] for r in everything) == ["【可见】东山项目", "【可见】金银湖项目"]
    narrowed = await c.get(
        f"/api/v1/projects/plan.xlsx?q=【可见】&line_id={org_id('line.7')}&sort=-name",
        headers=system.operator,
    )
    assert [r["项目名称"] for r in sheet_rows(narrowed.content)] == ["【可见】东山项目"]
    nobody = system.auth(Role.UNIT_USER, person=str(uuid.uuid4()))
    assert sheet_rows((await c.get("/api/v1/projects/plan.xlsx?q=【可见】", headers=nobody)).content) == []


async def test_what_is_not_a_workbook_is_refused_and_changes_nothing(system: System) -> None:
    c, h = system.client, system.operator
    wrong_type = await c.post(IMPORT, content=b"a,b\n", headers={**h, "Content-Type": "text/csv"})
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (415, "unsupported_media_type")
    garbage = await post_plan(system, b"not a workbook")
    assert (garbage.status_code, garbage.json()["code"]) == (422, "plan_workbook_unreadable")
    headerless = await post_plan(system, _headerless())
    assert (headerless.status_code, headerless.json()["code"]) == (422, "plan_headers_invalid")
    mode = await post_plan(system, workbook([row("【模式】x")]), mode="some")
    assert mode.status_code == 422 and mode.json()["errors"][0]["loc"] == ["query", "mode"]
    unknown = await post_plan(system, workbook([row("【模式】x")]), mode="all&dry_run=1")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_query_parameter")
    assert await listed(system, "q=【模式】") == []
    # Plain bytes (what many HTTP clients send for a file) are read as the workbook they must be.
    as_bytes = await c.post(
        IMPORT,
        content=workbook([row("【模式】字节")]),
        headers={**h, "Content-Type": "application/octet-stream"},
    )
    assert (as_bytes.status_code, as_bytes.json()["created"]) == (200, 1)


def _headerless() -> bytes:
    wb = Workbook()
    wb.active.append(["名称", "单位"])
    raw = io.BytesIO()
    wb.save(raw)
    return raw.getvalue()


async def test_the_list_sorts_by_a_field_and_pages_through_it(system: System) -> None:
    c, h = system.client, system.operator
    amounts = [30000, 10000, 50000, 20000, 40000]
    await post_plan(
        system,
        workbook(
            [row(f"【排序】{n}", **{"总投资（万元）": a}) for n, a in zip("ebcad", amounts, strict=True)]
        ),
    )

    async def walk(sort: str) -> list[str]:
        names, cursor = [], None
        while True:
            url = f"/api/v1/projects?q=【排序】&limit=2&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
            page = (await c.get(url, headers=h)).json()
            names += [p["total_investment"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return names

    ascending = await walk("total_investment")
    assert ascending == ["100000000.00", "200000000.00", "300000000.00", "400000000.00", "500000000.00"]
    assert await walk("-total_investment") == list(reversed(ascending))
    by_name = [p["name"] for p in await listed(system, "q=【排序】&sort=name")]
    assert by_name == [f"【排序】{n}" for n in "abcde"]
    assert [p["name"] for p in await listed(system, "q=【排序】&sort=-name")] == list(reversed(by_name))

    first = (await c.get("/api/v1/projects?q=【排序】&limit=2&sort=name", headers=h)).json()
    other = await c.get(f"/api/v1/projects?q=【排序】&sort=-name&cursor={first['next_cursor']}", headers=h)
    assert (other.status_code, other.json()["code"]) == (400, "invalid_cursor")
    bad = await c.get("/api/v1/projects?sort=enterprise", headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "sort"]
    misspelt = await c.get("/api/v1/projects?line=1&unrouted=true", headers=h)
    assert misspelt.status_code == 422
    assert misspelt.json()["code"] == "unknown_query_parameter"
    assert misspelt.json()["errors"] == [
        {"loc": ["query", "line"], "msg": "未定义的查询参数", "type": "extra_forbidden"}
    ]


async def test_creates_take_an_idempotency_key(system: System) -> None:
    c, h = system.client, system.operator
    (project_id,) = [
        r["project_id"] for r in (await post_plan(system, workbook([row("【幂等】项目")]))).json()["results"]
    ]
    report = {
        "year": 2020,
        "month": 4,
        "amount": "1000000.00",
        "reported_by_unit_id": str(org_id("street.jinyinhu")),
    }
    key = {**h, "Idempotency-Key": str(uuid.uuid4())}
    once = await c.post(f"/api/v1/projects/{project_id}/investment-reports", json=report, headers=key)
    twice = await c.post(f"/api/v1/projects/{project_id}/investment-reports", json=report, headers=key)
    assert (once.status_code, twice.status_code, twice.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert once.json() == twice.json() and once.json()["supersedes"] is None
    reused = await c.post(
        f"/api/v1/projects/{project_id}/investment-reports", json={**report, "month": 5}, headers=key
    )
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    commitment = {"side": "enterprise", "description": "按期开工", "due_date": "2020-12-31"}
    key = {**h, "Idempotency-Key": str(uuid.uuid4())}
    a = await c.post(f"/api/v1/projects/{project_id}/commitments", json=commitment, headers=key)
    b = await c.post(f"/api/v1/projects/{project_id}/commitments", json=commitment, headers=key)
    assert (a.status_code, b.status_code, a.json()["id"]) == (201, 201, b.json()["id"])
    assert len((await c.get(f"/api/v1/projects/{project_id}/commitments", headers=h)).json()) == 1
    milestone = {"type": "completion", "planned_date": "2021-12-31", "reason": "补充竣工节点"}
    key = {**h, "Idempotency-Key": str(uuid.uuid4())}
    m1 = await c.post(f"/api/v1/projects/{project_id}/milestones", json=milestone, headers=key)
    m2 = await c.post(f"/api/v1/projects/{project_id}/milestones", json=milestone, headers=key)
    assert (m1.status_code, m2.status_code, m1.json()["id"]) == (201, 201, m2.json()["id"])


async def test_lkg_import_imports_a_workbook_into_the_running_deployment(
    system: System, nats_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "plan.xlsx"
    path.write_bytes(workbook([row("【命令行】项目一"), row("【命令行】项目二", unit="不存在街")]))
    env = {
        **os.environ,
        "DATABASE_URL": system.service_settings["registry"].database_url,
        "NATS_URL": nats_url,
        "LKG_NATS_PREFIX": system.settings.nats_prefix,
        "COLUMNS": "120",
    }
    lkg = str(Path(sys.executable).with_name("lkg"))

    async def run(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            lkg,
            "import",
            str(path),
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    code, out = await run()
    assert code == 1, out
    assert "组织目录中没有此单位" in out
    assert "推进计划共2行，其中1行有错误；未导入任何项目" in out
    assert await listed(system, "q=【命令行】") == []

    code, out = await run("--valid-rows", "--actor", "cli:测试")
    assert code == 0, out
    assert "导入推进计划" in out and "plan.xlsx: 2 行；新建 1，更新 0，未变 0，错误 1" in out
    (made,) = await listed(system, "q=【命令行】")
    assert made["name"] == "【命令行】项目一" and made["line_id"] == str(org_id("line.2"))
    now = (await system.client.get("/api/v1/dev/clock", headers=system.operator)).json()["now"]
    # The deployment's shared (simulated) clock, not the wall clock.
    assert datetime.fromisoformat(made["created_at"]) == datetime.fromisoformat(now)
    history = (
        await system.client.get(f"/api/v1/projects/{made['id']}/history", headers=system.operator)
    ).json()
    assert [(e["action"], e["actor"]) for e in history] == [("registered", "cli:测试")]
    # Its event went out through the outbox like any other registration, once.
    assert len(await events(system, "project.registered", {made["id"]})) == 1
