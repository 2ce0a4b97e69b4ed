"""《全区投资和重大产业项目落地建设督查问题专报》: the report of a month-end supervision round (§五(三)).

It holds the round's four categories (≥100M new starts with no real progress, ≥100M continuing projects
behind schedule, projects not enrolled, meeting matters past their deadline) with the projects found, the
cards proposed and what 督查室 decided on each (confirmed, dismissed), and the referrals to 区纪委监委 with
their outcomes. Until 督查室 issues it, it is a live draft; issuing freezes it (the JSON is stored and every
download renders from it), numbers it 第N期 of its year and announces it with
``supervision_report.published`` to its audience.

Who reads it (issue 16): 督查室, 重大项目办, the top leaders see all of it; a line leader sees the findings
and referrals of their own lines, with the totals of those; anyone else gets 404, as for a round that does
not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Role
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.http.problems import Conflict, Forbidden, NotFound
from lkg.common.lines import line_label
from lkg.common.orgcopy import in_force
from lkg.issues.access import Caller
from lkg.issues.models import matter, org_copy, project_copy
from lkg.issues.settings import IssuesRuntime
from lkg.issues.supervision.models import red_card, supervision_report, supervision_round
from lkg.issues.supervision.schemas import (
    ReportCard,
    ReportCategory,
    ReportFinding,
    ReportReferral,
    ReportTotals,
    SupervisionReport,
)

TITLE = "全区投资和重大产业项目落地建设督查问题专报"

#: The four categories of §五(三), in the policy's order, with the words the report prints.
CATEGORIES: dict[str, str] = {
    "no_real_progress": "亿元以上新开工项目无实质进展",
    "behind_schedule": "亿元以上续建项目进度相对滞后",
    "not_enrolled": "项目未入统",
    "meeting_matter_overdue": "会议议定事项超过时限仍未解决",
}

# ---- who reads it ---------------------------------------------------------------------------------------


def _reader_lines(caller: Caller) -> set[UUID] | None:
    """None: the caller reads all of it; a set: only these lines (a line leader); 404 for anyone else."""
    if caller.sees_all:
        return None
    if caller.principal.has_role(Role.LINE_LEADER) and caller.reach.lines:
        return set(caller.reach.lines)
    raise NotFound("督查专报不存在", code="supervision_report_not_found")


async def _round(session: AsyncSession, round_id: UUID) -> Any:
    row = (
        await session.execute(sa.select(supervision_round).where(supervision_round.c.id == round_id))
    ).first()
    if row is None:
        raise NotFound("督查轮次不存在", code="supervision_round_not_found")
    return row


# ---- building it ----------------------------------------------------------------------------------------


async def line_names(session: AsyncSession, day: Any) -> dict[UUID, str]:
    t = org_copy.lines
    rows = (await session.execute(sa.select(t.c.id, t.c.number).where(in_force(t, day)))).all()
    return {r.id: line_label(r.number) for r in rows}


def _card(row: Any) -> ReportCard:
    return ReportCard(
        red_card_id=row.id,
        target_unit_id=row.target_unit_id,
        target_unit_name=row.target_unit_name,
        target_kind=row.target_kind,
        state=row.state,
        dismissal_reason=row.dismissal_reason,
        field_checks=len(row.field_checks),
        referral_state=row.referral_state,
    )


def _count(findings: list[ReportFinding], state: str | None = None) -> int:
    return sum(1 for f in findings for card in f.cards if state is None or card.state == state)


def _category(reason: str, findings: list[ReportFinding]) -> ReportCategory:
    return ReportCategory(
        reason=reason,
        label=CATEGORIES[reason],
        findings=findings,
        proposed=_count(findings),
        confirmed=_count(findings, "issued"),
        dismissed=_count(findings, "dismissed"),
        pending=_count(findings, "proposed"),
    )


def _totals(categories: list[ReportCategory], referrals: list[ReportReferral]) -> ReportTotals:
    return ReportTotals(
        findings=sum(len(x.findings) for x in categories),
        proposed=sum(x.proposed for x in categories),
        confirmed=sum(x.confirmed for x in categories),
        dismissed=sum(x.dismissed for x in categories),
        pending=sum(x.pending for x in categories),
        referred=sum(1 for r in referrals if r.referral_state in ("referred", "concluded")),
        concluded=sum(1 for r in referrals if r.referral_state == "concluded"),
    )


async def _subjects(session: AsyncSession, cards: Sequence[Any]) -> dict[UUID, str]:
    """Names of the projects and meeting matters the cards are about."""
    projects = {card.project_id for card in cards if card.project_id is not None}
    matters = {card.matter_id for card in cards if card.matter_id is not None}
    names: dict[UUID, str] = {}
    if projects:
        rows = await session.execute(
            sa.select(project_copy.c.id, project_copy.c.name).where(project_copy.c.id.in_(projects))
        )
        names.update({r.id: r.name for r in rows})
    if matters:
        rows = await session.execute(sa.select(matter.c.id, matter.c.title).where(matter.c.id.in_(matters)))
        names.update({r.id: r.title for r in rows})
    return names


async def _referrals(session: AsyncSession, rnd: Any, names: dict[UUID, str]) -> list[ReportReferral]:
    """This round's cards on their way to or back from 区纪委监委, and earlier rounds' referrals still open or
    concluded since the last report issued before this round's (so each outcome is reported once)."""
    previous = await session.scalar(
        sa.select(sa.func.max(supervision_report.c.issued_at))
        .select_from(supervision_report.join(supervision_round))
        .where(
            sa.tuple_(supervision_round.c.year, supervision_round.c.month) < sa.tuple_(rnd.year, rnd.month)
        )
    )
    earlier = sa.and_(
        sa.tuple_(supervision_round.c.year, supervision_round.c.month) < sa.tuple_(rnd.year, rnd.month),
        red_card.c.referral_state.in_(["referred", "concluded"]),
        sa.or_(
            red_card.c.referral_outcome_recorded_at.is_(None),
            sa.true() if previous is None else red_card.c.referral_outcome_recorded_at > previous,
        ),
    )
    rows = (
        await session.execute(
            sa.select(red_card, supervision_round.c.year, supervision_round.c.month)
            .join(supervision_round, red_card.c.supervision_round_id == supervision_round.c.id)
            .where(
                red_card.c.source == "supervision",
                red_card.c.referral_state != "none",
                sa.or_(red_card.c.supervision_round_id == rnd.id, earlier),
            )
            .order_by(
                supervision_round.c.year, supervision_round.c.month, red_card.c.created_at, red_card.c.id
            )
        )
    ).all()
    missing = [r for r in rows if (r.matter_id or r.project_id) not in names]
    names = {**names, **await _subjects(session, missing)}
    return [
        ReportReferral(
            red_card_id=r.id,
            round_year=r.year,
            round_month=r.month,
            target_unit_name=r.target_unit_name,
            reason=CATEGORIES.get(r.reason, r.reason),
            subject=names.get(r.matter_id if r.reason == "meeting_matter_overdue" else r.project_id, ""),
            line_id=r.line_id,
            referral_state=r.referral_state,
            referred_at=r.referred_at,
            outcome=r.referral_outcome,
            outcome_note=r.referral_outcome_note,
            outcome_on=r.referral_outcome_on,
        )
        for r in rows
    ]


