"""The problem ledger (问题台账) as an Excel workbook a district office can use as it is (openpyxl)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]  # openpyxl ships no type information
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]

from lkg.common.clock import TZ
from lkg.common.xlsx import save_reproducible, store_text

#: The ledger's file name in ``Content-Disposition``.
FILENAME = "problem-ledger.xlsx"
STATE_LABEL = {
    "reported": "待受理",
    "accepted": "已受理",
    "assigned": "已交办",
    "answered": "已反馈",
    "in_progress": "办理中",
    "resolved": "已办结待销号",
    "closed": "已销号",
    "returned": "已退回",
    "withdrawn": "已撤回",
    "merged": "已合并",
}
LAYER_LABEL = {1: "第一层 项目责任单位", 2: "第二层 包保区级领导", 3: "第三层 区委区政府主要领导"}
HEADERS = [
    "序号",
    "项目名称",
    "问题标题",
    "问题类别",
    "问题描述",
    "需协调事项",
    "反映时间",
    "所在层级",
    "状态",
    "问题解决单位",
    "下一时限",
    "超时次数",
    "办结时间",
    "销号时间",
]


def _local(moment: datetime | None) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


def ledger_workbook(rows: list[Any], *, now: datetime) -> bytes:
    """The ledger of ``rows`` (:func:`lkg.issues.matters.queries.ledger_rows`) as of ``now``."""
    book = Workbook()
    sheet = book.active
    sheet.title = "问题台账"
    sheet.append([f"临空港重大产业项目难点堵点问题台账（截至 {_local(now)}）"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(HEADERS)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for n, row in enumerate(rows, start=1):
        sheet.append(
            [
                n,
                row.project_name or "",
                row.title,
                row.topic,
                row.description,
                row.help_requested or "",
                _local(row.reported_at),
                LAYER_LABEL.get(row.layer, str(row.layer)),
                STATE_LABEL.get(row.state, row.state),
                row.resolving_unit_name or "",
                _local(row.next_due),
                row.breaches,
                _local(row.resolved_at),
                _local(row.closed_at),
            ]
        )
    for column, width in zip(
        "ABCDEFGHIJKLMN", (6, 28, 28, 10, 40, 30, 17, 20, 12, 20, 17, 9, 17, 17), strict=True
    ):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A3"
    # Titles and names are typed by users: text, never a formula (issue #11 item 12).
    return save_reproducible(store_text(book), now)
