"""The weekly report as an Excel workbook (审批进展周报); every text cell stored as text (a project named
``=1+2*3`` is that text, not a formula)."""

from __future__ import annotations

from lkg.approvals import schemas
from lkg.common.xlsx import save_reproducible, store_text

STATE_LABELS = {
    "planned": "未申报",
    "submitted": "已申报",
    "accepted": "已受理",
    "supplement_requested": "待补正",
    "resubmitted": "已补正",
    "granted": "已办结",
    "rejected": "不予许可",
    "withdrawn": "已撤回",
    "waived": "区域评估免办",
}
MODE_LABELS = {"standard": "", "commitment": "（承诺审批）", "build_first": "（先建后验）"}


def weekly_report_xlsx(report: schemas.WeeklyReport) -> bytes:
    """The report as an Excel workbook, byte for byte the same for the same report (fixed document
    properties and zip entry times)."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # openpyxl ships no type information
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    wb = Workbook()
    ws = wb.active
    ws.title = "审批进展"
    ws.append([f"计划新开工及批前提速、承诺审批、先建后验项目审批进展（{report.report_day.isoformat()}）"])
    ws["A1"].font = Font(bold=True)
    ws.append(["项目名称", "项目类别", "批前提速", "审批模式", *report.columns])
    for row in report.rows:
        cells = []
        for column in report.columns:
            cell = row.cells[column]
            if cell.state is None:
                cells.append("—")
            else:
                label = STATE_LABELS[cell.state] + MODE_LABELS.get(cell.mode or "standard", "")
                cells.append(f"{label} {cell.on.isoformat()}" if cell.on else label)
        ws.append(
            [
                row.project_name,
                {"new_start": "计划新开工", "preliminary": "前期项目"}.get(
                    row.project_class, row.project_class
                ),
                "是" if row.fast_track else "否",
                "、".join({"commitment": "承诺审批", "build_first": "先建后验"}[m] for m in row.modes)
                or "常规",
                *cells,
            ]
        )
    # Project and item names are typed by users: text, never a formula. Dated as of the report, not the
    # wall clock: the same week rendered twice is the same file.
    return save_reproducible(store_text(wb), report.as_of)