async def build(session: AsyncSession, rnd: Any, on: Any) -> SupervisionReport:
    """The report of round ``rnd`` as the register stands (the draft, or what issuing freezes)."""
    cards = (
        await session.execute(
            sa.select(red_card)
            .where(red_card.c.supervision_round_id == rnd.id)
            .order_by(red_card.c.created_at, red_card.c.id)
        )
    ).all()
    names = await _subjects(session, cards)
    lines = await line_names(session, on)
    categories: list[ReportCategory] = []
    for reason in CATEGORIES:
        by_subject: dict[UUID, ReportFinding] = {}
        for card in (x for x in cards if x.reason == reason):
            subject = card.matter_id if reason == "meeting_matter_overdue" else card.project_id
            finding = by_subject.get(subject)
            if finding is None:
                finding = by_subject[subject] = ReportFinding(
                    project_id=card.project_id,
                    matter_id=card.matter_id if reason == "meeting_matter_overdue" else None,
                    name=names.get(subject, ""),
                    line_id=card.line_id,
                    line_name=lines.get(card.line_id) if card.line_id else None,
                    notes=[],
                    cards=[],
                )
            for evidence in card.evidence:
                if evidence.get("note") and evidence["note"] not in finding.notes:
                    finding.notes.append(evidence["note"])
            finding.cards.append(_card(card))
        findings = sorted(by_subject.values(), key=lambda f: (f.name, str(f.matter_id or f.project_id)))
        categories.append(_category(reason, findings))
    referrals = await _referrals(session, rnd, names)
    return SupervisionReport(
        id=None,
        supervision_round_id=rnd.id,
        year=rnd.year,
        month=rnd.month,
        period_start=rnd.period_start,
        period_end=rnd.period_end,
        title=TITLE,
        state="draft",
        number=None,
        issued_at=None,
        categories=categories,
        referrals=referrals,
        totals=_totals(categories, referrals),
    )


