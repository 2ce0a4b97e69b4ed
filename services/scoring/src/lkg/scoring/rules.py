"""Evaluation rules as data (考核规则, docs/scoring.md: another district or the next year changes them
without a release): a :class:`RuleBook` per version, each in force from its effective date. The 2020
defaults ship in ``data/rules_2020.yaml`` (seeded by the migration); a new version is added through the API
by 区委组织部考评办 or 重大项目办 (:func:`add_version`), never an edit in place, so a published period
keeps the rules it was computed with.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from typing import Annotated, Any

import sqlalchemy as sa
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.problems import Conflict, NotFound
from lkg.scoring.models import rule_version


def _json_integer(value: object) -> object:
    """Refuse what JSON does not call an integer (``"3"``, ``true``); ``3.0`` is an integer in JSON."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _json_number(value: object) -> object:
    """A number, or a decimal string (exact figures travel as strings); never a boolean."""
    if isinstance(value, bool):
        raise PydanticCustomError("decimal_type", "Input should be a valid decimal")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
Number = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(ge=0),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?$"}]}
    ),
]
"""A non-negative figure of the rules: a JSON number or a decimal string."""


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Graded(_Rule):
    excellent_at: Number = Field(description="优秀 from this score / excellent from")
    pass_at: Number = Field(description="合格 from this score / pass from")


class ResponsibleUnitRule(_Graded):
    """项目责任单位 (§六(一)二): milestones against the frozen baseline."""

    on_time_points: Number = Field(default=Decimal(100))
    ahead_bonus: Number = Field(default=Decimal(10))
    ahead_bonus_cap: Number = Field(default=Decimal(20))
    supervision_card_penalty: Number = Field(
        default=Decimal(0),
        description="每张督查红牌扣分 (§五(三)); 0 in a version without the measure (2020-1)",
    )


class HostUnitRule(_Graded):
    """街道、产业办及区直相关部门 (§六(一)三): problems and meeting matters closed (销号), breaches."""

    base_points: Number = Field(default=Decimal(100))
    breach_penalty: Number = Field(default=Decimal(25))
    closure_bonus: Number = Field(default=Decimal(5))
    closure_bonus_cap: Number = Field(default=Decimal(20))
    supervision_card_penalty: Number = Field(
        default=Decimal(0),
        description="每张督查红牌扣分 (§五(三)); 0 in a version without the measure (2020-1)",
    )


class LineLeaderRule(_Graded):
    """包保区级领导 (§六(一)一): progress, problems solved, enrolment (纳统入规), quarterly."""

    progress_weight: Number = Field(default=Decimal("0.4"))
    problems_weight: Number = Field(default=Decimal("0.4"))
    enrolment_weight: Number = Field(default=Decimal("0.2"))
    enrolment_penalty: Number = Field(default=Decimal(20))


class Consequences(_Rule):
    """§六(三): the bottom of the monthly ranking gets a red card."""

    bottom: JsonInt = Field(default=3, ge=0, le=50)
    cards_need_fail_grade: StrictBool = True


class RuleBook(_Rule):
    """One version of the evaluation rules."""

    responsible_unit: ResponsibleUnitRule
    host_unit: HostUnitRule
    line_leader: LineLeaderRule
    consequences: Consequences = Consequences()
    grace_working_days: JsonInt = Field(default=2, ge=0, le=20)


class RuleVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    label: str
    effective_from: date
    body: RuleBook
    reason: str
    created_by: str
    created_at: datetime


#: The shipped versions, oldest first: each file is frozen once shipped (a database holds it as a version
#: and periods computed with it keep it); a change of the rules ships as a new file and a migration.
SHIPPED = ("rules_2020.yaml", "rules_2020_2.yaml")


def shipped_rules(name: str) -> dict[str, Any]:
    """One shipped version (label, effective date, body) as its migration seeds it."""
    raw = yaml.safe_load(files("lkg.scoring.data").joinpath(name).read_text(encoding="utf-8"))
    RuleBook.model_validate(raw["body"])  # refuse to ship a file that does not validate
    return raw


def default_rules() -> dict[str, Any]:
    """Version 1 of the shipped 2020 rules (``data/rules_2020.yaml``), as migration 0003 seeds it."""
    return shipped_rules(SHIPPED[0])


def current_rules() -> dict[str, Any]:
    """The latest shipped 2020 rules (``data/rules_2020_2.yaml``: version 1 plus the supervision card)."""
    return shipped_rules(SHIPPED[-1])


def _version(row: Any) -> RuleVersion:
    return RuleVersion(
        version=row.version,
        label=row.label,
        effective_from=row.effective_from,
        body=RuleBook.model_validate(row.body),
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def versions(session: AsyncSession) -> list[RuleVersion]:
    rows = (await session.execute(sa.select(rule_version).order_by(rule_version.c.version))).all()
    return [_version(r) for r in rows]


async def get_version(session: AsyncSession, version: int) -> RuleVersion:
    row = (await session.execute(sa.select(rule_version).where(rule_version.c.version == version))).first()
    if row is None:
        raise NotFound("没有该版本的考核规则", code="rule_version_not_found")
    return _version(row)


async def in_force(session: AsyncSession, day: date) -> RuleVersion:
    """The rules a period starting on ``day`` uses: the latest version in force that day (the earliest
    version if none is yet: a period before the first rules is still measured by them)."""
    row = (
        await session.execute(
            sa.select(rule_version)
            .where(rule_version.c.effective_from <= day)
            .order_by(rule_version.c.effective_from.desc(), rule_version.c.version.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        row = (
            await session.execute(sa.select(rule_version).order_by(rule_version.c.version).limit(1))
        ).first()
    if row is None:
        raise NotFound("尚无考核规则", code="no_rules")
    return _version(row)


async def add_version(
    session: AsyncSession,
    *,
    label: str,
    effective_from: date,
    body: RuleBook,
    reason: str,
    actor: str,
    at: datetime,
) -> RuleVersion:
    """A new version (the next number). Periods already proposed keep the version they were computed with;
    a version effective on a day before the latest proposed period's start is refused (it would say that
    a closed period should have had other rules)."""
    for name, part in (
        ("responsible_unit", body.responsible_unit),
        ("host_unit", body.host_unit),
        ("line_leader", body.line_leader),
    ):
        if part.excellent_at < part.pass_at:
            # Not expressible in the request's schema, so a conflict of the rules with themselves (409).
            raise Conflict(f"{name}：优秀分数线不得低于合格分数线", code="rule_thresholds_inverted")
    clash = (
        await session.execute(sa.select(rule_version.c.version).where(rule_version.c.label == label))
    ).first()
    if clash is not None:
        raise Conflict("该规则版本名称已存在", code="rule_label_taken")
    from lkg.scoring.models import period

    latest_start = (await session.execute(sa.select(sa.func.max(period.c.start)))).scalar()
    if latest_start is not None and effective_from <= latest_start:
        raise Conflict(
            f"生效日期须晚于已关账周期的起始日（{latest_start.isoformat()}）", code="rule_effective_too_early"
        )
    number = (
        await session.execute(sa.select(sa.func.coalesce(sa.func.max(rule_version.c.version), 0)))
    ).scalar()
    row = (
        await session.execute(
            sa.insert(rule_version)
            .values(
                version=int(number or 0) + 1,
                label=label,
                effective_from=effective_from,
                body=body.model_dump(mode="json"),
                reason=reason,
                created_by=actor,
                created_at=at,
            )
            .returning(rule_version)
        )
    ).one()
    return _version(row)
