"""Spreadsheet formula injection (issue #11 item 12): every user-supplied cell of every workbook the platform
writes is text, never a formula, and an exported plan imported back unchanged is a no-op.

A project named ``=HYPERLINK(...)`` (registered over HTTP) is that text in the registry's ``plan.xlsx`` and
imports back as "unchanged" with no ``project.changed``; a problem titled ``=1+2*3`` is that text in the
issues service's ``ledger.xlsx``. (The approvals' weekly workbook: ``tests/test_approvals_hardening.py``.)
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import pytest_asyncio
from openpyxl import load_workbook

from lkg.common.testing.system import System
from lkg.registry.org.document import default_document, org_id
from lkg.registry.plan.workbook import SHEET, XLSX

INJECTED = '=HYPERLINK("http://evil.example/","点我")'


@pytest_asyncio.fixture(loop_scope="session")
async def system(lkg_system: System) -> AsyncIterator[System]:
    loaded = await lkg_system.client.post(
        "/api/v1/org/imports", json=default_document().model_dump(mode="json"), headers=lkg_system.operator
    )
    assert loaded.status_code == 200, loaded.text
    yield lkg_system


def formulas(data: bytes) -> list[str]:
    """The worksheets of an .xlsx that hold a formula anywhere."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [
            name
            for name in archive.namelist()
            if name.startswith("xl/worksheets/")
            and (b"<f>" in archive.read(name) or b"<f " in archive.read(name))
        ]


async def test_a_formula_typed_by_a_user_is_text_in_every_workbook_and_the_plan_imports_back_unchanged(
    system,
):
    c, h = system.client, system.operator
    created = await c.post(
        "/api/v1/projects",
        json={
            "name": INJECTED,
            "enterprise": "=1+2*3",
            "category": "industrial",
            "project_class": "new_start",
            "responsible_unit_id": str(org_id("street.jinyinhu")),
            "approval_type": "filing",
            "total_investment": "150000000.00",
            "plan_year": 2020,
            "planned_annual_investment": "50000000.00",
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]

    exported = await c.get("/api/v1/projects/plan.xlsx", params={"q": "HYPERLINK"}, headers=h)
    assert exported.status_code == 200, exported.text
    assert formulas(exported.content) == []
    sheet = load_workbook(io.BytesIO(exported.content))[SHEET]
    headers = [cell.value for cell in sheet[2]]
    [row] = list(sheet.iter_rows(min_row=3))
    cells = dict(zip(headers, row, strict=True))
    assert (cells["项目名称"].value, cells["项目名称"].data_type) == (INJECTED, "s")
    assert (cells["建设单位"].value, cells["建设单位"].data_type) == ("=1+2*3", "s")

    imported = await c.post(
        "/api/v1/projects/plan-imports", content=exported.content, headers={**h, "Content-Type": XLSX}
    )
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert (report["created"], report["updated"], report["unchanged"], report["rejected"]) == (0, 0, 1, 0)
    changed = [
        e for e in await system.published("registry", "project.changed") if str(e.aggregate_id) == project_id
    ]
    assert changed == []

    await system.settle()  # the issues service has the project
    reported = await c.post(
        "/api/v1/problems",
        json={
            "project_id": project_id,
            "title": "=1+2*3",
            "topic": "=SUM(A1:A9)",
            "description": "用地指标未落实",
        },
        headers=h,
    )
    assert reported.status_code == 201, reported.text
    ledger = await c.get("/api/v1/problems/ledger.xlsx", headers=h)
    assert ledger.status_code == 200, ledger.text
    assert formulas(ledger.content) == []
    rows = list(load_workbook(io.BytesIO(ledger.content)).active.iter_rows(min_row=3))
    [line] = [r for r in rows if r[2].value == "=1+2*3"]
    assert [(cell.value, cell.data_type) for cell in line[1:4]] == [
        (INJECTED, "s"),
        ("=1+2*3", "s"),
        ("=SUM(A1:A9)", "s"),
    ]
