"""API models of the plan workbook's import (``POST /api/v1/projects/plan-imports``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class PlanImportMode(StrEnum):
    """导入方式 / import mode: ``all`` 全部或全不（有错误行则不导入任何项目）;
    ``valid_rows`` 只导入无错误的行."""

    ALL = "all"
    VALID_ROWS = "valid_rows"


class PlanRowErrorOut(BaseModel):
    """一行的错误 / what is wrong with one row of the workbook."""

    row: int = Field(description="Excel 行号 / the row number as Excel shows it")
    column: str | None = Field(description="列字母，如 M / column letter (null: the whole row)")
    header: str | None = Field(description="列标题，如 计划开工 / column header")
    code: str = Field(description="稳定的错误代码 / stable code")
    message: str = Field(description="原因（中文）/ reason (zh-CN)")


class PlanRowResultOut(BaseModel):
    row: int
    project_id: UUID
    action: Literal["created", "updated", "unchanged"]


class PlanImportOut(BaseModel):
    """推进计划导入结果 / what an import did."""

    mode: PlanImportMode
    rows: int = Field(description="数据行数（空行不计）/ data rows read (empty rows skipped)")
    created: int
    updated: int
    unchanged: int
    rejected: int = Field(description="有错误未导入的行数 / rows not imported")
    results: list[PlanRowResultOut]
    errors: list[PlanRowErrorOut]
