"""The red-card register (红牌) and the month-end supervision round (§五(三), §六(三)).

Red cards come from two places only (DESIGN §2): the supervision office's month-end round and the bottom 3
of a monthly ranking (``red_card.requested`` from scoring). In the last week of each month (on the shared
clock) the round lists candidates in the policy's four categories from the read copies — ≥100M new-starts
with no real progress, ≥100M continuing projects behind schedule, projects not enrolled in statistics,
meeting matters past their deadline — each as a *proposed* card with its evidence; 督查室 records field
checks (明查暗访、实地核实), then confirms (``red_card.issued``) or dismisses with a reason
(``red_card.dismissed``). Referral to 区纪委监委 needs the L2 leader's consent first, an audited step.
"""

from __future__ import annotations

import calendar as months
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Role
from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.problems import Conflict, Forbidden, NotFound
from lkg.common.runtime.service import ServiceRuntime
from lkg.issues import org
from lkg.issues.access import Viewer
from lkg.issues.audit import SYSTEM, record
from lkg.issues.models import OPEN_STATES, matter, project_copy, red_card, supervision_round
from lkg.issues.settings import IssuesSettings

_HUNDRED_MILLION = c.ONE_HUNDRED_MILLION_YUAN


def round_opens_at(year: int, month: int, days_before_end: int) -> datetime:
    """00:00 on the first day of the month's last week ("每月最后一个星期", §五(三))."""
    last = date(year, month, months.monthrange(year, month)[1])
    return datetime.combine(last - timedelta(days=days_before_end), time(0), tzinfo=TZ)


def _card_event(cls: type, card: Any, **extra: Any) -> Any:
    return cls(
        effective_at=extra.pop("at"),
        red_card_id=card.id,
        target=c.RedCardTarget(
            unit_id=card.target_unit_id,
            unit_name=card.target_unit_name,
            kind=c.RedCardTargetKind(card.target_kind),
        ),
        source=c.RedCardSource(card.source),
        reason=c.RedCardReason(card.reason),
        period=c.Period(kind=c.PeriodKind(card.period_kind), start=card.period_start, end=card.period_end),
        project_id=card.project_id,
        supervision_round_id=card.supervision_round_id,
        request_id=card.request_id,
        evidence=tuple(c.EvidenceRef.model_validate(e) for e in card.evidence),
        **extra,
    )


# ---- candidates -------------------------------------------------------------------------------------


def _candidates_from_project(snapshot: dict[str, Any], on: date) -> list[tuple[str, str]]:
    """(reason, evidence note) for one project snapshot on day ``on``."""
    found: list[tuple[str, str]] = []
    if snapshot.get("status", "active") != "active":
        return found
    big = Decimal(snapshot["total_investment"]) >= _HUNDRED_MILLION
    milestones = snapshot.get("milestones") or []
    late = [
        ms
        for ms in milestones
        if ms.get("actual_date") is None and date.fromisoformat(ms["planned_date"]) < on
    ]
    if big and snapshot["project_class"] == "new_start":
        start = [ms for ms in late if ms["type"] == "construction_start"]
        if start:
            found.append(
                ("no_real_progress", f"计划{start[0]['planned_date']}开工，至{on.isoformat()}未开工")
            )
    if big and snapshot["project_class"] == "continuing" and late:
        ms = late[0]
        found.append(
            ("behind_schedule", f"{ms['label']}计划{ms['planned_date']}完成，至{on.isoformat()}未完成")
        )
    if snapshot.get("enrolment_status") == "failed":
        found.append(("not_enrolled", "统计局报告项目未通过审核入库"))
    return found


#: Reasons under which a project is behind; where an approval item of it is stalled past its limit, the
#: approval department is a candidate too (§五(三): "对相关责任单位或相关审批部门进行'红牌'警告").
_PROJECT_BEHIND = ("no_real_progress", "behind_schedule")


async def approval_departments(session: AsyncSession, on: date) -> set[UUID]:
    """Units acting as approval departments: 区行政审批局 (by role in the org copy) and every department
    named as the handling unit of an approval signal (``approval.stalled`` / ``approval.start_at_risk``)."""
    found = set(await org.units_with_role(session, c.UnitRole.APPROVAL_BUREAU, on))
    named = await session.execute(
        sa.select(matter.c.resolving_unit_id)
        .where(
            matter.c.origin == "system",
            matter.c.cause_key.like("approval.%"),
            matter.c.resolving_unit_id.is_not(None),
        )
        .distinct()
    )
    return found | set(named.scalars())


