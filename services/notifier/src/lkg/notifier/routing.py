"""Who hears what (谁收到什么): the audiences the notifier can resolve, and the 2020 routing defaults.

The routing is data (docs/notifier.md: another district changes it without a release): a ``routing_rule`` row
says that a kind of event (its contract's type, ``problem.escalated``) is told to an audience, optionally
only at one layer. The rows below are what a new database starts with (migration 0003 seeds them);
operators change them through ``/api/v1/notifications/routing-rules``. A kind with no enabled rule is told
to nobody, on purpose.

An audience is a way of finding people in the org read copy on the event's day
(:mod:`lkg.notifier.recipients`); the set of audiences is code, which ones hear a kind is data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Audience(StrEnum):
    """A role towards the matter, resolved to people on the event's day (受众)."""

    #: Whoever must accept a reported problem: the line's service department (综合服务部门), or
    #: 区重大项目办 when the project is unrouted (待分线), §三(二) 及时受理.
    ACCEPTOR = "acceptor"
    #: The person who reported the matter (or, if the report named nobody, the reporting unit): 事事有回音.
    REPORTER = "reporter"
    #: The unit that must solve the matter (it keeps the duty to solve at every layer, §二).
    RESOLVING_UNIT = "resolving_unit"
    #: The unit a clock is charged to (a warning or a breach).
    CHARGED_UNIT = "charged_unit"
    #: The line's service department (综合服务部门, acting for the line leader, §二(二)).
    LINE_SERVICE_DEPARTMENT = "line_service_department"
    #: The holder of the line's leader post (包保区级领导); a vacant post → its unit's head.
    LINE_LEADER = "line_leader"
    #: The holders of the district's top posts (区委、区政府主要领导, layer 3).
    DISTRICT_LEADERS = "district_leaders"
    #: 区重大项目办 (区发改局), by role.
    MAJOR_PROJECTS_OFFICE = "major_projects_office"
    #: 区政府督查室, by role.
    SUPERVISION_OFFICE = "supervision_office"
    #: 区行政审批局, by role.
    APPROVAL_BUREAU = "approval_bureau"
    #: The head of the unit a red card is shown to (单位主要负责同志).
    CARDED_UNIT_HEAD = "carded_unit_head"
    #: The line leader of the carded unit's project (or of the unit's line).
    CARDED_UNIT_LINE_LEADER = "carded_unit_line_leader"
    #: The approval item's handling department (审批部门).
    HANDLING_DEPARTMENT = "handling_department"
    #: The project's responsible unit (项目责任单位).
    RESPONSIBLE_UNIT = "responsible_unit"
    #: The head of an evaluated subject: a unit's head, or a line's leader (§六(二)).
    SUBJECT_HEAD = "subject_head"
    #: The line leader whose consent a referral to the discipline commission awaits (§五(三)).
    CONSENTING_LEADER = "consenting_leader"
    #: The project's 代办员 from the approval agents' team (§四(三)), where it has one (the registry's project
    #: snapshot names them); a project without an agent tells nobody here, on purpose (not undeliverable).
    PROJECT_AGENT = "project_agent"
    #: The person the event names as the one to act (a statistics contact, §三(四)二).
    NAMED_PERSON = "named_person"
    #: 区统计局, by role.
    STATISTICS_BUREAU = "statistics_bureau"
    #: 区商务局, by role (integrity reviews with 督查室, §四(四)).
    COMMERCE_BUREAU = "commerce_bureau"
    #: Whom a published document is circulated to: the event's own ``audience`` (发送范围); an empty
    #: one tells nobody.
    DOCUMENT_AUDIENCE = "document_audience"


@dataclass(frozen=True)
class DefaultRule:
    kind: str
    audience: Audience
    layer: int | None = None
    note: str = ""


_ANSWERING = ("accepted", "answered", "progress_reported", "resolved", "closed")


def _matter_rules(matter: str) -> list[DefaultRule]:
    rules = [DefaultRule(f"{matter}.reported", Audience.ACCEPTOR, note="及时受理 §三(二)")]
    for verb in _ANSWERING:
        rules += [
            DefaultRule(f"{matter}.{verb}", Audience.REPORTER, note="事事有回音 §三(二)"),
            DefaultRule(f"{matter}.{verb}", Audience.RESOLVING_UNIT, note="事事有回音 §三(二)"),
        ]
    rules += [
        DefaultRule(f"{matter}.warned", Audience.CHARGED_UNIT, note="时限预警 §五(一)"),
        DefaultRule(f"{matter}.warned", Audience.LINE_SERVICE_DEPARTMENT, note="时限预警 §五(一)"),
        DefaultRule(f"{matter}.breached", Audience.CHARGED_UNIT, note="超时 §五(一)"),
        DefaultRule(f"{matter}.escalated", Audience.LINE_LEADER, layer=2, note="上报第二层 §二(二)"),
        DefaultRule(
            f"{matter}.escalated", Audience.LINE_SERVICE_DEPARTMENT, layer=2, note="上报第二层 §二(二)"
        ),
        DefaultRule(f"{matter}.escalated", Audience.DISTRICT_LEADERS, layer=3, note="上报第三层 §二(三)"),
        DefaultRule(
            f"{matter}.escalated", Audience.MAJOR_PROJECTS_OFFICE, layer=3, note="上报第三层 §二(三)"
        ),
    ]
    return rules


