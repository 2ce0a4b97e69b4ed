"""Excel workbooks for reports: a styled header row per sheet, every text cell stored as text.

A value a user typed (a project's name, a unit's note) may begin with ``=``, ``+``, ``-`` or ``@``; openpyxl
would store such a string as a formula, which Excel then evaluates (formula injection). Here every ``str``
cell is a string cell whatever it begins with; numbers stay numbers. Saved with
:func:`lkg.common.xlsx.save_reproducible`, so the bytes depend only on the sheets and the moment.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from lkg.common.xlsx import save_reproducible

Cell = str | int | float | Decimal | None

HEADER_FILL = "DCE6F1"


@dataclass(frozen=True)
class Sheet:
    """One worksheet: ``title`` (at most 31 characters, Excel's limit), a header row and data rows."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def _width(value: Cell) -> int:
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def render_xlsx(sheets: Sequence[Sheet], as_of: datetime) -> bytes:
    """The sheets as .xlsx bytes dated ``as_of``: bold header on a fill, frozen under the header, filtered,
    columns sized to their widest cell (汉字 count double)."""
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    from openpyxl import Workbook  # type: ignore[import-untyped]  # openpyxl ships no type information
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    book = Workbook()
    book.remove(book.active)
    thin = Side(style="thin", color="808080")
    for sheet in sheets:
        if len(sheet.title) > 31:
            raise ValueError(f"sheet title longer than 31 characters: {sheet.title!r}")
        ws = book.create_sheet(sheet.title)
        widths = [_width(column) for column in sheet.columns]
        table: list[list[Cell]] = [list(sheet.columns), *[list(r) for r in sheet.rows]]
        for index, row in enumerate(table, start=1):
            if len(row) != len(sheet.columns):
                raise ValueError(f"{sheet.title}: row {index} has {len(row)} cells, the header {len(widths)}")
            for column, value in enumerate(row, start=1):
                cell = ws.cell(row=index, column=column)
                if isinstance(value, str):
                    cell.value = value
                    cell.data_type = "s"  # text, never a formula, whatever it begins with
                else:
                    cell.value = value
                cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
                widths[column - 1] = max(widths[column - 1], _width(value))
                if index == 1:
                    cell.font = Font(bold=True)
                    cell.fill = PatternFill("solid", start_color=HEADER_FILL, end_color=HEADER_FILL)
                    cell.alignment = Alignment(horizontal="center", vertical="center")
        for column, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 8), 60)
        ws.freeze_panes = "A2"
        if sheet.columns:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(sheet.columns))}{len(sheet.rows) + 1}"
    return save_reproducible(book, as_of)
