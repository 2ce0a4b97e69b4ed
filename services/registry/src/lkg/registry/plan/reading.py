"""Reading the plan workbook back (《重大产业项目推进计划》): bytes in, rows and row errors out.

Pure, like :mod:`lkg.registry.plan.workbook` (the sheet's shape and the writing): matching rows to
projects and applying them are :mod:`lkg.registry.plan.service`'s. Columns are found by their header, so a
district may reorder them or add its own (ignored); each cell is checked and a bad one is a row error with
its row, column and reason.
"""

from __future__ import annotations

import io
import itertools
import re
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter, ValidationError

from lkg.common.events.contracts import (
    ApprovalType,
    MilestoneType,
    ProjectCategory,
    ProjectClass,
)
from lkg.common.http.types import Text
from lkg.registry.plan.workbook import (
    APPROVAL_LABELS,
    BY_HEADER,
    BY_HEADER_KEY,
    CATEGORY_LABELS,
    CLASS_LABELS,
    COLUMNS,
    MILESTONE_HEADERS,
    NO,
    SHEET,
    WAN,
    YES,
    PlanWorkbookUnreadable,
)
from lkg.registry.projects.projectcode import check_project_code

#: At most this many project rows in one workbook (the 2020 plan has 245).
MAX_ROWS = 5000
#: The header row is looked for in the first rows (a district may add a line or two above it).
_HEADER_SEARCH_ROWS = 10
#: Columns read (the plan has 27; a district may add its own after them).
_MAX_COLUMNS = 100
#: What a workbook may unpack to: a 5,000-row plan is about 7 MiB unpacked.
MAX_UNPACKED_BYTES = 64 * 2**20
#: The API's money type: at most 13 digits of yuan before the point (``lkg.common.http.types.Yuan``).
_MAX_YUAN = Decimal(10) ** 13


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row: its Excel row number, the column (letter and header) and why."""

    row: int
    column: str | None
    header: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "header": self.header,
            "code": self.code,
            "message": self.message,
        }


@dataclass
class PlanRow:
    """One project row, parsed and checked on its own (no database): money in yuan."""

    row: int
    project_id: uuid.UUID | None
    project_code: str | None
    name: str
    enterprise: str
    enterprise_credit_code: str | None
    category: ProjectCategory
    project_class: ProjectClass
    responsible_unit: str
    approval_type: ApprovalType | None
    provincial_municipal: bool | None
    fast_track: bool | None
    total_investment: Decimal
    planned_annual_investment: Decimal
    plan_year: int
    milestones: dict[MilestoneType, date] = field(default_factory=dict)
    reason: str | None = None
    #: Where each field sits, to point an error the import finds later at its cell.
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedPlan:
    rows: list[PlanRow]
    errors: list[RowError]
    #: Data rows seen (empty rows skipped), valid or not.
    total: int

    @property
    def rejected_rows(self) -> set[int]:
        return {e.row for e in self.errors}


_TEXT = TypeAdapter(Text)
_DATE_TEXT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_AMOUNT_TEXT = re.compile(r"^\d{1,12}(\.\d+)?$")


class _CellError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return _TEXT.validate_python(str(value))
    except ValidationError:
        raise _CellError("text_invalid", "须为1–200个字符的文字，不能含控制字符") from None


def _choice(value: Any, labels: Mapping[Any, str]) -> Any:
    text = str(value).strip()
    for member, label in labels.items():
        if text in (label, member.value):
            return member
    raise _CellError("unknown_choice", f"取值须为：{'、'.join(labels.values())}")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text in (YES, "Y", "y", "√"):
        return True
    if text in (NO, "N", "n"):
        return False
    raise _CellError("invalid_flag", f"须填“{YES}”或“{NO}”")


def _wan_to_yuan(value: Any) -> Decimal:
    """万元 in the cell, yuan out: exact, non-negative, at most 6 decimals of 万元 (the fen)."""
    if isinstance(value, bool):
        raise _CellError("invalid_amount", "须为不小于0的数字（万元）")
    if isinstance(value, int | float):
        if isinstance(value, float) and value != value:  # NaN
            raise _CellError("invalid_amount", "须为不小于0的数字（万元）")
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        text = str(value).strip().replace(",", "").replace("，", "")
        if not _AMOUNT_TEXT.fullmatch(text):
            raise _CellError("invalid_amount", "须为不小于0的数字（万元）")
        amount = Decimal(text)
    if amount < 0:
        raise _CellError("invalid_amount", "须为不小于0的数字（万元）")
    try:
        yuan = amount * WAN
        exact = yuan.quantize(Decimal("0.01"))
    except InvalidOperation:
        raise _CellError("amount_out_of_range", "金额超出范围") from None
    if exact != yuan:
        raise _CellError("amount_too_precise", "万元金额最多6位小数（精确到分）")
    if exact >= _MAX_YUAN:
        raise _CellError("amount_out_of_range", "金额超出范围（须小于10亿万元）")
    return exact


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        m = _DATE_TEXT.fullmatch(str(value).strip())
        if m is None:
            raise _CellError("invalid_date", "须为日期，如 2020-06-30")
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise _CellError("invalid_date", "日期不存在") from None
    if not 2000 <= day.year <= 2100:
        raise _CellError("date_out_of_range", "日期须在2000–2100年之间")
    return day


def _year(value: Any) -> int:
    if isinstance(value, bool):
        raise _CellError("invalid_year", "计划年度须为2000–2100之间的整数")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 2000 <= value <= 2100:
        raise _CellError("invalid_year", "计划年度须为2000–2100之间的整数")
    return value


def _project_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise _CellError("invalid_project_id", "项目ID格式不正确（导出时生成，请勿修改）") from None


def _project_code(value: Any) -> str:
    checked = check_project_code(str(value))
    if not checked.ok:
        raise _CellError("project_code_invalid", checked.errors[0])
    return checked.code


_PARSERS = {
    "project_id": _project_id,
    "project_code": _project_code,
    "name": _text,
    "enterprise": _text,
    "enterprise_credit_code": _text,
    "category": lambda v: _choice(v, CATEGORY_LABELS),
    "project_class": lambda v: _choice(v, CLASS_LABELS),
    "responsible_unit": _text,
    "approval_type": lambda v: _choice(v, APPROVAL_LABELS),
    "provincial_municipal": _flag,
    "fast_track": _flag,
    "total_investment": _wan_to_yuan,
    "planned_annual_investment": _wan_to_yuan,
    "plan_year": _year,
    "reason": _text,
}


def _open(data: bytes) -> Any:
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # openpyxl ships no type information

    if not data.startswith(b"PK"):
        raise PlanWorkbookUnreadable("文件不是 Excel 工作簿（.xlsx）")
    try:
        # A small upload may unpack to gigabytes (a zip bomb): refuse before openpyxl reads any of it.
        # zipfile stops each entry at its declared size, so the declared sizes bound what is read.
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise PlanWorkbookUnreadable("文件不是可读取的 Excel 工作簿（.xlsx）") from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise PlanWorkbookUnreadable(
            f"工作簿解压后超过{MAX_UNPACKED_BYTES // 2**20} MiB", code="plan_unpacked_too_large"
        )
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and key errors alike on a damaged file
        raise PlanWorkbookUnreadable("文件不是可读取的 Excel 工作簿（.xlsx）") from exc


def _header_map(rows: list[tuple[Any, ...]]) -> tuple[int, dict[str, int]]:
    """The header row (1-based) and each known column's 0-based position."""
    for number, values in enumerate(rows[:_HEADER_SEARCH_ROWS], start=1):
        headers = [str(v).strip() if v is not None else "" for v in values]
        if BY_HEADER_KEY["name"].header not in headers:
            continue
        positions: dict[str, int] = {}
        for i, header in enumerate(headers):
            column = BY_HEADER.get(header.replace("(", "（").replace(")", "）"))
            if column is None or column.read_only:
                continue
            if column.key in positions:
                raise PlanWorkbookUnreadable(f"表头“{header}”出现了两次", code="plan_headers_invalid")
            positions[column.key] = i
        missing = [c.header for c in COLUMNS if c.required and c.key not in positions]
        if missing:
            raise PlanWorkbookUnreadable(f"缺少必填列：{'、'.join(missing)}", code="plan_headers_invalid")
        return number, positions
    raise PlanWorkbookUnreadable(
        f"前{_HEADER_SEARCH_ROWS}行中没有找到表头（应有“项目名称”等列）", code="plan_headers_invalid"
    )


