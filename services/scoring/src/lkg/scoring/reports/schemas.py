"""The 月度通报 as JSON (what the Word and Excel downloads show, figure for figure)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field

from lkg.common.events.contracts import Grade


class BulletinEntry(BaseModel):
    rank: int
    unit_id: UUID
    label: str = Field(description="单位 unit")
    score: Decimal
    grade: Grade
    carded: bool = Field(description="后3名且不合格，提请红牌 (§六(三))")


class BulletinListed(BaseModel):
    unit_id: UUID
    label: str
    heads: list[str] = Field(description="单位负责人 (unit_head posts)")


class BulletinInvestment(BaseModel):
    label: str
    plan: Decimal = Field(description="年度计划投资（万元）")
    year_to_date: Decimal = Field(description="累计完成投资（万元）")
    completion: Decimal | None = Field(description="完成率 (share of the plan, 0..1)")


class MonthlyBulletin(BaseModel):
    """月度通报: the month's published grades and ranking, the carded, the 表态 and 约谈 lists, investment."""

    period_id: UUID
    label: str = Field(description="e.g. 2020年5月")
    number: int = Field(description="第N期: the order of this month among the published months")
    start: date
    end: date
    as_of: datetime = Field(description="the published cut-off the figures are computed as of")
    published_at: datetime
    ranking: list[BulletinEntry]
    carded: list[str] = Field(description="labels of the carded units (红牌)")
    interviews: list[BulletinListed] = Field(description="约谈: heads of the carded units")
    statements: list[BulletinListed] = Field(description="表态发言: units graded 不合格")
    investment_by_line: list[BulletinInvestment]
    investment_by_unit: list[BulletinInvestment]


class BulletinSummary(BaseModel):
    period_id: UUID
    label: str
    number: int
    published_at: datetime


class BulletinPage(BaseModel):
    items: list[BulletinSummary]