async def _approval_department_proposals(
    session: AsyncSession, proposals: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For each project proposed as behind, one candidate per approval department whose item on it is
    stalled past its time limit (an open ``approval.stalled`` problem): the delay may be that department's
    fault, which 督查室 verifies on the spot before confirming either card."""
    behind = [p for p in proposals if p["reason"] in _PROJECT_BEHIND]
    if not behind:
        return []
    stalled = (
        await session.execute(
            sa.select(matter)
            .where(
                matter.c.project_id.in_([p["project_id"] for p in behind]),
                matter.c.cause_key.like("approval.stalled:%"),
                matter.c.state.in_([s for s in OPEN_STATES if s != "resolved"]),
                matter.c.resolving_unit_id.is_not(None),
            )
            .order_by(matter.c.reported_at, matter.c.id)
        )
    ).all()
    found: list[dict[str, Any]] = []
    for proposal in behind:
        by_department: dict[UUID, list[Any]] = {}
        for m in stalled:
            if m.project_id == proposal["project_id"]:
                by_department.setdefault(m.resolving_unit_id, []).append(m)
        for department, matters in by_department.items():
            found.append(
                {
                    "reason": proposal["reason"],
                    "target_unit_id": department,
                    "target_unit_name": matters[0].resolving_unit_name or "",
                    "target_kind": "approval_department",
                    "project_id": proposal["project_id"],
                    "line_id": proposal["line_id"],
                    "matter_id": matters[0].id,
                    "subject": f"{proposal['project_id']}:{department}",
                    "evidence": [
                        *proposal["evidence"],
                        *(
                            {
                                "kind": "approval_item",
                                "id": m.cause_key.split(":", 1)[1],
                                "note": f"{m.title}：{m.description}",
                            }
                            for m in matters
                        ),
                    ],
                }
            )
    return found


async def open_round(
    session: AsyncSession, runtime: ServiceRuntime, year: int, month: int
) -> tuple[Any, int]:
    """Open the round of (year, month) if not yet open and propose its candidates; returns (round, new)."""
    now = runtime.clock.now()
    period_start = date(year, month, 1)
    period_end = date(year, month, months.monthrange(year, month)[1])
    inserted = (
        await session.execute(
            pg_insert(supervision_round)
            .values(
                id=uuid.uuid4(),
                year=year,
                month=month,
                opened_at=now,
                period_start=period_start,
                period_end=period_end,
            )
            .on_conflict_do_nothing()
            .returning(supervision_round)
        )
    ).first()
    if inserted is None:
        existing = (
            await session.execute(
                sa.select(supervision_round).where(
                    supervision_round.c.year == year, supervision_round.c.month == month
                )
            )
        ).one()
        return existing, 0
    rnd = inserted
    on = now.date()
    proposals: list[dict[str, Any]] = []
    for p in (await session.execute(sa.select(project_copy).order_by(project_copy.c.name))).all():
        for reason, note in _candidates_from_project(p.snapshot, on):
            proposals.append(
                {
                    "reason": reason,
                    "target_unit_id": p.responsible_unit_id,
                    "target_unit_name": p.snapshot.get("responsible_unit_name", ""),
                    "target_kind": "responsible_unit",
                    "project_id": p.id,
                    "line_id": p.line_id,
                    "matter_id": None,
                    "subject": p.id,
                    "evidence": [{"kind": "project", "id": str(p.id), "note": f"{p.name}：{note}"}],
                }
            )
    proposals += await _approval_department_proposals(session, proposals)
    departments = await approval_departments(session, on)
    overdue = (
        await session.execute(
            sa.select(matter).where(
                matter.c.kind == "meeting_matter",
                matter.c.state.in_([s for s in OPEN_STATES if s != "resolved"]),
                matter.c.resolution_due_on < on,
            )
        )
    ).all()
    for m in overdue:
        proposals.append(
            {
                "reason": "meeting_matter_overdue",
                "target_unit_id": m.resolving_unit_id,
                "target_unit_name": m.resolving_unit_name or "",
                # The unit the meeting charged may be an approval department (§五(三) "相关审批部门").
                "target_kind": (
                    "approval_department" if m.resolving_unit_id in departments else "responsible_unit"
                ),
                "project_id": m.project_id,
                "line_id": m.line_id,
                "matter_id": m.id,
                "subject": m.id,
                "evidence": [
                    {
                        "kind": "meeting_matter",
                        "id": str(m.id),
                        "note": (
                            f"{m.title}：议定{m.resolution_due_on.isoformat()}前办结，"
                            f"至{on.isoformat()}未解决"
                        ),
                    }
                ],
            }
        )
    created = 0
    for proposal in proposals:
        subject = proposal.pop("subject")
        card = (
            await session.execute(
                pg_insert(red_card)
                .values(
                    id=uuid.uuid4(),
                    revision=1,
                    state="proposed",
                    source="supervision",
                    supervision_round_id=rnd.id,
                    candidate_key=f"{year}-{month:02d}:{proposal['reason']}:{subject}",
                    period_kind="month",
                    period_start=period_start,
                    period_end=period_end,
                    created_at=now,
                    updated_at=now,
                    **proposal,
                )
                .on_conflict_do_nothing()
                .returning(red_card)
            )
        ).first()
        if card is not None:
            created += 1
            await record(
                session,
                card,
                "proposed",
                actor=SYSTEM,
                actor_name="系统",
                at=now,
                subject_kind="red_card",
                detail={"reason": card.reason, "round": f"{year}-{month:02d}"},
            )
    return rnd, created


#: (database, year, month) of the rounds known to be open, so that a scan with nothing to open costs no
#: query (the common case: every settle and every scan interval runs this scan).
_OPENED: set[tuple[str, int, int]] = set()


async def scan_rounds(runtime: ServiceRuntime, until: datetime) -> int:
    """Open this month's (and a skipped previous month's) round once its last week has begun."""
    settings: IssuesSettings = runtime.settings  # type: ignore[assignment]
    local = until.astimezone(TZ)
    months_due = []
    prev = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    for year, month in (prev, (local.year, local.month)):
        opens = round_opens_at(year, month, settings.supervision_days_before_month_end)
        if opens <= until and opens >= runtime.settings.simulated_start:
            months_due.append((year, month, opens))
    acted = 0
    database = str(runtime.settings.database_url)
    for year, month, opens in months_due:
        if (database, year, month) in _OPENED:
            continue
        async with runtime.db.transaction() as session:
            exists = await session.scalar(
                sa.select(sa.func.count()).where(
                    supervision_round.c.year == year, supervision_round.c.month == month
                )
            )
            if not exists:
                with runtime.clock.at(opens):
                    await open_round(session, runtime, year, month)
                acted += 1
        _OPENED.add((database, year, month))  # committed: a round never closes again
    return acted


# ---- decisions on a card ----------------------------------------------------------------------------


async def get_card(session: AsyncSession, card_id: UUID, viewer: Viewer) -> Any:
    stmt = sa.select(red_card).where(red_card.c.id == card_id)
    if not viewer.sees_all:
        units, lines = list(viewer.reach.units), list(viewer.reach.lines)
        stmt = stmt.where(sa.or_(red_card.c.target_unit_id.in_(units), red_card.c.line_id.in_(lines)))
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound("红牌不存在", code="red_card_not_found")
    return row


def _supervisor(viewer: Viewer) -> None:
    if not viewer.principal.has_role(Role.SUPERVISION_OFFICE, Role.ADMIN):
        raise Forbidden("只有区政府督查室可以确认或撤销红牌", code="forbidden")


async def _audit(
    session: AsyncSession,
    viewer: Viewer,
    card: Any,
    action: str,
    at: datetime,
    detail: dict[str, Any],
    layer: int | None = None,
) -> None:
    """One line of the append-only audit trail for a person's action on a red card."""
    await record(
        session,
        card,
        action,
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=at,
        layer=layer,
        subject_kind="red_card",
        detail=detail,
    )


