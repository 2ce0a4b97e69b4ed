"""Rankings beyond the monthly assessment (§三(三)): none of them gives a red card.

* **Provincial/municipal projects** (省市重大项目, §三(三)一: "对全区15个纳入省、市级重大项目个数占比、
  投资总量占比、每月投资量环比等情况进行排名"). Two of the three measures are shares of a whole
  (个数占比, 投资总量占比): a single project has no share of a count, so the platform ranks the **units
  that carry them** (the responsible units), each with its share of the projects, its share of their
  total investment and the month-on-month change of their completed investment; the projects themselves
  are listed under each unit as evidence.
* **Investment** (投资完成): completed investment per month from ``investment.reported`` (monthly
  figures only; nothing weekly is invented), by line, class or unit, against the year's plan (the
  projects' planned annual investment).
* **比晒亮 / 进度晾晒** (§三(三)二): the planned new starts ranked by progress towards their start: milestones
  reached against the baseline and approvals granted.

Each report's figures come from the facts recorded by its cut-off (the end of the month, or now), like the
evaluations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import end_of_day
from lkg.common.lines import UNROUTED, line_label
from lkg.scoring.models import (
    approval_fact,
    investment_fact,
    milestone_baseline,
    milestone_fact,
    project_copy,
)
from lkg.scoring.sheets import unit_names

_PCT = Decimal("0.01")
Group = Literal["line", "class", "unit"]


def _share(part: Decimal, whole: Decimal) -> Decimal | None:
    return (Decimal(100) * part / whole).quantize(_PCT) if whole else None


async def _projects(session: AsyncSession, where: Any = sa.true()) -> list[Any]:
    p = project_copy
    return list(
        (
            await session.execute(
                sa.select(p.c.id, p.c.name, p.c.responsible_unit_id, p.c.line_id, p.c.snapshot)
                .where(p.c.status == "active", where)
                .order_by(p.c.name, p.c.id)
            )
        ).all()
    )


#: Every active project (its read copy row), by name: also what the reports count.
active_projects = _projects


async def monthly_amounts(
    session: AsyncSession, year: int, as_of: datetime
) -> dict[tuple[UUID, int], Decimal]:
    """Completed investment per (project, month) of ``year``: the latest report of each month that no later
    report recorded by ``as_of`` supersedes."""
    i = investment_fact
    later = sa.alias(i)
    rows = (
        await session.execute(
            sa.select(i.c.project_id, i.c.month, i.c.amount, i.c.recorded_at)
            .where(
                i.c.year == year,
                i.c.recorded_at <= as_of,
                ~sa.exists().where(later.c.supersedes == i.c.report_id, later.c.recorded_at <= as_of),
            )
            .order_by(i.c.recorded_at)
        )
    ).all()
    out: dict[tuple[UUID, int], Decimal] = {}
    for r in rows:
        out[(r.project_id, r.month)] = Decimal(r.amount)  # a later report of the same month replaces it
    return out


# ---- provincial/municipal projects (§三(三)一) -----------------------------------------------------


@dataclass
class ProvincialUnit:
    unit_id: UUID
    label: str
    projects: list[dict[str, Any]] = field(default_factory=list)
    count_share: Decimal | None = None
    investment_share: Decimal | None = None
    month_amount: Decimal = Decimal(0)
    previous_amount: Decimal = Decimal(0)
    month_on_month: Decimal | None = None
    rank: int = 0


Measure = Literal["month_on_month", "count_share", "investment_share"]


async def provincial(
    session: AsyncSession, year: int, month: int, as_of: datetime, order_by: Measure
) -> list[ProvincialUnit]:
    rows = [r for r in await _projects(session) if r.snapshot.get("provincial_municipal")]
    amounts = await monthly_amounts(session, year, as_of)
    previous = (year, month - 1) if month > 1 else (year - 1, 12)
    before = amounts if previous[0] == year else await monthly_amounts(session, previous[0], as_of)
    total_count = len(rows)
    total_investment = sum((Decimal(r.snapshot["total_investment"]) for r in rows), Decimal(0))
    names = await unit_names(session, {r.responsible_unit_id for r in rows})
    units: dict[UUID, ProvincialUnit] = {}
    for r in rows:
        unit = units.setdefault(
            r.responsible_unit_id,
            ProvincialUnit(
                r.responsible_unit_id, names.get(r.responsible_unit_id, r.snapshot["responsible_unit_name"])
            ),
        )
        this = amounts.get((r.id, month), Decimal(0))
        last = before.get((r.id, previous[1]), Decimal(0))
        unit.month_amount += this
        unit.previous_amount += last
        unit.projects.append(
            {
                "project_id": str(r.id),
                "name": r.name,
                "total_investment": r.snapshot["total_investment"],
                "month_amount": format(this, "f"),
                "previous_amount": format(last, "f"),
            }
        )
    for unit in units.values():
        count = len(unit.projects)
        unit.count_share = _share(Decimal(count), Decimal(total_count))
        invested = sum((Decimal(p["total_investment"]) for p in unit.projects), Decimal(0))
        unit.investment_share = _share(invested, total_investment)
        if unit.previous_amount:
            unit.month_on_month = (
                Decimal(100) * (unit.month_amount - unit.previous_amount) / unit.previous_amount
            ).quantize(_PCT)

    def key(u: ProvincialUnit) -> Decimal:
        value = getattr(u, order_by)
        return value if value is not None else Decimal("-Infinity")

    ranked = sorted(units.values(), key=lambda u: (-key(u), u.label, str(u.unit_id)))
    for i, u in enumerate(ranked):
        u.rank = ranked[i - 1].rank if i and key(ranked[i - 1]) == key(u) else i + 1
    return ranked


# ---- investment against plan ----------------------------------------------------------------------


@dataclass
class InvestmentRow:
    group_id: str
    label: str
    plan: Decimal
    months: dict[int, Decimal]
    year_to_date: Decimal
    completion: Decimal | None


_CLASS_LABEL = {
    "preliminary": "前期项目",
    "new_start": "计划新开工",
    "continuing": "结转续建",
    "completing": "完工投产",
}


async def investment(session: AsyncSession, year: int, by: Group, as_of: datetime) -> list[InvestmentRow]:
    rows = [r for r in await _projects(session) if r.snapshot.get("plan_year") == year]
    amounts = await monthly_amounts(session, year, as_of)
    names = await unit_names(
        session, {r.responsible_unit_id for r in rows} | {r.line_id for r in rows if r.line_id}
    )
    from lkg.scoring.models import org_copy

    lines = dict((await session.execute(sa.select(org_copy.lines.c.id, org_copy.lines.c.number))).all())
    groups: dict[str, InvestmentRow] = {}
    for r in rows:
        if by == "line":
            gid = str(r.line_id) if r.line_id else "unrouted"
            label = line_label(lines[r.line_id]) if r.line_id in lines else UNROUTED
        elif by == "class":
            gid = r.snapshot["project_class"]
            label = _CLASS_LABEL.get(gid, gid)
        else:
            gid = str(r.responsible_unit_id)
            label = names.get(r.responsible_unit_id, r.snapshot["responsible_unit_name"])
        row = groups.setdefault(
            gid, InvestmentRow(gid, label, Decimal(0), defaultdict(Decimal), Decimal(0), None)
        )
        row.plan += Decimal(r.snapshot["planned_annual_investment"])
        for m in range(1, 13):
            amount = amounts.get((r.id, m))
            if amount is not None:
                row.months[m] += amount
                row.year_to_date += amount
    for row in groups.values():
        row.completion = _share(row.year_to_date, row.plan)
        row.months = dict(sorted(row.months.items()))
    return sorted(groups.values(), key=lambda g: (-(g.completion or Decimal(-1)), g.label))


# ---- 比晒亮: planned new starts by progress ---------------------------------------------------------


@dataclass
class NewStart:
    project_id: UUID
    name: str
    unit_label: str
    milestones: int
    reached: int
    reached_on_time: int
    overdue: int
    approvals_granted: int
    progress: Decimal
    rank: int = 0
    evidence: list[str] = field(default_factory=list)


async def new_starts(session: AsyncSession, as_of: datetime) -> list[NewStart]:
    """Planned new starts (计划新开工) by progress towards their start: the share of their milestones reached
    (achieved), then fewer overdue against the baseline, then more approvals granted."""
    day = as_of.date()
    rows = [r for r in await _projects(session) if r.snapshot.get("project_class") == "new_start"]
    ids = [r.id for r in rows]
    if not ids:
        return []
    m, b = milestone_fact, milestone_baseline
    latest = (
        sa.select(b.c.milestone_id, sa.func.max(b.c.recorded_at).label("at"))
        .where(b.c.recorded_at <= as_of)
        .group_by(b.c.milestone_id)
        .subquery()
    )
    ms = (
        await session.execute(
            sa.select(m, b.c.baseline_date)
            .join(latest, latest.c.milestone_id == m.c.milestone_id)
            .join(b, sa.and_(b.c.milestone_id == latest.c.milestone_id, b.c.recorded_at == latest.c.at))
            .where(m.c.project_id.in_(ids))
        )
    ).all()
    granted: dict[UUID, int] = dict(
        (
            await session.execute(
                sa.select(approval_fact.c.project_id, sa.func.count())
                .where(approval_fact.c.project_id.in_(ids), approval_fact.c.granted_at <= as_of)
                .group_by(approval_fact.c.project_id)
            )
        ).all()
    )
    names = await unit_names(session, {r.responsible_unit_id for r in rows})
    by_project: dict[UUID, list[Any]] = defaultdict(list)
    for row in ms:
        by_project[row.project_id].append(row)
    out = []
    for r in rows:
        own = by_project.get(r.id, [])
        reached = [x for x in own if x.achieved_at is not None and x.achieved_at <= as_of]
        on_time = [x for x in reached if x.achieved_on <= x.baseline_date]
        overdue = [x for x in own if x not in reached and x.baseline_date < day]
        progress = _share(Decimal(len(reached)), Decimal(len(own))) or Decimal(0)
        evidence = [
            f"{x.label}：基线{x.baseline_date.isoformat()}，"
            + (
                f"{x.achieved_on.isoformat()}完成"
                if x in reached
                else ("逾期未完成" if x in overdue else "未到期")
            )
            for x in sorted(own, key=lambda x: (x.baseline_date, x.label))
        ]
        out.append(
            NewStart(
                r.id,
                r.name,
                names.get(r.responsible_unit_id, r.snapshot["responsible_unit_name"]),
                len(own),
                len(reached),
                len(on_time),
                len(overdue),
                int(granted.get(r.id, 0)),
                progress,
                evidence=evidence,
            )
        )
    out.sort(key=lambda n: (-n.progress, n.overdue, -n.approvals_granted, n.name, str(n.project_id)))
    for i, n in enumerate(out):
        prev = out[i - 1] if i else None
        same = prev is not None and (prev.progress, prev.overdue, prev.approvals_granted) == (
            n.progress,
            n.overdue,
            n.approvals_granted,
        )
        n.rank = prev.rank if same and prev is not None else i + 1
    return out


def month_end(year: int, month: int) -> datetime:
    last = date(year + month // 12, month % 12 + 1, 1).toordinal() - 1
    return end_of_day(date.fromordinal(last))
