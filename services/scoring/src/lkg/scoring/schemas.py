"""API models of the scoring service (what goes over HTTP; the tables are in :mod:`lkg.scoring.models`)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from lkg.common.events.contracts import EvaluationSubject, ExactDecimal, Grade, PeriodKind
from lkg.common.http.types import Instant, LongText, Text
from lkg.scoring.rules import RuleBook

PeriodState = Literal["proposed", "published"]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("日期须写作 YYYY-MM-DD")
    return value


#: A calendar day, ``YYYY-MM-DD`` only (pydantic would otherwise read ``0`` as a Unix time).
IsoDate = Annotated[date, BeforeValidator(_iso_day)]


class RedCardEvidence(BaseModel):
    """督查红牌 as evidence on a sheet (§五(三)): the card in the issues register and why it counts."""

    red_card_id: UUID = Field(description="the card in the issues register (GET /api/v1/red-cards/{id})")
    source: str = Field(description="supervision (月末督查, §五(三))")
    reason: str = Field(
        description="no_real_progress / behind_schedule / not_enrolled / meeting_matter_overdue"
    )
    reason_label: str = Field(description="事由 in words")
    period_start: date = Field(description="the month of the supervision round")
    issued_on: date = Field(description="督查室认定之日 / the day it was issued")
    withdrawn_on: date | None = Field(description="撤销之日; a withdrawn card no longer counts")
    withdrawal_reason: str | None


class EvidenceOut(BaseModel):
    """依据: one fact a figure counts, and the event that told scoring about it."""

    kind: str = Field(description="milestone / problem / meeting_matter / breach / project / red_card")
    id: UUID
    event_id: UUID | None = Field(description="告知该事实的事件 / the event that told scoring")
    note: str
    counts: str = Field(
        description=(
            "on_time / missed / ahead / closed / open / not_counted / breach / enrolment_failed / red_card"
        )
    )
    red_card: RedCardEvidence | None = Field(
        default=None, description="the red card's source, reason and dates (kind red_card only)"
    )


class SheetCorrection(BaseModel):
    number: int
    score: ExactDecimal | None
    grade: Grade | None


class SheetOut(BaseModel):
    """评分表: one subject's figures for the period, with their evidence."""

    subject_kind: EvaluationSubject
    subject_id: UUID
    subject_label: str
    score: ExactDecimal
    proposed_grade: Grade = Field(description="系统建议等级 / proposed by the rules")
    grade: Grade = Field(description="确认后的等级（未确认时同建议）/ the decided grade")
    grade_reason: str | None = Field(description="调整等级的理由 / why the grade was changed")
    figures: dict[str, Any]
    evidence: list[EvidenceOut]
    corrections: list[SheetCorrection] = Field(
        default_factory=list,
        description="发布后的更正（与发布数一并显示）/ corrections next to the published figure",
    )


class RankingEntryOut(BaseModel):
    rank: int
    unit_id: UUID
    label: str
    score: ExactDecimal
    grade: Grade
    subject_kinds: list[EvaluationSubject]
    carded: bool = Field(description="后3名红牌 / in the carded bottom (§六(三))")
    evidence: list[EvidenceOut] | None = Field(description="无权查看时为空 / withheld from other units")


class TieOut(BaseModel):
    """第3名处并列: put to 重大项目办, never settled by sort order."""

    candidates: list[UUID]
    places: int
    decided: bool
    decision: dict[str, Any] | None


class PeriodOut(BaseModel):
    """考核周期: its proposal or published figures."""

    id: UUID
    kind: PeriodKind
    label: str
    start: date
    end: date
    state: PeriodState
    revision: int
    rule_version: int
    rule_label: str
    closes_at: Instant
    as_of: Instant = Field(description="计算截止时点（此后记录的事实进入更正）/ the figures' cut-off")
    published_at: Instant | None
    confirmed_by_name: str | None
    confirmation_note: str | None
    sheets: list[SheetOut]
    ranking: list[RankingEntryOut]
    carded: list[UUID]
    tie: TieOut | None
    corrections: list[int]
    updated_at: Instant


class PeriodSummary(BaseModel):
    id: UUID
    kind: PeriodKind
    label: str
    start: date
    end: date
    state: PeriodState
    revision: int
    closes_at: Instant
    published_at: Instant | None
    updated_at: Instant


class PeriodPage(BaseModel):
    items: list[PeriodSummary]


class GradeChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_kind: EvaluationSubject
    subject_id: UUID
    grade: Grade
    reason: LongText = Field(description="调整理由（必填）/ why")


class ConfirmationIn(BaseModel):
    """确认: optionally change grades (with reasons) and settle a tie across third place."""

    model_config = ConfigDict(extra="forbid")

    grade_changes: list[GradeChangeIn] = Field(default_factory=list, max_length=500)
    tie_carded: list[UUID] | None = Field(
        default=None, description="并列时选定的红牌单位 / the tie's carded units"
    )
    tie_reason: LongText | None = None
    note: LongText | None = None


