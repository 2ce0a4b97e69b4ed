"""The project plan as an Excel workbook (《重大产业项目推进计划》): write it, read it back row by row.

A district office keeps the year's plan in Excel; this module is the one place that knows the sheet's
shape. It is pure (bytes in, rows and row errors out; rows in, bytes out): matching rows to projects,
resolving unit names and applying the changes are the import use case's (:mod:`lkg.registry.plan.service`);
reading a workbook back is :mod:`lkg.registry.plan.reading`.

The sheet: a title in row 1, Chinese headers in row 2, one project per row from row 3. Columns are found
by their header, so a district may reorder them or add its own (ignored). Money is in **万元** (ten
thousand yuan), as the plan and the bulletins show it; the API keeps yuan, so 1.5 万元 is
15000.00 yuan and a 万元 amount may have at most 6 decimals (exact to the fen). 亿元以上, the line and the
routing basis are exported for reading and never imported: the first is derived from total investment,
the others from the routing rules (policy §一(一)); so is the stage (阶段), derived from the milestones
achieved and the investment reported (:mod:`lkg.registry.projects.stage`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lkg.common.events.contracts import (
    ONE_HUNDRED_MILLION_YUAN,
    ApprovalType,
    MilestoneType,
    ProjectCategory,
    ProjectClass,
    ProjectStatus,
)
from lkg.common.http.problems import DomainError
from lkg.common.xlsx import XLSX_MEDIA_TYPE, save_reproducible, store_text
from lkg.registry.projects.stage import STAGE_LABELS, ProjectStage

XLSX = XLSX_MEDIA_TYPE
#: What an upload may say it is: the workbook's own type, or plain bytes (what many HTTP clients send for
#: a file); either way the content must be a workbook.
UPLOAD_MEDIA_TYPES = (XLSX, "application/octet-stream")
SHEET = "推进计划"
#: 万元, the plan's unit of money, in yuan.
WAN = Decimal(10_000)

CATEGORY_LABELS: dict[ProjectCategory, str] = {
    ProjectCategory.INDUSTRIAL: "工业",
    ProjectCategory.SERVICES: "现代服务业",
    ProjectCategory.REAL_ESTATE: "房地产",
    ProjectCategory.AGRICULTURAL: "农业",
}
CLASS_LABELS: dict[ProjectClass, str] = {
    ProjectClass.PRELIMINARY: "前期项目",
    ProjectClass.NEW_START: "计划新开工",
    ProjectClass.CONTINUING: "结转续建",
    ProjectClass.COMPLETING: "完工投产",
}
APPROVAL_LABELS: dict[ApprovalType, str] = {
    ApprovalType.RATIFICATION: "核准类",
    ApprovalType.FILING: "备案类",
}
STATUS_LABELS: dict[ProjectStatus, str] = {
    ProjectStatus.ACTIVE: "在库",
    ProjectStatus.TERMINATED: "已解约",
    ProjectStatus.DEREGISTERED: "已销号",
}
#: The plan's milestone columns (节点, policy §三(一)); 其他 milestones have no column and stay as they are.
MILESTONE_HEADERS: dict[MilestoneType, str] = {
    MilestoneType.NEGOTIATION: "计划洽谈",
    MilestoneType.SIGNING: "计划签约",
    MilestoneType.LAND_DEPOSIT: "计划缴纳土地保证金",
    MilestoneType.CAPITAL_INJECTION: "计划进资",
    MilestoneType.CONSTRUCTION_START: "计划开工",
    MilestoneType.COMPLETION: "计划竣工",
    MilestoneType.PRODUCTION_START: "计划投产",
    MilestoneType.FULL_PRODUCTION: "计划达产",
}
YES, NO = "是", "否"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    width: int
    required: bool = False
    #: Exported for reading, ignored on import (derived by the registry).
    read_only: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("seq", "序号", 6, read_only=True),
    Column("project_id", "项目ID", 38),
    Column("project_code", "项目代码", 28),
    Column("name", "项目名称", 36, required=True),
    Column("enterprise", "建设单位", 30, required=True),
    Column("enterprise_credit_code", "统一社会信用代码", 22),
    Column("category", "项目类型", 12, required=True),
    Column("project_class", "项目类别", 12, required=True),
    Column("responsible_unit", "责任单位", 16, required=True),
    Column("approval_type", "审批类型", 10),
    Column("provincial_municipal", "省市重大项目", 12),
    Column("fast_track", "批前提速", 10),
    Column("total_investment", "总投资（万元）", 16, required=True),
    Column("planned_annual_investment", "年度计划投资（万元）", 18, required=True),
    Column("plan_year", "计划年度", 10, required=True),
    *(Column(f"milestone.{t.value}", h, 14) for t, h in MILESTONE_HEADERS.items()),
    Column("reason", "变更原因", 24),
    Column("above_100m", "亿元以上", 10, read_only=True),
    Column("line", "包保线", 18, read_only=True),
    Column("routing_reason", "分线依据", 40, read_only=True),
    Column("status", "状态", 8, read_only=True),
    Column("stage", "阶段", 10, read_only=True),
)
BY_HEADER = {c.header: c for c in COLUMNS}
BY_HEADER_KEY = {c.key: c for c in COLUMNS}


class PlanWorkbookUnreadable(DomainError):
    code = "plan_workbook_unreadable"
    status = 422
    title = "无法读取推进计划工作簿"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415
    title = "不支持的文件类型"


# ---- writing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRow:
    """What the export writes for one project (the registry's rows, flattened by the caller)."""

    project_id: uuid.UUID
    project_code: str | None
    name: str
    enterprise: str
    enterprise_credit_code: str | None
    category: str
    project_class: str
    responsible_unit: str
    approval_type: str | None
    provincial_municipal: bool
    fast_track: bool
    total_investment: Decimal
    planned_annual_investment: Decimal
    plan_year: int
    milestones: Mapping[MilestoneType, date]
    line: str | None
    routing_reason: str
    status: str
    stage: str


def _yuan_to_wan(yuan: Decimal) -> float:
    # A float holds 15 significant digits exactly, which is every amount the API admits (13 + 2), and
    # reading the cell back takes its shortest repr: the round trip is exact.
    return float(yuan / WAN)


def _values(seq: int, row: ExportRow) -> list[Any]:
    by_key: dict[str, Any] = {
        "seq": seq,
        "project_id": str(row.project_id),
        "project_code": row.project_code,
        "name": row.name,
        "enterprise": row.enterprise,
        "enterprise_credit_code": row.enterprise_credit_code,
        "category": CATEGORY_LABELS[ProjectCategory(row.category)],
        "project_class": CLASS_LABELS[ProjectClass(row.project_class)],
        "responsible_unit": row.responsible_unit,
        "approval_type": APPROVAL_LABELS[ApprovalType(row.approval_type)] if row.approval_type else None,
        "provincial_municipal": YES if row.provincial_municipal else NO,
        "fast_track": YES if row.fast_track else NO,
        "total_investment": _yuan_to_wan(row.total_investment),
        "planned_annual_investment": _yuan_to_wan(row.planned_annual_investment),
        "plan_year": row.plan_year,
        "reason": None,
        "above_100m": YES if row.total_investment >= ONE_HUNDRED_MILLION_YUAN else NO,
        "line": row.line or "待分线",
        "routing_reason": row.routing_reason,
        "status": STATUS_LABELS[ProjectStatus(row.status)],
        "stage": STAGE_LABELS[ProjectStage(row.stage)],
    }
    for kind in MILESTONE_HEADERS:
        by_key[f"milestone.{kind.value}"] = row.milestones.get(kind)
    return [by_key[c.key] for c in COLUMNS]


def write_plan(rows: Sequence[ExportRow], *, title: str, as_of: datetime) -> bytes:
    """The plan as a workbook a district office can use as it is, and import again unchanged. The same
    rows at the same time give the same bytes (fixed document properties and zip entry times)."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # openpyxl ships no type information
    from openpyxl.styles import Alignment, Font, PatternFill  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    ws.append([c.header for c in COLUMNS])
    grey = PatternFill("solid", fgColor="DDDDDD")
    for i, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=2, column=i)
        cell.font = Font(bold=True, color="C00000" if column.required else "000000")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        if column.read_only:
            cell.fill = grey
        ws.column_dimensions[get_column_letter(i)].width = column.width
    for seq, row in enumerate(rows, start=1):
        ws.append(_values(seq, row))
    for i, column in enumerate(COLUMNS, start=1):
        if column.key.startswith("milestone."):
            fmt = "yyyy-mm-dd"
        elif column.key in ("total_investment", "planned_annual_investment"):
            fmt = "#,##0.00####"
        else:
            continue
        for cells in ws.iter_rows(min_row=3, min_col=i, max_col=i):
            for cell in cells:
                cell.number_format = fmt
    ws.freeze_panes = "E3"
    notes = wb.create_sheet("填表说明")
    notes.append(["列", "是否必填", "说明"])
    for column in COLUMNS:
        notes.append([column.header, "必填" if column.required else "", _NOTES.get(column.key, "")])
    notes.column_dimensions["A"].width = 22
    notes.column_dimensions["C"].width = 90
    # Names are typed by users: text, never a formula (a project named =HYPERLINK(...) stays that text and
    # imports back unchanged; issue #11 item 12).
    return save_reproducible(store_text(wb), as_of)


_NOTES = {
    "seq": "仅供阅读，导入时忽略",
    "project_id": (
        "系统生成；新项目留空。导入时按项目ID（其次按项目代码）匹配已有项目，匹配到则更新，否则新建"
    ),
    "project_code": "全国投资项目在线审批监管平台的24位项目代码（可空）",
    "category": "、".join(CATEGORY_LABELS.values()),
    "project_class": "、".join(CLASS_LABELS.values()),
    "responsible_unit": "组织目录中的单位名称，如 金银湖街",
    "approval_type": "、".join(APPROVAL_LABELS.values()) + "（可空）",
    "provincial_municipal": f"{YES}/{NO}（空=新项目为{NO}，已有项目不变）",
    "fast_track": f"{YES}/{NO}（空=新项目为{NO}，已有项目不变）",
    "total_investment": "单位：万元（最多6位小数）；亿元以上由此推导",
    "planned_annual_investment": "单位：万元（最多6位小数）",
    "plan_year": "如 2020；已有项目的计划年度不能通过导入修改",
    "reason": "修改已有项目的计划节点日期时必填（调整计划须说明原因，年度基线不变）",
    "above_100m": "由总投资推导，导入时忽略",
    "line": "由分线规则确定，导入时忽略",
    "routing_reason": "由分线规则确定，导入时忽略",
    "status": "导入时忽略；已解约、已销号的项目不能通过导入修改",
    "stage": "由已完成节点和投资上报推导（前期、审批、开工、投资、竣工、达产达效），导入时忽略",
}
for _kind, _header in MILESTONE_HEADERS.items():
    _NOTES[f"milestone.{_kind.value}"] = "计划日期，如 2020-06-30；空=不设（已有节点不变）"