def for_lines(report: SupervisionReport, lines: set[UUID] | None) -> SupervisionReport:
    """The report as a reader of ``lines`` sees it (None: all of it), with the totals of what they see."""
    if lines is None:
        return report
    categories = [
        _category(x.reason, [f for f in x.findings if f.line_id in lines]) for x in report.categories
    ]
    referrals = [r for r in report.referrals if r.line_id in lines]
    return report.model_copy(
        update={"categories": categories, "referrals": referrals, "totals": _totals(categories, referrals)}
    )


# ---- the use cases --------------------------------------------------------------------------------------


async def read(
    session: AsyncSession, runtime: IssuesRuntime, caller: Caller, round_id: UUID
) -> SupervisionReport:
    """The round's report as the caller may read it: the frozen one once issued, else the live draft."""
    lines = _reader_lines(caller)
    rnd = await _round(session, round_id)
    stored = (
        await session.execute(
            sa.select(supervision_report).where(supervision_report.c.supervision_round_id == rnd.id)
        )
    ).first()
    if stored is not None:
        report = SupervisionReport.model_validate(stored.content)
    else:
        report = await build(session, rnd, runtime.clock.now().date())
    return for_lines(report, lines)


async def read_issued(
    session: AsyncSession, runtime: IssuesRuntime, caller: Caller, round_id: UUID
) -> SupervisionReport:
    """The issued report (the documents are of the frozen one only): 409 ``report_not_issued`` before."""
    report = await read(session, runtime, caller, round_id)
    if report.state != "issued":
        raise Conflict("督查专报尚未印发", code="report_not_issued")
    return report


async def issue(
    session: AsyncSession, runtime: IssuesRuntime, caller: Caller, round_id: UUID
) -> SupervisionReport:
    """督查室 issues (印发) the round's report: frozen as it stands, numbered 第N期 of its year, announced
    once with ``supervision_report.published`` to 督查室, 重大项目办, the top leaders and the leaders of the
    lines it names. Every card of the round must be decided first (409 ``cards_undecided``); a second
    issue is 409 ``report_already_issued``."""
    lines = _reader_lines(caller)
    rnd = await _round(session, round_id)
    if lines is not None or not caller.supervises:
        raise Forbidden("只有区政府督查室可以印发督查专报", code="forbidden")
    # One issue at a time per year: the number is the year's next.
    await session.execute(
        sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("supervision_report"), rnd.year))
    )
    if await session.scalar(
        sa.select(sa.func.count()).where(supervision_report.c.supervision_round_id == rnd.id)
    ):
        raise Conflict("本轮督查专报已印发", code="report_already_issued")
    undecided = await session.scalar(
        sa.select(sa.func.count()).where(
            red_card.c.supervision_round_id == rnd.id, red_card.c.state == "proposed"
        )
    )
    if undecided:
        raise Conflict(
            f"本轮尚有{undecided}张红牌待确认或撤销，须全部认定后方可印发",
            code="cards_undecided",
            extra={"undecided": undecided},
        )
    now = runtime.clock.now()
    number = 1 + (
        await session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(supervision_report.c.number), 0)).where(
                supervision_report.c.year == rnd.year
            )
        )
        or 0
    )
    report = (await build(session, rnd, now.date())).model_copy(
        update={"id": uuid.uuid4(), "state": "issued", "number": number, "issued_at": now}
    )
    await session.execute(
        sa.insert(supervision_report).values(
            id=report.id,
            supervision_round_id=rnd.id,
            year=rnd.year,
            number=number,
            issued_at=now,
            issued_by_person_id=caller.principal.person_id,
            content=report.model_dump(mode="json"),
        )
    )
    await stage(session, published(report, now))
    return report


def published(report: SupervisionReport, at: datetime) -> c.SupervisionReportPublished:
    """The announcement of an issued report, with its audience (issue 16's access rule)."""
    assert report.id is not None and report.number is not None
    lines = sorted(
        {f.line_id for x in report.categories for f in x.findings if f.line_id is not None}
        | {r.line_id for r in report.referrals if r.line_id is not None},
        key=str,
    )
    return c.SupervisionReportPublished(
        effective_at=at,
        supervision_round_id=report.supervision_round_id,
        report_id=report.id,
        number=report.number,
        period=c.Period(kind=c.PeriodKind.MONTH, start=report.period_start, end=report.period_end),
        title=f"{TITLE}（{report.year}年第{report.number}期）",
        path=f"/api/v1/supervision-rounds/{report.supervision_round_id}/report",
        audience=c.Audience(
            unit_roles=(c.UnitRole.SUPERVISION_OFFICE, c.UnitRole.MAJOR_PROJECTS_OFFICE),
            post_kinds=(c.PostKind.DISTRICT_LEADER,),
            line_ids=tuple(lines),
        ),
    )
