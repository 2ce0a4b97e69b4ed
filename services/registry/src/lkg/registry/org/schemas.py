"""API models of the org directory (``/api/v1/org/...``); the entries themselves are the contract
snapshots (:mod:`lkg.common.events.contracts`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Body, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from lkg.common.events.contracts import LineSnapshot, PostHoldingSnapshot, ProjectCategory, RoutingBasis
from lkg.common.http.types import Instant, IsoDate, Text


class InForce(BaseModel):
    """The one query parameter of the directory lists; any other is refused (422), as a misspelt
    ``?no=2020-05-01`` would otherwise answer 200 with every entry ever held."""

    model_config = ConfigDict(extra="forbid")

    on: IsoDate | None = Field(
        default=None, description="某日在任/有效的条目（缺省为全部）/ entries in force on a day"
    )


OnDay = Annotated[InForce, Query()]


class LeaderOut(BaseModel):
    """包保领导 / a holder of a line leader's post on the day asked about."""

    person_id: uuid.UUID
    name: str
    acting: bool = Field(description="代理/主持工作 / holds the post temporarily")


class LineOut(LineSnapshot):
    """包保线 / a line: its name (the line's own, e.g. 第六线) and, apart from it, who leads it that day.

    The name never embeds the leader's name (issue #11 item 21): after a handover the line keeps its name
    and ``leaders`` names the successor."""

    leaders: list[LeaderOut] = Field(
        description="当日（?on=，缺省为今日）包保领导岗位的在任者 / the leader post's holders on the day"
    )


class ImportResult(BaseModel):
    changed_entries: int = Field(
        description="变更的条目数（重复导入为0）/ entries changed (0 when nothing differs)"
    )


class _Handover(BaseModel):
    """换届/交接: the successor holds the post from ``on``; matters stay with the post (§四(四)).

    The successor is either a person already in the directory or a new person named here, never both:
    two request shapes (``oneOf`` in the document) rather than two optional fields and a rule the
    document could not state."""

    model_config = ConfigDict(extra="forbid")

    on: IsoDate
    acting: StrictBool = Field(default=False, description="代理 / acting holder")
    reason: Text


class HandoverToPerson(_Handover):
    successor_person_id: uuid.UUID = Field(description="已在目录中的人员 / a known person")


class HandoverToNewPerson(_Handover):
    successor_name: Text = Field(description="新人员姓名 / a new person's name")


Handover = Annotated[HandoverToPerson | HandoverToNewPerson, Body()]


class _RuleSpec(BaseModel):
    """A routing rule as the office states it (分线规则, §一(一)); the id and revision are the directory's."""

    model_config = ConfigDict(extra="forbid")

    line_id: uuid.UUID
    valid_from: IsoDate
    valid_to: IsoDate | None = None
    note: Text | None = Field(default=None, description="规则来源 / where the rule comes from")


class ExplicitRule(_RuleSpec):
    """明确指定: this project goes to this line."""

    basis: Literal[RoutingBasis.EXPLICIT]
    project_id: uuid.UUID


class CategoryRule(_RuleSpec):
    """按项目类型: every project of this category goes to this line."""

    basis: Literal[RoutingBasis.CATEGORY]
    category: ProjectCategory


class ResponsibleUnitRule(_RuleSpec):
    """按责任单位: every project of this unit goes to this line."""

    basis: Literal[RoutingBasis.RESPONSIBLE_UNIT]
    responsible_unit_id: uuid.UUID


#: Each basis with its criterion, so a rule without one is refused by the schema (422), not by the handler.
RuleSpec = Annotated[ExplicitRule | CategoryRule | ResponsibleUnitRule, Field(discriminator="basis")]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: RuleSpec
    reason: Text


class RuleEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_to: IsoDate
    reason: Text


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    revision: int
    kind: str
    entry: dict
    changed_at: Instant
    actor: str
    reason: str


class HandoverOut(BaseModel):
    revision: int
    holdings: list[PostHoldingSnapshot]