async def _update_card(
    session: AsyncSession, card: Any, expected: int, values: dict[str, Any], at: datetime
) -> Any:
    await update_if_revision(session, red_card, card.id, expected, {**values, "updated_at": at})
    return (await session.execute(sa.select(red_card).where(red_card.c.id == card.id))).one()


async def add_field_check(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    card: Any,
    *,
    expected_revision: int,
    method: str,
    note: str,
) -> Any:
    """明查暗访、实地核实: 督查室 records what it found on the spot."""
    _supervisor(viewer)
    if card.state != "proposed":
        raise Conflict("只能对待确认的红牌记录核查", code="invalid_state")
    now = runtime.clock.now()
    checks = [*card.field_checks, {"method": method, "note": note, "at": now.isoformat(), "by": viewer.actor}]
    card = await _update_card(session, card, expected_revision, {"field_checks": checks}, now)
    await _audit(session, viewer, card, "field_checked", now, {"method": method, "note": note})
    return card


async def confirm(
    session: AsyncSession, runtime: ServiceRuntime, viewer: Viewer, card: Any, *, expected_revision: int
) -> Any:
    """督查室 confirms a proposed card: exactly one ``red_card.issued``."""
    _supervisor(viewer)
    if card.state != "proposed":
        raise Conflict("该红牌已处理", code="invalid_state")
    now = runtime.clock.now()
    card = await _update_card(
        session,
        card,
        expected_revision,
        {"state": "issued", "decided_by_person_id": viewer.principal.person_id, "decided_at": now},
        now,
    )
    person = _uuid(viewer.principal.person_id)
    await stage(session, _card_event(c.RedCardIssued, card, at=now, confirmed_by_person_id=person))
    await record(
        session,
        card,
        "issued",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        subject_kind="red_card",
    )
    return card


