"""API models of the approvals service."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from lkg.common.events.contracts import ApprovalMode, ApprovalType, BudgetUnit, UnitRole
from lkg.common.http.types import Instant, LongText, Text

ItemState = Literal[
    "planned",
    "submitted",
    "accepted",
    "supplement_requested",
    "resubmitted",
    "granted",
    "rejected",
    "withdrawn",
    "waived",
]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,62}$")]
DocumentRef = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


def _json_integer(value: object) -> object:
    """Refuse what JSON does not call an integer (``"20"``, ``true``) and let pydantic take the rest.

    Why not ``StrictInt``: JSON has one number type, and JSON Schema's ``integer`` admits ``20.0``; a
    client that writes its day counts as floats sends exactly what the document allows. ``20.5`` is still
    refused (pydantic's ``int_from_float``).
    """
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# Day counts in a request body: JSON integers (``20`` or ``20.0``), never strings or booleans. The bounds
# sit inside the type, under the validator, so the document shows them as ``minimum``/``maximum``.
LimitDays = Annotated[int, Field(ge=1, le=3650), BeforeValidator(_json_integer)]
PrereviewDays = Annotated[int, Field(ge=0, le=365), BeforeValidator(_json_integer)]


def _not_nullable(schema: dict[str, Any], model: type[Any]) -> None:
    """The document of a :class:`ChangeBody`: a field that may be omitted but not cleared is not ``null``
    (nor defaults to it) in the OpenAPI document either."""
    for name, field in schema.get("properties", {}).items():
        if name in model.CLEARABLE:
            continue
        field.pop("default", None)
        variants = [v for v in field.get("anyOf", ()) if v != {"type": "null"}]
        if "anyOf" in field and len(variants) == 1:
            del field["anyOf"]
            field.update(variants[0])
        elif "anyOf" in field:
            field["anyOf"] = variants


class ChangeBody(BaseModel):
    """A change (PATCH) body: an omitted field stays as it is; an explicit ``null`` clears only a field in
    :attr:`CLEARABLE` and is refused (422 ``null_not_allowed`` at the field, nothing changed) for every
    other one, which the database could not hold empty (it answered 500) or which would be cleared
    silently."""

    #: Fields that ``null`` clears.
    CLEARABLE: ClassVar[frozenset[str]] = frozenset()

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_nullable)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in cls.CLEARABLE:
            raise PydanticCustomError("null_not_allowed", "此字段不可为 null；不修改请省略该字段")
        return value


#: Years a day on the API may fall in. The weekly report's XLSX cannot carry a date before 1980 (ZIP
#: timestamps), and no project of the programme is planned outside this range.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)

#: ``YYYY-MM-DD`` from 2000-01-01 to 2100-12-31, and only real dates (30 and 31-day months, 29 February
#: in leap years: 2000 is one, 2100 is not), so the schema admits exactly what the server does.
_DAY_PATTERN = (
    r"^(?:(?:20\d\d|2100)-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))|20(?:0[048]|[2468][048]|[13579][26])-02-29)$"
)


def _parse_day(value: object) -> object:
    """Only ``YYYY-MM-DD`` within :data:`FIRST_DAY`..:data:`LAST_DAY`: pydantic's lax ``date`` would also
    take ``0`` or ``"0"`` as a Unix timestamp (1970-01-01)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        if FIRST_DAY <= value <= LAST_DAY:
            return value
    elif isinstance(value, str) and re.fullmatch(_DAY_PATTERN, value):
        return value
    raise PydanticCustomError(
        "day_invalid",
        "日期须为 YYYY-MM-DD，介于 {first} 与 {last} 之间",
        {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
    )


#: A calendar day in a request (query or body): ``YYYY-MM-DD``, 2000-01-01..2100-12-31.
Day = Annotated[
    date,
    BeforeValidator(_parse_day),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DAY_PATTERN,
            "description": "日期 YYYY-MM-DD，2000-01-01 至 2100-12-31 / a day, 2000-01-01 to 2100-12-31",
            "examples": ["2020-05-08"],
        }
    ),
]

