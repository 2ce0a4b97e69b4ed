"""API models of the red-card register and the supervision rounds."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from lkg.common.http.types import Instant, IsoDate, LongText, Text, Yuan

#: A card's state (proposed by a round; issued or dismissed by 督查室; an issued ranking card withdrawn by
#: 重大项目办).
CardState = Literal["proposed", "issued", "dismissed", "withdrawn"]


class RedCardOut(BaseModel):
    """红牌 / a red card in the register."""

    id: UUID
    revision: int
    state: CardState
    source: Literal["supervision", "ranking"]
    reason: str
    target_unit_id: UUID
    target_unit_name: str
    target_kind: str
    project_id: UUID | None
    line_id: UUID | None
    matter_id: UUID | None
    supervision_round_id: UUID | None
    request_id: UUID | None
    period_kind: str
    period_start: date
    period_end: date
    evidence: list[dict[str, Any]]
    field_checks: list[dict[str, Any]]
    dismissal_reason: str | None
    withdrawal_reason: str | None
    decided_at: Instant | None
    referral_state: Literal["none", "requested", "consented", "referred", "concluded"]
    referred_at: Instant | None = None
    #: 区纪委监委's outcome (§五(三)), recorded by 督查室 when it comes back.
    referral_outcome: Literal["accountability_taken", "no_accountability"] | None = None
    referral_outcome_note: str | None = None
    referral_outcome_on: date | None = None
    referral_outcome_by_name: str | None = None
    referral_outcome_recorded_at: Instant | None = None
    created_at: Instant


class RedCardPage(BaseModel):
    items: list[RedCardOut]
    next_cursor: str | None = None


class RoundOut(BaseModel):
    id: UUID
    year: int
    month: int
    opened_at: Instant
    period_start: date
    period_end: date
    #: The round's 《督查问题专报》 once issued (第N期 of its year), else None.
    report_number: int | None = None
    report_issued_at: Instant | None = None


class RoundPage(BaseModel):
    items: list[RoundOut]
    next_cursor: str | None = None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldCheck(_In):
    method: Literal["open_inspection", "unannounced_visit", "on_site_verification"]
    note: LongText


class Dismissal(_In):
    reason: LongText


class Withdrawal(_In):
    reason: LongText


class Note(_In):
    note: Text


class ReferralOutcomeIn(_In):
    """问责结果: what 区纪委监委 decided on the referred card."""

    outcome: Literal["accountability_taken", "no_accountability"]
    note: LongText
    decided_on: IsoDate


# ---- 《督查问题专报》 (§五(三)) -------------------------------------------------------------------------

#: The four categories of the month-end round, in the policy's order (§五(三)).
SupervisionReason = Literal["no_real_progress", "behind_schedule", "not_enrolled", "meeting_matter_overdue"]


class ReportCard(BaseModel):
    """A card the round proposed on a finding, and what became of it."""

    red_card_id: UUID
    target_unit_id: UUID
    target_unit_name: str
    target_kind: str
    state: CardState
    dismissal_reason: str | None
    field_checks: int
    referral_state: Literal["none", "requested", "consented", "referred", "concluded"]


class ReportFinding(BaseModel):
    """One project (or, for an overdue meeting matter, one matter) the round found in a category."""

    project_id: UUID | None
    matter_id: UUID | None
    name: str
    line_id: UUID | None
    line_name: str | None
    notes: list[str]
    cards: list[ReportCard]


class ReportCategory(BaseModel):
    reason: SupervisionReason
    label: str
    findings: list[ReportFinding]
    proposed: int
    confirmed: int
    dismissed: int
    pending: int


class ReportReferral(BaseModel):
    """A card referred (or consented to be referred) to 区纪委监委, with the commission's outcome once
    back."""

    red_card_id: UUID
    round_year: int
    round_month: int
    target_unit_name: str
    reason: str
    subject: str
    line_id: UUID | None
    referral_state: Literal["requested", "consented", "referred", "concluded"]
    referred_at: Instant | None
    outcome: Literal["accountability_taken", "no_accountability"] | None
    outcome_note: str | None
    outcome_on: date | None


class ReportTotals(BaseModel):
    findings: int
    proposed: int
    confirmed: int
    dismissed: int
    pending: int
    referred: int
    concluded: int


class SupervisionReport(BaseModel):
    """《全区投资和重大产业项目落地建设督查问题专报》 of one month-end round: a live draft until 督查室 issues
    it, then frozen and numbered (第N期 of its year). A line leader reads only the findings and referrals of
    their own lines, with the totals of those."""

    id: UUID | None
    supervision_round_id: UUID
    year: int
    month: int
    period_start: date
    period_end: date
    title: str
    state: Literal["draft", "issued"]
    number: int | None
    issued_at: Instant | None
    categories: list[ReportCategory]
    referrals: list[ReportReferral]
    totals: ReportTotals


# ---- 四督四促: full-cycle supervision of ≥100M projects (§三(三)三) ---------------------------------------

#: The four groups, by project class: 前期项目 促抓紧办理手续, 计划新开工 促尽早开工, 结转续建 促建设进度,
#: 完工投产 促尽快投产.
SupervisionGroup = Literal["preliminary", "new_start", "continuing", "completing"]
FollowUpMethod = Literal["open_inspection", "unannounced_visit", "on_site_verification", "supervision_notice"]


class GroupOut(BaseModel):
    group: SupervisionGroup
    label: str
    goal: str
    projects: int
    lagging: int


class GroupList(BaseModel):
    items: list[GroupOut]


class EvidenceOut(BaseModel):
    kind: str
    id: str
    note: str


class FollowUpOut(BaseModel):
    """督办记录: one follow-up of 督查室 on a project of a group."""

    id: UUID
    project_id: UUID
    group: SupervisionGroup
    method: FollowUpMethod
    note: str
    by_name: str | None
    at: Instant


class SupervisionEntry(BaseModel):
    """One project on a group's 督办 list: ``lagging`` when the evidence shows it behind its goal."""

    project_id: UUID
    project_name: str
    responsible_unit_id: UUID | None
    responsible_unit_name: str
    line_id: UUID | None
    line_name: str | None
    total_investment: Yuan
    status: Literal["lagging", "on_track"]
    evidence: list[EvidenceOut]
    follow_ups: list[FollowUpOut]


class SupervisionList(BaseModel):
    """督办清单 of one group as of a day (the shared clock's), the projects the caller sees."""

    group: SupervisionGroup
    label: str
    goal: str
    as_of: date
    items: list[SupervisionEntry]


class FollowUpIn(_In):
    project_id: UUID
    method: FollowUpMethod
    note: LongText
