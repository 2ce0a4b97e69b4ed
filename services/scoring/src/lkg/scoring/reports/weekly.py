"""《要情专报》 (周通报, policy §五(二)): the week's bulletin, computed as of the end of its cadence day from
the facts scoring holds, then stored and frozen (:mod:`lkg.scoring.reports.issued`).

What it holds (issue 16): investment completed as of the latest reported month against the year's plan
(monthly figures from ``investment.reported``; nothing weekly is invented), progress of all projects by
class and line (their stage), the week's new starts (开工 achieved), open problems and meeting matters with
the week's breaches and escalations, red cards of both sources (the month-end supervision round and the
bottom 3 of the monthly ranking) issued, dismissed or withdrawn in the week, and the
provincial/municipal ranking of the latest reported month (§三(三)一).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import TZ
from lkg.common.documents import (
    Figure,
    Heading,
    OfficialDocument,
    Paragraph,
    Sheet,
    Table,
    render_docx,
    render_xlsx,
)
from lkg.common.lines import UNROUTED, line_label
from lkg.scoring import rankings
from lkg.scoring.cards import CARD_REASON_LABEL
from lkg.scoring.models import breach_fact, investment_fact, milestone_fact, org_copy, red_card_fact
from lkg.scoring.reports import dispatch, dispatch_data
from lkg.scoring.reports import schemas as s
from lkg.scoring.reports.documents import chart

TITLE = "要情专报"
OFFICE = "区重大项目建设工作领导小组办公室"
STAGES = ("preliminary", "approval", "construction", "investment", "completion", "full_production")
CLASS_LABEL = {
    "preliminary": "前期项目",
    "new_start": "计划新开工",
    "continuing": "结转续建",
    "completing": "完工投产",
}


def week_label(monday: date) -> str:
    sunday = monday + timedelta(days=6)
    year, week, _ = monday.isocalendar()
    return f"{year}年第{week}周（{monday.month}月{monday.day}日至{sunday.month}月{sunday.day}日）"


def _wan(value: Decimal) -> str:
    """元 → 万元, two decimals."""
    return f"{value / Decimal(10000):.2f}"


def _rate(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def _invested(row: rankings.InvestmentRow) -> s.InvestmentFigure:
    return s.InvestmentFigure(
        label=row.label, plan=row.plan, year_to_date=row.year_to_date, completion=row.completion
    )


async def build(
    session: AsyncSession, monday: date, as_of: datetime, calendar: WorkingCalendar
) -> s.WeeklyBulletin:
    sunday = monday + timedelta(days=6)
    start = datetime.combine(monday, datetime.min.time(), tzinfo=TZ)
    year = local_date(as_of).year
    numbers = dict((await session.execute(sa.select(org_copy.lines.c.id, org_copy.lines.c.number))).all())
    lines = {lid: line_label(n) for lid, n in numbers.items()}
    line_order = {line_label(n): n for n in numbers.values()} | {UNROUTED: 99}

    def line_of(line_id: UUID | None) -> str:
        return lines.get(line_id, UNROUTED) if line_id else UNROUTED

    # Investment, as of the latest month reported by the cut-off.
    latest = (
        await session.execute(
            sa.select(investment_fact.c.month)
            .where(investment_fact.c.year == year, investment_fact.c.recorded_at <= as_of)
            .order_by(investment_fact.c.month.desc())
            .limit(1)
        )
    ).scalar()
    by_line = await rankings.investment(session, year, "line", as_of)
    plan = sum((r.plan for r in by_line), Decimal(0))
    done = sum((r.year_to_date for r in by_line), Decimal(0))
    total = s.InvestmentFigure(
        label="合计",
        plan=plan,
        year_to_date=done,
        completion=(done / plan).quantize(Decimal("0.0001")) if plan else None,
    )

    # Progress: every active project by class and by line, counted by stage.
    projects = await rankings.active_projects(session)
    by_class: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_line_stage: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in projects:
        stage = p.snapshot.get("stage", "preliminary")
        label = line_of(p.line_id)
        for bucket in (
            by_class[CLASS_LABEL.get(p.snapshot["project_class"], p.snapshot["project_class"])],
            by_line_stage[label],
        ):
            bucket[stage] += 1
            bucket["projects"] += 1

    def progress(label: str, counts: dict[str, int]) -> s.ProgressRow:
        return s.ProgressRow(label=label, projects=counts["projects"], **{k: counts[k] for k in STAGES})

    class_order = list(CLASS_LABEL.values())
    progress_by_class = [progress(k, by_class[k]) for k in class_order if k in by_class]
    progress_by_line = [
        progress(k, by_line_stage[k]) for k in sorted(by_line_stage, key=lambda k: line_order.get(k, 98))
    ]

    # New starts: 开工 achieved this week (known by the cut-off).
    names = {p.id: p for p in projects}
    m = milestone_fact.c
    started = (
        await session.execute(
            sa.select(milestone_fact)
            .where(
                m.type == "construction_start",
                m.achieved_on >= monday,
                m.achieved_on <= sunday,
                m.achieved_at <= as_of,
            )
            .order_by(m.achieved_on, m.project_id)
        )
    ).all()
    new_starts = [
        s.NewStart(
            project_id=x.project_id,
            name=names[x.project_id].name,
            line_label=line_of(names[x.project_id].line_id),
            responsible_unit_name=names[x.project_id].snapshot["responsible_unit_name"],
            achieved_on=x.achieved_on,
        )
        for x in started
        if x.project_id in names
    ]

    # Problems and meeting matters: open ones as of the cut-off, this week's breaches and escalations.
    world = await dispatch_data.load(session, start, as_of, local_date(as_of), (monday, sunday))
    snap = dispatch.snapshot(world, as_of, calendar)
    figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    project_lines = {p.id: p.line_id for p in projects}
    for mt in snap.matters.values():
        f = mt.fact
        label = line_of(f.line_id if f.line_id else project_lines.get(f.project_id))
        figures[label]["open_problems" if f.kind == "problem" else "open_meeting_matters"] += 1
        if mt.overdue(as_of) is not None:
            figures[label]["overdue"] += 1
        if mt.escalated_at is not None and mt.escalated_at >= start:
            figures[label]["escalated_this_week"] += 1
    b = breach_fact.c
    for x in await session.execute(
        sa.select(b.line_id, b.project_id).where(
            b.breached_at >= start, b.breached_at <= as_of, b.recorded_at <= as_of
        )
    ):
        figures[line_of(x.line_id if x.line_id else project_lines.get(x.project_id))][
            "breaches_this_week"
        ] += 1
    keys = ("open_problems", "open_meeting_matters", "overdue", "breaches_this_week", "escalated_this_week")
    matters_by_line = [
        s.MatterFigures(label=k, **{key: figures[k][key] for key in keys})
        for k in sorted(figures, key=lambda k: (line_order.get(k, 98), k))
    ]
    matters_total = s.MatterFigures(
        label="合计", **{key: sum(figures[k][key] for k in figures) for key in keys}
    )

    # Red cards of both sources (the month-end supervision round, §五(三); the bottom 3 of the monthly
    # ranking, §六(三)) whose state changed this week, as the register told scoring by the cut-off.
    rc = red_card_fact.c
    cards = [
        s.CardFigure(
            red_card_id=x.red_card_id,
            target_unit_name=x.target_unit_name,
            source=x.source,
            state=x.state,
            reason=x.reason,
            card_reason=x.card_reason,
            card_reason_label=CARD_REASON_LABEL.get(x.card_reason or "", x.card_reason),
            month=f"{x.period_start.year}-{x.period_start.month:02d}",
            changed_on=local_date(x.updated_at),
        )
        for x in await session.execute(
            sa.select(red_card_fact)
            .where(rc.updated_at >= start, rc.updated_at <= as_of, rc.state != "proposed")
            .order_by(rc.updated_at, rc.target_unit_name)
        )
    ]

    provincial = []
    if latest is not None:
        provincial = [
            s.ProvincialFigure(
                rank=u.rank,
                label=u.label,
                projects=len(u.projects),
                count_share=u.count_share,
                investment_share=u.investment_share,
                month_amount=u.month_amount,
                month_on_month=u.month_on_month,
            )
            for u in await rankings.provincial(session, year, latest, as_of, "month_on_month")
        ]

    return s.WeeklyBulletin(
        label=week_label(monday),
        start=monday,
        end=sunday,
        as_of=as_of,
        investment_month=f"{year}-{latest:02d}" if latest else None,
        investment_total=total,
        investment_by_line=[_invested(r) for r in by_line],
        progress_by_class=progress_by_class,
        progress_by_line=progress_by_line,
        new_starts=new_starts,
        matters_by_line=matters_by_line,
        matters_total=matters_total,
        new_red_cards=cards,
        provincial=provincial,
    )


# ---- documents ---------------------------------------------------------------------------------------

INVESTMENT_COLUMNS = ["名称", "年度计划投资（万元）", "累计完成（万元）", "完成率"]
PROGRESS_COLUMNS = ["分类", "项目数", "前期", "审批", "开工", "投资", "竣工", "达产达效"]
NEW_START_COLUMNS = ["项目名称", "包保线", "责任单位", "开工日期"]
MATTER_COLUMNS = ["包保线", "未销号问题", "未销号会议议定事项", "超时未办", "本周超时", "本周上报"]
CARD_COLUMNS = ["单位", "来源", "事由", "所属月份", "状态", "日期", "说明"]
PROVINCIAL_COLUMNS = ["排名", "单位", "项目数", "个数占比", "投资总量占比", "当月投资（万元）", "环比"]
_SOURCE = {"supervision": "月末督查", "ranking": "月度考核排名后3名"}
_CARD_STATE = {"issued": "已发放", "dismissed": "不予认定", "withdrawn": "已撤销"}


def investment_rows(bulletin: s.WeeklyBulletin) -> list[list[str]]:
    return [
        [r.label, _wan(r.plan), _wan(r.year_to_date), _rate(r.completion)]
        for r in [*bulletin.investment_by_line, bulletin.investment_total]
    ]


def progress_rows(rows: list[s.ProgressRow]) -> list[list[Any]]:
    return [[r.label, r.projects, *(getattr(r, k) for k in STAGES)] for r in rows]


def new_start_rows(bulletin: s.WeeklyBulletin) -> list[list[str]]:
    return [
        [x.name, x.line_label, x.responsible_unit_name, x.achieved_on.isoformat()]
        for x in bulletin.new_starts
    ]


def matter_rows(bulletin: s.WeeklyBulletin) -> list[list[Any]]:
    return [
        [
            r.label,
            r.open_problems,
            r.open_meeting_matters,
            r.overdue,
            r.breaches_this_week,
            r.escalated_this_week,
        ]
        for r in [*bulletin.matters_by_line, bulletin.matters_total]
    ]


def card_rows(bulletin: s.WeeklyBulletin) -> list[list[str]]:
    return [
        [
            x.target_unit_name,
            _SOURCE.get(x.source, x.source),
            x.card_reason_label or "",
            x.month or "",
            _CARD_STATE.get(x.state, x.state),
            x.changed_on.isoformat() if x.changed_on else "",
            x.reason or "",
        ]
        for x in bulletin.new_red_cards
    ]


def _card_summary(bulletin: s.WeeklyBulletin) -> str:
    cards = bulletin.new_red_cards
    by_source = [
        f"{label}{n}张" for source, label in _SOURCE.items() if (n := sum(x.source == source for x in cards))
    ]
    return f"本周红牌变动{len(cards)}张" + (f"（{'、'.join(by_source)}）" if by_source else "") + "。"


def provincial_rows(bulletin: s.WeeklyBulletin) -> list[list[Any]]:
    return [
        [
            u.rank,
            u.label,
            u.projects,
            _pct(u.count_share),
            _pct(u.investment_share),
            _wan(u.month_amount),
            _pct(u.month_on_month),
        ]
        for u in bulletin.provincial
    ]


def _text(rows: list[list[Any]]) -> list[list[str]]:
    return [[str(v) for v in row] for row in rows]


def to_docx(bulletin: s.WeeklyBulletin, number: int, issued: datetime) -> bytes:
    t = bulletin.investment_total
    month = bulletin.investment_month
    total = bulletin.matters_total
    blocks: list[Heading | Paragraph | Table | Figure] = [
        Heading("一、投资完成情况"),
        Paragraph(
            (f"截至{month[:4]}年{int(month[5:])}月，" if month else "本年度尚未报送投资完成情况，")
            + f"全区重大产业项目年度计划投资{_wan(t.plan)}万元，累计完成{_wan(t.year_to_date)}万元，"
            + f"完成率{_rate(t.completion)}。"
        ),
        Table(INVESTMENT_COLUMNS, investment_rows(bulletin), caption="表1 各包保线投资完成情况"),
    ]
    if bulletin.investment_by_line:
        blocks.append(
            chart(
                "各包保线投资完成率",
                [r.label for r in bulletin.investment_by_line],
                [float((r.completion or 0) * 100) for r in bulletin.investment_by_line],
                "完成率（%）",
                "图1 各包保线投资完成率",
            )
        )
    blocks += [
        Heading("二、项目推进情况"),
        Table(PROGRESS_COLUMNS, _text(progress_rows(bulletin.progress_by_class)), caption="表2 按项目类别"),
        Table(PROGRESS_COLUMNS, _text(progress_rows(bulletin.progress_by_line)), caption="表3 按包保线"),
        Paragraph(f"本周新开工项目{len(bulletin.new_starts)}个。"),
        Table(NEW_START_COLUMNS, new_start_rows(bulletin), caption="表4 本周新开工项目"),
        Heading("三、问题办理情况"),
        Paragraph(
            f"截至本期，未销号问题{total.open_problems}个、会议议定事项{total.open_meeting_matters}个，"
            f"其中超时未办{total.overdue}个；本周超时{total.breaches_this_week}次，上报{total.escalated_this_week}个。"
        ),
        Table(MATTER_COLUMNS, _text(matter_rows(bulletin)), caption="表5 各包保线问题办理情况"),
        Heading("四、红牌警告"),
        Paragraph(_card_summary(bulletin)),
        Table(CARD_COLUMNS, card_rows(bulletin), caption="表6 本周红牌"),
        Heading("五、省市重大项目排名"),
        Table(
            PROVINCIAL_COLUMNS,
            _text(provincial_rows(bulletin)),
            caption="表7 省市重大项目（按单位，投资环比排序）",
        ),
    ]
    return render_docx(
        OfficialDocument(title=TITLE, office=OFFICE, number=number, issued=issued, blocks=blocks)
    )


def to_xlsx(bulletin: s.WeeklyBulletin, issued: datetime) -> bytes:
    return render_xlsx(
        [
            Sheet("投资完成", INVESTMENT_COLUMNS, investment_rows(bulletin)),
            Sheet("按类别推进", PROGRESS_COLUMNS, progress_rows(bulletin.progress_by_class)),
            Sheet("按线推进", PROGRESS_COLUMNS, progress_rows(bulletin.progress_by_line)),
            Sheet("新开工", NEW_START_COLUMNS, new_start_rows(bulletin)),
            Sheet("问题办理", MATTER_COLUMNS, matter_rows(bulletin)),
            Sheet("红牌", CARD_COLUMNS, card_rows(bulletin)),
            Sheet("省市重大项目", PROVINCIAL_COLUMNS, provincial_rows(bulletin)),
        ],
        issued,
    )