Schema = TypeVar("Schema", bound=BaseModel)


def from_row(schema: type[Schema], row: object, **computed: Any) -> Schema:
    """``schema`` from the attributes of ``row`` that bear its fields' names, and ``computed`` for the rest
    (what the row does not hold or holds otherwise)."""
    values = {name: getattr(row, name) for name in schema.model_fields if name not in computed}
    return schema.model_validate({**values, **computed})


# ---- catalogue -----


class Prerequisites(BaseModel):
    """前置事项（按审批类型）/ prerequisites per approval type (catalogue codes)."""

    model_config = ConfigDict(extra="forbid")

    ratification: list[Code] = Field(default_factory=list, max_length=50, description="核准类")
    filing: list[Code] = Field(default_factory=list, max_length=50, description="备案类")


class CatalogueItemOut(BaseModel):
    """审批事项目录条目 / an approval kind in the catalogue."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    revision: int
    code: str
    name: str
    handling_unit_id: UUID | None = Field(
        description="承办部门（登记服务的单位 id）；未解析时为空 / handling unit"
    )
    handling_unit_role: UnitRole | None
    handling_unit_name: str
    limit_days: StrictInt = Field(description="办理时限 / time limit")
    limit_unit: BudgetUnit = Field(description="working 工作日 / calendar 自然日")
    source: str = Field(description="时限依据或假设 / where the default comes from")
    applies_to: list[ApprovalType]
    prerequisites: Prerequisites
    modes: list[ApprovalMode]
    start_gate: bool = Field(description="开工闸口（施工许可证）/ the item construction waits for")
    report_column: str | None = Field(description="周报栏目 / column of the weekly report")
    prereview_days: int
    prereviewed_days: int
    verification_days: int
    verification_unit: BudgetUnit
    inspection_days: int
    inspection_unit: BudgetUnit
    source_version: str
    updated_at: Instant


class CatalogueItemCreate(BaseModel):
    """新增审批事项 / add an approval kind."""

    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Text
    handling_unit_id: UUID | None = None
    handling_unit_role: UnitRole | None = None
    handling_unit_name: Text
    limit_days: LimitDays
    limit_unit: BudgetUnit
    source: LongText
    applies_to: list[ApprovalType] = Field(min_length=1, max_length=2)
    prerequisites: Prerequisites = Field(default_factory=Prerequisites)
    modes: list[ApprovalMode] = Field(
        default_factory=lambda: [ApprovalMode.STANDARD], min_length=1, max_length=3
    )
    start_gate: StrictBool = False
    report_column: Text | None = None
    prereview_days: PrereviewDays = 5
    prereviewed_days: PrereviewDays = 3
    verification_days: LimitDays = 20
    verification_unit: BudgetUnit = BudgetUnit.WORKING
    inspection_days: LimitDays = 60
    inspection_unit: BudgetUnit = BudgetUnit.CALENDAR


class CatalogueItemUpdate(ChangeBody):
    """修改审批事项（需 If-Match）；已生成的计划不受影响；仅 handling_unit_id、report_column 可置 null /
    change an approval kind (plans already made keep their copy); only ``handling_unit_id`` and
    ``report_column`` may be cleared with null."""

    CLEARABLE = frozenset({"handling_unit_id", "report_column"})

    name: Text | None = None
    handling_unit_id: UUID | None = None
    handling_unit_name: Text | None = None
    limit_days: LimitDays | None = None
    limit_unit: BudgetUnit | None = None
    source: LongText | None = None
    applies_to: list[ApprovalType] | None = Field(default=None, min_length=1, max_length=2)
    prerequisites: Prerequisites | None = None
    modes: list[ApprovalMode] | None = Field(default=None, min_length=1, max_length=3)
    report_column: Text | None = None
    prereview_days: PrereviewDays | None = None
    prereviewed_days: PrereviewDays | None = None
    verification_days: LimitDays | None = None
    inspection_days: LimitDays | None = None


class CatalogueList(BaseModel):
    items: list[CatalogueItemOut]


# ---- plans and items -----


class ClockOut(BaseModel):
    """一个时限 / one clock on an item: used, left, due, provisional."""

    id: UUID
    kind: Literal["limit", "verification", "inspection"] = Field(
        description="limit 办理时限 / verification 承诺核查 / inspection 事后验收"
    )
    state: Literal["running", "met", "breached", "cancelled"]
    started_at: Instant
    budget: int
    unit: BudgetUnit
    used: StrictInt = Field(description="已用天数（按单位计）/ days used")
    left: StrictInt = Field(description="剩余天数，负数为超期 / days left, negative when overdue")
    due_at: Instant | None = Field(description="到期时刻；补正期间为空 / due; empty while paused")
    provisional: bool = Field(description="按临时日历计算 / computed on a provisional calendar")
    paused: bool = Field(description="等待补正，计时暂停 / paused for a supplement")
    overdue: bool
    warned_at: Instant | None
    breached_at: Instant | None
    ended_at: Instant | None


class ItemOut(BaseModel):
    """审批事项 / one approval of a project's plan."""

    id: UUID
    revision: int
    plan_id: UUID
    project_id: UUID
    catalogue_item_id: UUID
    code: str
    name: str
    handling_unit_id: UUID | None
    handling_unit_name: str
    state: ItemState
    mode: ApprovalMode
    limit_days: int
    limit_unit: BudgetUnit
    prerequisites: list[str]
    start_gate: bool
    prereview_from: date | None = Field(description="批前提速预审开始 / pre-review from")
    prereview_to: date | None = Field(description="批前提速预审完成 / pre-review done by")
    submitted_at: Instant | None
    accepted_at: Instant | None
    decided_at: Instant | None
    certificate_no: str | None
    document_refs: list[str]
    notes: str | None
    assessment_id: UUID | None = Field(description="所依据的区域评估 / the regional assessment applied")
    limit_saved_days: int = Field(description="区域评估缩短的时限天数 / days off the limit")
    expected_finish: date | None = Field(default=None, description="预计办结日 / expected done")
    clocks: list[ClockOut]
    updated_at: Instant


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="下一页游标；没有更多时为空 / cursor of the next page")