def read_plan(data: bytes, *, max_rows: int = MAX_ROWS) -> ParsedPlan:
    """Parse and check every row on its own; a bad row gives one error per bad cell, with its row number
    as Excel shows it. Unknown columns are ignored; read-only ones (亿元以上, 包保线, …) too."""
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    workbook = _open(data)
    try:
        sheet = workbook[SHEET] if SHEET in workbook.sheetnames else workbook.worksheets[0]
        # Physical rows are bounded too (blank rows between projects are fine, a million are not).
        limit = _HEADER_SEARCH_ROWS + 2 * max_rows
        raw = [
            tuple(r)
            for r in itertools.islice(sheet.iter_rows(values_only=True, max_col=_MAX_COLUMNS), limit + 1)
        ]
    except Exception as exc:
        raise PlanWorkbookUnreadable("文件不是可读取的 Excel 工作簿（.xlsx）") from exc
    finally:
        workbook.close()
    if len(raw) > limit:
        raise PlanWorkbookUnreadable(
            f"工作表超过{limit}行（一次最多导入{max_rows}个项目）", code="plan_too_many_rows"
        )
    header_row, positions = _header_map(raw)
    letters = {key: get_column_letter(i + 1) for key, i in positions.items()}
    milestone_keys = {f"milestone.{t.value}": t for t in MILESTONE_HEADERS}
    parsed = ParsedPlan(rows=[], errors=[], total=0)
    seen: dict[tuple[str, Any], int] = {}
    for number, values in enumerate(raw[header_row:], start=header_row + 1):
        cells = {key: (values[i] if i < len(values) else None) for key, i in positions.items()}
        if all(_blank(v) for v in cells.values()):
            continue
        parsed.total += 1
        if parsed.total > max_rows:
            raise PlanWorkbookUnreadable(f"一次最多导入{max_rows}个项目", code="plan_too_many_rows")
        out: dict[str, Any] = {}
        errors: list[RowError] = []
        for key, value in cells.items():
            column = BY_HEADER_KEY[key]
            if _blank(value):
                if column.required:
                    errors.append(RowError(number, letters[key], column.header, "required", "必填"))
                continue
            try:
                out[key] = _day(value) if key in milestone_keys else _PARSERS[key](value)
            except _CellError as exc:
                errors.append(RowError(number, letters[key], column.header, exc.code, exc.message))
        if "name" in out and "responsible_unit" in out:
            # A project is one row: the same name at the same unit twice is a copy-paste slip.
            first = seen.setdefault(("name", (out["name"], out["responsible_unit"])), number)
            if first != number:
                errors.append(
                    RowError(
                        number, letters["name"], "项目名称", "duplicate_in_workbook", f"与第{first}行重复"
                    )
                )
        for key in ("project_id", "project_code"):
            if key in out:
                first = seen.setdefault((key, out[key]), number)
                if first != number:
                    errors.append(
                        RowError(
                            number,
                            letters[key],
                            BY_HEADER_KEY[key].header,
                            "duplicate_in_workbook",
                            f"与第{first}行重复",
                        )
                    )
        if errors:
            parsed.errors.extend(errors)
            continue
        parsed.rows.append(
            PlanRow(
                row=number,
                project_id=out.get("project_id"),
                project_code=out.get("project_code"),
                name=out["name"],
                enterprise=out["enterprise"],
                enterprise_credit_code=out.get("enterprise_credit_code"),
                category=out["category"],
                project_class=out["project_class"],
                responsible_unit=out["responsible_unit"],
                approval_type=out.get("approval_type"),
                provincial_municipal=out.get("provincial_municipal"),
                fast_track=out.get("fast_track"),
                total_investment=out["total_investment"],
                planned_annual_investment=out["planned_annual_investment"],
                plan_year=out["plan_year"],
                milestones={t: out[k] for k, t in milestone_keys.items() if k in out},
                reason=out.get("reason"),
                columns=dict(letters),
            )
        )
    return parsed
