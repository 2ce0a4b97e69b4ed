"""The month-end supervision round (月末督查, §五(三)): in the last week of each month (on the shared clock)
the round lists candidates in the policy's four categories from the read copies — ≥100M new-starts with no
real progress, ≥100M continuing projects behind schedule, projects not enrolled in statistics, meeting
matters past their deadline — each as a *proposed* red card with its evidence, for 督查室 to check on the
spot and decide (:mod:`lkg.issues.supervision.service`)."""

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

from lkg.common.clock import TZ
from lkg.common.events import contracts as c
from lkg.common.events.outbox import stage
from lkg.issues import org
from lkg.issues.models import OPEN_STATES, matter, project_copy
from lkg.issues.settings import IssuesRuntime
from lkg.issues.supervision.models import supervision_round
from lkg.issues.supervision.service import add_card, card_event

_HUNDRED_MILLION = c.ONE_HUNDRED_MILLION_YUAN


def round_opens_at(year: int, month: int, days_before_end: int) -> datetime:
    """00:00 on the first day of the month's last week ("每月最后一个星期", §五(三))."""
    last = date(year, month, months.monthrange(year, month)[1])
    return datetime.combine(last - timedelta(days=days_before_end), time(0), tzinfo=TZ)


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


async def open_round(session: AsyncSession, runtime: IssuesRuntime, year: int, month: int) -> tuple[Any, int]:
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
        card = await add_card(
            session,
            at=now,
            action="proposed",
            detail={"reason": proposal["reason"], "round": f"{year}-{month:02d}"},
            state="proposed",
            source="supervision",
            supervision_round_id=rnd.id,
            candidate_key=f"{year}-{month:02d}:{proposal['reason']}:{subject}",
            period_kind="month",
            period_start=period_start,
            period_end=period_end,
            **proposal,
        )
        if card is not None:
            # 督查室 is told what awaits its field check and decision (§五(三)).
            await stage(session, card_event(c.RedCardProposed, card, at=now))
            created += 1
    return rnd, created


#: (database, year, month) of the rounds known to be open, so that a scan with nothing to open costs no
#: query (the common case: every settle and every scan interval runs this scan).
_OPENED: set[tuple[str, int, int]] = set()


async def scan_rounds(runtime: IssuesRuntime, until: datetime) -> int:
    """Open this month's (and a skipped previous month's) round once its last week has begun."""
    local = until.astimezone(TZ)
    months_due = []
    prev = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    for year, month in (prev, (local.year, local.month)):
        opens = round_opens_at(year, month, runtime.settings.supervision_days_before_month_end)
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