class PlanAssessmentOut(BaseModel):
    """一项区域评估在本计划上的效力 / what one assessment does on this plan."""

    id: UUID
    kind: str
    title: str
    waived: list[str] = Field(description="免办事项编码 / items waived")
    shortened: dict[str, int] = Field(description="缩短事项及天数 / items shortened, days off")


class PlanSiteOut(BaseModel):
    """项目选址（来自项目登记）/ the project's site as the registry records it."""

    street_id: UUID | None
    park: str | None
    plot: str | None


class PlanOut(BaseModel):
    """项目审批计划 / a project's approval plan with every item and clock."""

    id: UUID
    revision: int
    project_id: UUID
    project_name: str
    responsible_unit_id: UUID
    line_id: UUID | None
    project_class: str
    approval_type: ApprovalType | None
    fast_track: bool
    project_status: str
    planned_start: date | None = Field(description="计划开工 / planned start")
    planned_start_override: date | None
    earliest_start: date | None = Field(description="最早可开工日 / earliest possible start")
    start_at_risk: bool
    time_saved_days: StrictInt | None = Field(description="批前提速节省天数 / days saved by the fast track")
    site: PlanSiteOut
    agent_person_id: UUID | None = Field(description="代办员（人员 id）/ the project's agent")
    assessment_saved_days: StrictInt | None = Field(
        description="区域评估节省的开工天数（自然日）/ days regional assessments save on the start"
    )
    regional_assessments: list[PlanAssessmentOut]
    items: list[ItemOut]
    created_at: Instant
    updated_at: Instant