class ChangeOut(BaseModel):
    subject_kind: EvaluationSubject
    subject_id: UUID
    subject_label: str
    before_score: ExactDecimal | None
    before_grade: Grade | None
    score: ExactDecimal | None
    grade: Grade | None


class CorrectionOut(BaseModel):
    """更正: numbered, with its reason, next to the published figure (which never changes)."""

    number: int
    cause_event_id: UUID
    cause_event_type: str
    as_of: Instant
    reason: str
    card_review: Literal["none", "pending", "decided"]
    card_decision: dict[str, Any] | None
    carded_before: list[UUID]
    carded_after: list[UUID]
    changes: list[ChangeOut]
    created_at: Instant


class CorrectionPage(BaseModel):
    items: list[CorrectionOut]


class CardReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_cards_for: list[UUID] = Field(
        default_factory=list, description="更正后进入后3名、须提请红牌的单位"
    )
    reason: LongText


class PersonOnList(BaseModel):
    unit_id: UUID
    unit_label: str
    heads: list[str] = Field(description="主要负责同志 / the unit's heads")


class CardOut(BaseModel):
    unit_id: UUID
    request_id: UUID
    rank: int
    correction_number: int | None
    red_card_id: UUID | None
    state: str = Field(description="requested / issued / dismissed / withdrawn")
    reason: str | None


class ConsequencesOut(BaseModel):
    """§六(三) 结果运用 (published periods only)."""

    interviews: list[PersonOnList] = Field(description="约谈：后3名单位的主要负责同志")
    statements: list[PersonOnList] = Field(description="表态发言：评定为不合格的单位")
    key_supervision: list[PersonOnList] = Field(description="重点督查督办：评定为不合格的单位（不是红牌）")
    cards: list[CardOut]


class RuleVersionOut(BaseModel):
    version: int
    label: str
    effective_from: date
    body: RuleBook
    reason: str
    created_by: str
    created_at: Instant


class RuleVersionPage(BaseModel):
    items: list[RuleVersionOut]


class RuleVersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Text
    effective_from: IsoDate
    body: RuleBook
    reason: LongText


class LiveOut(BaseModel):
    """实时排名: what the figures would be if the period closed now."""

    kind: PeriodKind
    label: str
    start: date
    end: date
    as_of: Instant
    rule_label: str
    sheets: list[SheetOut]
    ranking: list[RankingEntryOut]


class TenureOut(BaseModel):
    person_id: UUID
    name: str
    start: date
    end: date
    days: int


class YearRecordEntry(BaseModel):
    period_id: UUID
    period_label: str
    subject_kind: EvaluationSubject
    subject_id: UUID
    subject_label: str
    score: ExactDecimal
    grade: Grade
    corrected: bool = Field(description="有更正时为最新更正后的结果 / after the latest correction")
    tenure: list[TenureOut] = Field(
        default_factory=list, description="包保领导按任职时间拆分 / split by tenure"
    )


class YearRecordOut(BaseModel):
    """年终考核记录 (§六(三)三): published results of the year, per unit and per line leader."""

    year: int
    entries: list[YearRecordEntry]


class ProvincialUnitOut(BaseModel):
    """A unit carrying provincial/municipal projects, with the three measures of §三(三)一."""

    rank: int
    unit_id: UUID
    label: str
    count_share: ExactDecimal | None = Field(description="个数占比（%）/ share of the projects")
    investment_share: ExactDecimal | None = Field(
        description="投资总量占比（%）/ share of their total investment"
    )
    month_amount: ExactDecimal = Field(description="本月完成投资（元）")
    previous_amount: ExactDecimal = Field(description="上月完成投资（元）")
    month_on_month: ExactDecimal | None = Field(description="每月投资量环比（%）；上月为零时为空")
    projects: list[dict[str, Any]]


class ProvincialOut(BaseModel):
    year: int
    month: int
    as_of: Instant
    order_by: str
    total_projects: int
    units: list[ProvincialUnitOut]


class InvestmentRowOut(BaseModel):
    group_id: str
    label: str
    plan: ExactDecimal = Field(description="年度计划投资（元）/ the year's planned investment")
    months: dict[str, ExactDecimal] = Field(description="各月完成投资（元），按月份 / completed per month")
    year_to_date: ExactDecimal
    completion: ExactDecimal | None = Field(description="完成率（%）/ share of plan")


class InvestmentOut(BaseModel):
    year: int
    by: str
    as_of: Instant
    rows: list[InvestmentRowOut]


class NewStartOut(BaseModel):
    rank: int
    project_id: UUID
    name: str
    unit_label: str
    milestones: int
    reached: int
    reached_on_time: int
    overdue: int = Field(description="基线已过仍未完成的节点 / past their baseline, not reached")
    approvals_granted: int
    progress: ExactDecimal = Field(description="节点完成比例（%）/ share of milestones reached")
    evidence: list[str]


class NewStartsOut(BaseModel):
    """比晒亮 / 进度晾晒 (§三(三)二)."""

    as_of: Instant
    items: list[NewStartOut]
