"""The plan workbook (《重大产业项目推进计划》) on its own: what the export writes reads back the same,
and every reason a row is refused, at the row number Excel shows."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from lkg.common.clock import TZ
from lkg.common.events.contracts import ApprovalType, MilestoneType, ProjectCategory, ProjectClass
from lkg.common.http.problems import DomainError
from lkg.registry.plan.reading import MAX_UNPACKED_BYTES, read_plan
from lkg.registry.plan.workbook import COLUMNS, SHEET, ExportRow, write_plan

AS_OF = datetime(2020, 5, 1, 9, 0, tzinfo=TZ)
HEADERS = [c.header for c in COLUMNS if not c.read_only]


def _export_row(**overrides: Any) -> ExportRow:
    values: dict[str, Any] = {
        "project_id": uuid.UUID("00000000-0000-4000-8000-000000000001"),
        "project_code": "2019-420112-47-03-012345",
        "name": "【演示】临空港智能制造产业园",
        "enterprise": "武汉某智能装备有限公司",
        "enterprise_credit_code": "91420112MA4K00000X",
        "category": "industrial",
        "project_class": "new_start",
        "responsible_unit": "金银湖街",
        "approval_type": "filing",
        "provincial_municipal": True,
        "fast_track": False,
        "total_investment": Decimal("150000000.00"),
        "planned_annual_investment": Decimal("12345678.91"),
        "plan_year": 2020,
        "milestones": {
            MilestoneType.SIGNING: date(2020, 3, 1),
            MilestoneType.CONSTRUCTION_START: date(2020, 6, 30),
        },
        "line": "第二线（李丽）",
        "routing_reason": "按责任单位",
        "status": "active",
        "stage": "approval",
    }
    return ExportRow(**{**values, **overrides})


def _workbook(rows: list[dict[str, Any]], *, headers: list[str] = HEADERS, title: bool = True) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    if title:
        ws.append(["临空港重大产业项目推进计划"])
    ws.append(headers)
    for row in rows:
        ws.append([row.get(h) for h in headers])
    raw = io.BytesIO()
    wb.save(raw)
    return raw.getvalue()


def _good(**overrides: Any) -> dict[str, Any]:
    return {
        "项目名称": "【演示】新项目",
        "建设单位": "某企业",
        "项目类型": "工业",
        "项目类别": "计划新开工",
        "责任单位": "金银湖街",
        "总投资（万元）": 15000,
        "年度计划投资（万元）": 5000.5,
        "计划年度": 2020,
        "计划开工": date(2020, 6, 30),
        **overrides,
    }


def test_the_export_reads_back_as_it_was_written() -> None:
    rows = [
        _export_row(),
        _export_row(
            project_id=uuid.UUID("00000000-0000-4000-8000-000000000002"),
            project_code=None,
            name="【演示】农业项目",
            enterprise_credit_code=None,
            category="agricultural",
            project_class="preliminary",
            approval_type=None,
            provincial_municipal=False,
            total_investment=Decimal("9999999999999.99"),
            planned_annual_investment=Decimal("0.01"),
            milestones={},
            line=None,
        ),
    ]
    data = write_plan(rows, title="推进计划", as_of=AS_OF)
    assert data == write_plan(rows, title="推进计划", as_of=AS_OF)  # same rows, same bytes

    book = load_workbook(io.BytesIO(data))
    # The shared clock's time, not the wall clock's (openpyxl would stamp that on save).
    assert book.properties.modified == book.properties.created == datetime(2020, 5, 1, 1, 0)  # noqa: DTZ001
    sheet = book[SHEET]
    assert sheet["A1"].value == "推进计划"
    assert [c.value for c in sheet[2]] == [c.header for c in COLUMNS]
    third = {COLUMNS[i].header: c.value for i, c in enumerate(sheet[3])}
    assert third["总投资（万元）"] == 15000
    assert third["亿元以上"] == "是" and third["包保线"] == "第二线（李丽）" and third["省市重大项目"] == "是"
    assert {COLUMNS[i].header: c.value for i, c in enumerate(sheet[4])}["包保线"] == "待分线"

    parsed = read_plan(data)
    assert parsed.errors == [] and parsed.total == 2
    first, second = parsed.rows
    assert first.row == 3 and second.row == 4
    assert first.project_id == rows[0].project_id and first.project_code == "2019-420112-47-03-012345"
    assert (first.category, first.project_class, first.approval_type) == (
        ProjectCategory.INDUSTRIAL,
        ProjectClass.NEW_START,
        ApprovalType.FILING,
    )
    assert (first.provincial_municipal, first.fast_track) == (True, False)
    assert first.total_investment == Decimal("150000000.00")
    assert first.planned_annual_investment == Decimal("12345678.91")
    assert first.milestones == {
        MilestoneType.SIGNING: date(2020, 3, 1),
        MilestoneType.CONSTRUCTION_START: date(2020, 6, 30),
    }
    assert first.enterprise_credit_code == "91420112MA4K00000X" and first.reason is None
    assert second.total_investment == Decimal("9999999999999.99")
    assert second.planned_annual_investment == Decimal("0.01")
    assert (second.project_code, second.approval_type, second.milestones) == (None, None, {})


def test_columns_are_found_by_header_in_any_order_and_extra_columns_are_ignored() -> None:
    headers = ["备注", *reversed(HEADERS)]
    data = _workbook([{**_good(), "备注": "区里自己加的列"}], headers=headers, title=False)
    parsed = read_plan(data)
    assert parsed.errors == []
    assert parsed.rows[0].row == 2 and parsed.rows[0].name == "【演示】新项目"
    assert parsed.rows[0].planned_annual_investment == Decimal("50005000.00")


def test_text_cells_are_read_as_a_district_types_them() -> None:
    row = _good(
        **{
            "总投资（万元）": "1,500.25",
            "计划开工": "2020/6/30",
            "计划签约": "2020年3月1日",
            "计划年度": "2020",
            "省市重大项目": "否",
            "批前提速": "是",
            "项目类型": "real_estate",
            "审批类型": "核准类",
        }
    )
    (parsed,) = read_plan(_workbook([row])).rows
    assert parsed.total_investment == Decimal("15002500.00")
    assert parsed.milestones == {
        MilestoneType.CONSTRUCTION_START: date(2020, 6, 30),
        MilestoneType.SIGNING: date(2020, 3, 1),
    }
    assert (parsed.plan_year, parsed.provincial_municipal, parsed.fast_track) == (2020, False, True)
    assert (parsed.category, parsed.approval_type) == (ProjectCategory.REAL_ESTATE, ApprovalType.RATIFICATION)


def test_every_reason_a_row_is_refused_with_its_row_number_and_column() -> None:
    letter = {h: chr(ord("A") + i) for i, h in enumerate(HEADERS)}
    rows = [
        _good(),  # row 3: fine
        _good(**{"项目名称": None, "责任单位": "   "}),  # row 4
        _good(**{"项目类型": "工业项目", "项目类别": "新开工", "审批类型": "审批类"}),  # row 5
        _good(**{"省市重大项目": "可能"}),  # row 6
        _good(**{"总投资（万元）": -1, "年度计划投资（万元）": "一千"}),  # row 7
        _good(**{"总投资（万元）": "1.0000001", "年度计划投资（万元）": 1e12}),  # row 8
        _good(**{"计划开工": "6月30日", "计划签约": "2020-02-30", "计划投产": date(1999, 12, 31)}),  # 9
        _good(**{"计划年度": 1999}),  # row 10
        _good(**{"项目ID": "not-a-uuid", "项目代码": "2019-420112"}),  # row 11
        _good(**{"项目名称": "x" * 201, "变更原因": "y" * 201}),  # row 12
        None,  # row 13: empty, skipped
        _good(**{"项目代码": "2019-420112-47-03-012345"}),  # row 14
        _good(**{"项目代码": "2019-420112-47-03-012345"}),  # row 15: same code again
        _good(**{"计划年度": True}),  # row 16
    ]
    for i, r in enumerate(rows, start=3):  # one name per row, but for row 17 below
        if r is not None and r["项目名称"] == "【演示】新项目":
            r["项目名称"] = f"【演示】项目{i}"
    rows.append(_good(**{"项目名称": "【演示】项目3"}))  # row 17: row 3 again (same name, same unit)
    parsed = read_plan(_workbook([r or {} for r in rows]))
    assert parsed.total == 14
    assert [r.row for r in parsed.rows] == [3, 14]
    found = [(e.row, e.column, e.header, e.code) for e in parsed.errors]
    assert found == [
        (4, letter["项目名称"], "项目名称", "required"),
        (4, letter["责任单位"], "责任单位", "required"),
        (5, letter["项目类型"], "项目类型", "unknown_choice"),
        (5, letter["项目类别"], "项目类别", "unknown_choice"),
        (5, letter["审批类型"], "审批类型", "unknown_choice"),
        (6, letter["省市重大项目"], "省市重大项目", "invalid_flag"),
        (7, letter["总投资（万元）"], "总投资（万元）", "invalid_amount"),
        (7, letter["年度计划投资（万元）"], "年度计划投资（万元）", "invalid_amount"),
        (8, letter["总投资（万元）"], "总投资（万元）", "amount_too_precise"),
        (8, letter["年度计划投资（万元）"], "年度计划投资（万元）", "amount_out_of_range"),
        (9, letter["计划签约"], "计划签约", "invalid_date"),
        (9, letter["计划开工"], "计划开工", "invalid_date"),
        (9, letter["计划投产"], "计划投产", "date_out_of_range"),
        (10, letter["计划年度"], "计划年度", "invalid_year"),
        (11, letter["项目ID"], "项目ID", "invalid_project_id"),
        (11, letter["项目代码"], "项目代码", "project_code_invalid"),
        (12, letter["项目名称"], "项目名称", "text_invalid"),
        (12, letter["变更原因"], "变更原因", "text_invalid"),
        (15, letter["项目代码"], "项目代码", "duplicate_in_workbook"),
        (16, letter["计划年度"], "计划年度", "invalid_year"),
        (17, letter["项目名称"], "项目名称", "duplicate_in_workbook"),
    ]
    messages = {(e.row, e.header): e.message for e in parsed.errors}
    assert messages[(4, "项目名称")] == "必填"
    assert messages[(5, "项目类型")] == "取值须为：工业、现代服务业、房地产、农业"
    assert messages[(5, "项目类别")] == "取值须为：前期项目、计划新开工、结转续建、完工投产"
    assert messages[(6, "省市重大项目")] == "须填“是”或“否”"
    assert messages[(7, "总投资（万元）")] == "须为不小于0的数字（万元）"
    assert messages[(8, "总投资（万元）")] == "万元金额最多6位小数（精确到分）"
    assert messages[(8, "年度计划投资（万元）")] == "金额超出范围（须小于10亿万元）"
    assert messages[(9, "计划签约")] == "日期不存在"
    assert messages[(9, "计划开工")] == "须为日期，如 2020-06-30"
    assert messages[(9, "计划投产")] == "日期须在2000–2100年之间"
    assert messages[(10, "计划年度")] == "计划年度须为2000–2100之间的整数"
    assert messages[(11, "项目ID")] == "项目ID格式不正确（导出时生成，请勿修改）"
    assert messages[(11, "项目代码")] == "项目代码应为24位，实际11位"
    assert messages[(12, "项目名称")] == "须为1–200个字符的文字，不能含控制字符"
    assert messages[(15, "项目代码")] == "与第14行重复"
    assert messages[(17, "项目名称")] == "与第3行重复"


@pytest.mark.parametrize(
    ("data", "code", "detail"),
    [
        (b"not a workbook", "plan_workbook_unreadable", "文件不是 Excel 工作簿（.xlsx）"),
        (b"PK\x03\x04 broken zip", "plan_workbook_unreadable", "文件不是可读取的 Excel 工作簿（.xlsx）"),
        (
            _workbook([], headers=["名称", "单位"]),
            "plan_headers_invalid",
            "前10行中没有找到表头（应有“项目名称”等列）",
        ),
        (
            _workbook([], headers=["项目名称", "建设单位"]),
            "plan_headers_invalid",
            "缺少必填列：项目类型、项目类别、责任单位、总投资（万元）、年度计划投资（万元）、计划年度",
        ),
        (_workbook([], headers=[*HEADERS, "项目名称"]), "plan_headers_invalid", "表头“项目名称”出现了两次"),
    ],
)
def test_a_workbook_that_cannot_be_read_is_refused_whole(data: bytes, code: str, detail: str) -> None:
    with pytest.raises(DomainError) as caught:
        read_plan(data)
    assert (caught.value.status, caught.value.code, caught.value.detail) == (422, code, detail)


def test_too_many_rows_are_refused() -> None:
    with pytest.raises(DomainError) as caught:
        read_plan(_workbook([_good() for _ in range(4)]), max_rows=3)
    assert (caught.value.code, caught.value.detail) == ("plan_too_many_rows", "一次最多导入3个项目")
    assert read_plan(_workbook([_good() for _ in range(3)]), max_rows=3).total == 3


def test_a_sheet_of_blank_rows_or_a_zip_bomb_is_refused_before_it_is_read() -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADERS)
    ws.append([_good().get(h) for h in HEADERS])
    ws.cell(row=30, column=30, value="备注")  # an unknown column far down: 29 physical rows, one project
    raw = io.BytesIO()
    wb.save(raw)
    assert read_plan(raw.getvalue(), max_rows=10).total == 1
    with pytest.raises(DomainError) as caught:
        read_plan(raw.getvalue(), max_rows=5)
    assert (caught.value.code, caught.value.detail) == (
        "plan_too_many_rows",
        "工作表超过20行（一次最多导入5个项目）",
    )

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (MAX_UNPACKED_BYTES + 1))
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(DomainError) as caught:
        read_plan(bomb.getvalue())
    assert (caught.value.code, caught.value.detail) == ("plan_unpacked_too_large", "工作簿解压后超过64 MiB")