class PlanSummary(BaseModel):
    id: UUID
    revision: int
    project_id: UUID
    project_name: str
    approval_type: ApprovalType | None
    fast_track: bool
    planned_start: date | None
    earliest_start: date | None
    start_at_risk: bool
    updated_at: Instant


class PlanPage(BaseModel):
    items: list[PlanSummary]
    next_cursor: str | None = Field(description="下一页游标；没有更多时为空 / cursor of the next page")


class PlanUpdate(ChangeBody):
    """修改审批计划（需 If-Match）/ change a plan: its own target start date (null: follow the registry)."""

    CLEARABLE = frozenset({"planned_start_override"})

    planned_start_override: Day | None = None


class ItemUpdate(ChangeBody):
    """修改审批事项（需 If-Match）；仅 handling_unit_id、notes 可置 null / change an item: mode, department,
    documents, notes, prerequisites; only ``handling_unit_id`` and ``notes`` may be cleared with null."""

    CLEARABLE = frozenset({"handling_unit_id", "notes"})

    mode: ApprovalMode | None = None
    handling_unit_id: UUID | None = None
    handling_unit_name: Text | None = None
    document_refs: list[DocumentRef] | None = Field(default=None, max_length=100)
    notes: LongText | None = None
    prerequisites: list[Code] | None = Field(default=None, max_length=50)


class ActionBody(BaseModel):
    """一次操作的说明 / what an official adds to an action."""

    model_config = ConfigDict(extra="forbid")

    note: LongText | None = None
    document_refs: list[DocumentRef] = Field(default_factory=list, max_length=100)


class GrantBody(ActionBody):
    certificate_no: Text | None = Field(default=None, description="证照编号 / certificate number")


class RejectBody(ActionBody):
    reason: LongText = Field(description="不予许可理由 / reason")


class ChangeOut(BaseModel):
    """审批事项变更记录 / one change of an item."""

    model_config = ConfigDict(from_attributes=True)

    at: Instant
    action: str
    from_state: str | None
    to_state: str
    actor: str
    note: str | None
    details: dict


class ChangeList(BaseModel):
    items: list[ChangeOut]


class ChainStep(BaseModel):
    item_id: UUID
    code: str
    name: str
    handling_unit_name: str
    state: ItemState
    expected_start: date
    expected_finish: date
    done: bool


class CriticalChainOut(BaseModel):
    """关键路径 / the chain of items that decides the earliest possible start."""

    plan_id: UUID
    project_id: UUID
    today: date
    planned_start: date | None
    earliest_start: date | None
    start_at_risk: bool
    slack_days: StrictInt | None = Field(
        description="计划开工减最早开工（自然日）/ planned minus earliest, days"
    )
    time_saved_days: int | None
    assessment_saved_days: int | None = Field(
        description="区域评估节省的开工天数（自然日）/ days regional assessments save on the start"
    )
    chain: list[ChainStep]


# ---- reports -----


class DepartmentRow(BaseModel):
    """一个部门的在办、临期、超期事项 / what one department has open, due soon and overdue."""

    handling_unit_id: UUID | None
    handling_unit_name: str
    open: int
    due_soon: int
    overdue: int
    paused: int


class DepartmentView(BaseModel):
    now: Instant
    departments: list[DepartmentRow]


class ReportCell(BaseModel):
    item_name: str | None
    state: ItemState | None
    mode: ApprovalMode | None
    on: date | None = Field(description="状态变更日 / the day it reached this state")


class ReportRow(BaseModel):
    project_id: UUID
    project_name: str
    project_class: str
    fast_track: bool
    modes: list[ApprovalMode]
    cells: dict[str, ReportCell]


class WeeklyReport(BaseModel):
    """行政审批局周报 / the approval bureau's weekly report (policy §三(一))."""

    report_day: date = Field(description="报送日（周五，节假日提前至前一工作日）/ report day")
    as_of: Instant
    columns: list[str]
    rows: list[ReportRow]