#: The 2020 defaults (issue 14's table; policy §二, §三(二), §五(一), §五(三), §六).
DEFAULT_RULES: tuple[DefaultRule, ...] = (
    *_matter_rules("problem"),
    *_matter_rules("meeting_matter"),
    DefaultRule("red_card.issued", Audience.CARDED_UNIT_HEAD, note="红牌 §五(三) §六(三)"),
    DefaultRule("red_card.issued", Audience.CARDED_UNIT_LINE_LEADER, note="红牌 §五(三) §六(三)"),
    DefaultRule("red_card.withdrawn", Audience.CARDED_UNIT_HEAD, note="红牌撤销 §五(三)"),
    DefaultRule("red_card.withdrawn", Audience.CARDED_UNIT_LINE_LEADER, note="红牌撤销 §五(三)"),
    DefaultRule(
        "red_card.proposed", Audience.SUPERVISION_OFFICE, note="月末督查拟亮红牌，待督查室认定 §五(三)"
    ),
    DefaultRule(
        "red_card.referral_requested", Audience.CONSENTING_LEADER, note="移交纪委监委待包保领导同意 §五(三)"
    ),
    DefaultRule("red_card.referral_concluded", Audience.CARDED_UNIT_HEAD, note="纪委监委问责结果 §五(三)"),
    DefaultRule(
        "red_card.referral_concluded", Audience.CARDED_UNIT_LINE_LEADER, note="纪委监委问责结果 §五(三)"
    ),
    DefaultRule(
        "red_card.referral_concluded", Audience.MAJOR_PROJECTS_OFFICE, note="纪委监委问责结果 §五(三)"
    ),
    DefaultRule("approval.due_soon", Audience.HANDLING_DEPARTMENT, note="审批临期 §四(二)"),
    DefaultRule("approval.due_soon", Audience.RESPONSIBLE_UNIT, note="审批临期 §四(二)"),
    DefaultRule("approval.stalled", Audience.HANDLING_DEPARTMENT, note="审批超时 §四(二)"),
    DefaultRule("approval.stalled", Audience.RESPONSIBLE_UNIT, note="审批超时 §四(二)"),
    DefaultRule("approval.stalled", Audience.PROJECT_AGENT, note="审批超时告知代办员 §四(三)"),
    DefaultRule(
        "enrolment_list.due_soon", Audience.STATISTICS_BUREAU, note="未入库清单每月28日前报送 §三(四)二"
    ),
    DefaultRule("enrolment_list.missed", Audience.STATISTICS_BUREAU, note="未入库清单逾期 §三(四)二"),
    DefaultRule("enrolment_list.missed", Audience.MAJOR_PROJECTS_OFFICE, note="未入库清单逾期 §三(四)二"),
    DefaultRule("statistics_visit.due_soon", Audience.NAMED_PERSON, note="统计联系人每月上门服务 §三(四)二"),
    DefaultRule("statistics_visit.missed", Audience.NAMED_PERSON, note="统计上门服务未完成 §三(四)二"),
    DefaultRule("statistics_visit.missed", Audience.CHARGED_UNIT, note="统计上门服务未完成 §三(四)二"),
    DefaultRule("integrity_round.due_soon", Audience.SUPERVISION_OFFICE, note="回头看即将到期 §四(四)"),
    DefaultRule("integrity_round.due_soon", Audience.COMMERCE_BUREAU, note="回头看即将到期 §四(四)"),
    DefaultRule("integrity_round.missed", Audience.SUPERVISION_OFFICE, note="回头看未完成 §四(四)"),
    DefaultRule("integrity_round.missed", Audience.MAJOR_PROJECTS_OFFICE, note="回头看未完成 §四(四)"),
    DefaultRule("evaluation.published", Audience.SUBJECT_HEAD, note="考核结果 §六(二)"),
    DefaultRule("evaluation.interview_listed", Audience.SUBJECT_HEAD, note="领导约谈 §六(三)"),
    DefaultRule(
        "evaluation.interview_listed", Audience.DISTRICT_LEADERS, note="区委、区政府领导约谈 §六(三)"
    ),
    DefaultRule("evaluation.statement_listed", Audience.SUBJECT_HEAD, note="会议表态 §六(三)"),
    DefaultRule("evaluation.statement_listed", Audience.SUPERVISION_OFFICE, note="重点督查、督办 §六(三)"),
    DefaultRule("evaluation.statement_listed", Audience.MAJOR_PROJECTS_OFFICE, note="重点督查、督办 §六(三)"),
    DefaultRule("digest.line", Audience.LINE_LEADER, note="包保领导每日汇总：本线超时与临期事项"),
    DefaultRule("reminder.approval_report", Audience.APPROVAL_BUREAU, note="每周五报送审批进展 §四(二)"),
    DefaultRule("report.published", Audience.DOCUMENT_AUDIENCE, note="通报按发送范围 §五(二)"),
    DefaultRule(
        "supervision_report.published", Audience.DOCUMENT_AUDIENCE, note="督查专报按发送范围 §五(三)"
    ),
)