async def dismiss(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    card: Any,
    *,
    expected_revision: int,
    reason: str,
) -> Any:
    _supervisor(viewer)
    if card.state != "proposed":
        raise Conflict("该红牌已处理", code="invalid_state")
    now = runtime.clock.now()
    card = await _update_card(
        session,
        card,
        expected_revision,
        {
            "state": "dismissed",
            "dismissal_reason": reason,
            "decided_by_person_id": viewer.principal.person_id,
            "decided_at": now,
        },
        now,
    )
    person = _uuid(viewer.principal.person_id) or uuid.UUID(int=0)
    await stage(
        session,
        _card_event(c.RedCardDismissed, card, at=now, dismissal_reason=reason, dismissed_by_person_id=person),
    )
    await _audit(session, viewer, card, "dismissed", now, {"reason": reason})
    return card


async def consent_to_referral(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    card: Any,
    *,
    expected_revision: int,
    note: str,
) -> Any:
    """The L2 leader of the card's line consents to referring the case to 区纪委监委 (§五(三))."""
    leads_line = card.line_id is not None and card.line_id in viewer.reach.lines
    if not (viewer.principal.has_role(Role.LINE_LEADER) and leads_line) and not viewer.principal.has_role(
        Role.ADMIN
    ):
        raise Forbidden("须由该项目的包保区级领导同意", code="forbidden")
    if card.state != "issued" or card.referral_state != "none":
        raise Conflict("只有已发出且未移交的红牌可以同意移交", code="invalid_state")
    now = runtime.clock.now()
    card = await _update_card(session, card, expected_revision, {"referral_state": "consented"}, now)
    await _audit(session, viewer, card, "referral_consented", now, {"note": note}, layer=2)
    return card


async def refer(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    card: Any,
    *,
    expected_revision: int,
    note: str,
) -> Any:
    """提交区纪委监委问责: only after the L2 leader's consent."""
    _supervisor(viewer)
    if card.referral_state != "consented":
        raise Conflict("须先经包保区级领导同意后方可提交区纪委监委", code="consent_required")
    now = runtime.clock.now()
    card = await _update_card(session, card, expected_revision, {"referral_state": "referred"}, now)
    await _audit(session, viewer, card, "referred", now, {"note": note})
    return card


async def issue_ranking_card(session: AsyncSession, event: c.RedCardRequested) -> None:
    """A ranking card (bottom 3 of the monthly ranking, §六(三)), issued once per request."""
    at = event.effective_at
    card = (
        await session.execute(
            pg_insert(red_card)
            .values(
                id=uuid.uuid4(),
                revision=1,
                state="issued",
                source="ranking",
                reason="bottom_of_ranking",
                target_unit_id=event.target.unit_id,
                target_unit_name=event.target.unit_name,
                target_kind=str(event.target.kind),
                request_id=event.request_id,
                period_kind=str(event.period.kind),
                period_start=event.period.start,
                period_end=event.period.end,
                evidence=[e.model_dump(mode="json") for e in event.evidence],
                decided_at=at,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing()
            .returning(red_card)
        )
    ).first()
    if card is None:
        return
    await stage(session, _card_event(c.RedCardIssued, card, at=at))
    await record(
        session,
        card,
        "issued",
        actor=SYSTEM,
        actor_name="系统",
        at=at,
        subject_kind="red_card",
        detail={"request_id": str(event.request_id), "rank": event.rank},
    )


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None
