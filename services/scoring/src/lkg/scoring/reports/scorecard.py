"""困难问题"销号成绩单" (policy §五(二)): per unit and per line, the problems and meeting matters due for
closure (销号) by the month's end, closed on time, closed late, still open, and the closure rate.

* **Due** (应销号): a matter whose agreed resolution date (its ``resolution`` clock) fell by the month's end
  and that was not closed before the month began, or one closed as solved (``resolved``) in the month.
* **Closed on time / late**: closed as solved in the month, by or after its resolution date (a matter with
  no resolution date closed in the month is on time).
* **Open**: due and not closed by the month's end.
* Returned and withdrawn matters are not 销号 and are left out (docs/scoring.md says why).
* The closure rate is (on time + late) / due; null when nothing is due.

It is issued when the month's assessment closes (its last working day plus the rules' grace), with the facts
known by then, and stored frozen (:mod:`lkg.scoring.reports.issued`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import end_of_day
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
from lkg.scoring.models import matter_fact, matter_step, org_copy, project_copy
from lkg.scoring.periods import Span
from lkg.scoring.reports import schemas as s
from lkg.scoring.reports.dispatch import due_day
from lkg.scoring.reports.documents import chart

TITLE = "困难问题销号成绩单"
OFFICE = "区重大项目建设工作领导小组办公室"


@dataclass
class _Tally:
    subject_id: UUID | None
    label: str
    due: int = 0
    on_time: int = 0
    late: int = 0
    open: int = 0

    def row(self) -> s.ScorecardRow:
        closed = self.on_time + self.late
        return s.ScorecardRow(
            subject_id=self.subject_id,
            label=self.label,
            due=self.due,
            closed_on_time=self.on_time,
            closed_late=self.late,
            open=self.open,
            closure_rate=(Decimal(closed) / Decimal(self.due)).quantize(Decimal("0.0001"))
            if self.due
            else None,
        )


def _resolution_due(steps: list[Any], as_of: datetime) -> datetime | None:
    """The matter's agreed resolution date as its latest step known by ``as_of`` tells it."""
    due: datetime | None = None
    for step in sorted(steps, key=lambda x: x.at):
        if step.at > as_of:
            break
        clocks = [*(step.clocks or []), *([step.clock] if step.clock else [])]
        for clock in clocks:
            if clock["kind"] == "resolution" and clock.get("due_at"):
                due = datetime.fromisoformat(clock["due_at"])
    return due


async def build(session: AsyncSession, span: Span, as_of: datetime) -> s.ClosureScorecard:
    start = datetime.combine(span.start, datetime.min.time(), tzinfo=TZ)
    end = end_of_day(span.end)
    mf = matter_fact.c
    matters = (
        await session.execute(
            sa.select(matter_fact)
            .where(
                mf.reported_at.is_not(None),
                mf.reported_at <= as_of,
                mf.reported_at < end,
                sa.or_(mf.closed_at.is_(None), mf.closed_at > as_of, mf.closed_at >= start),
            )
            .order_by(mf.reported_at, mf.matter_id)
        )
    ).all()
    steps: dict[UUID, list[Any]] = defaultdict(list)
    if matters:
        for row in await session.execute(
            sa.select(matter_step).where(matter_step.c.matter_id.in_([m.matter_id for m in matters]))
        ):
            steps[row.matter_id].append(row)
    numbers = dict((await session.execute(sa.select(org_copy.lines.c.id, org_copy.lines.c.number))).all())
    project_lines = dict((await session.execute(sa.select(project_copy.c.id, project_copy.c.line_id))).all())
    units = dict((await session.execute(sa.select(org_copy.units.c.id, org_copy.units.c.name))).all())

    by_unit: dict[UUID, _Tally] = {}
    by_line: dict[UUID | None, _Tally] = {}
    total = _Tally(None, "合计")
    counted: list[s.ScorecardMatter] = []
    for m in matters:
        closed = (
            m.closed_at if m.closed_at is not None and m.closed_at <= as_of and m.closed_at < end else None
        )
        if closed is not None and m.outcome != "resolved":
            continue  # returned or withdrawn: not 销号, not counted
        due = _resolution_due(steps.get(m.matter_id, []), as_of)
        if closed is not None:
            status = "closed_on_time" if due is None or closed <= due else "closed_late"
        elif due is not None and due <= end:
            status = "open"
        else:
            continue  # not due by the month's end
        line = m.line_id if m.line_id is not None else project_lines.get(m.project_id)
        line_name = line_label(numbers[line]) if line in numbers else UNROUTED
        unit_label = m.resolving_unit_name or units.get(m.resolving_unit_id, "未指定")
        tallies = [total, by_line.setdefault(line, _Tally(line, line_name))]
        if m.resolving_unit_id is not None:
            tallies.append(by_unit.setdefault(m.resolving_unit_id, _Tally(m.resolving_unit_id, unit_label)))
        for t in tallies:
            t.due += 1
            if status == "closed_on_time":
                t.on_time += 1
            elif status == "closed_late":
                t.late += 1
            else:
                t.open += 1
        counted.append(
            s.ScorecardMatter(
                matter_id=m.matter_id,
                kind=m.kind,
                title=m.title,
                unit_label=unit_label,
                line_label=line_name,
                due_at=due,
                closed_at=closed.astimezone(TZ) if closed else None,
                status=status,
            )
        )

    order = {line_label(n): n for n in numbers.values()}

    def ordered(rows: list[_Tally]) -> list[s.ScorecardRow]:
        out = [t.row() for t in rows]
        return sorted(out, key=lambda r: (-(r.closure_rate if r.closure_rate is not None else -1), r.label))

    return s.ClosureScorecard(
        label=span.label,
        start=span.start,
        end=span.end,
        as_of=as_of,
        total=total.row(),
        by_line=sorted(
            (t.row() for t in by_line.values()),
            key=lambda r: numbers.get(r.subject_id, 99) if r.subject_id else 99,
        ),
        by_unit=ordered(list(by_unit.values())),
        matters=sorted(counted, key=lambda x: (order.get(x.line_label, 99), x.unit_label, x.title)),
    )


# ---- documents ---------------------------------------------------------------------------------------

COLUMNS = ["名称", "应销号", "按期销号", "逾期销号", "未销号", "销号率"]
MATTER_COLUMNS = ["事项", "类别", "包保线", "解决单位", "办结时限", "销号时间", "状态"]
_STATUS = {"closed_on_time": "按期销号", "closed_late": "逾期销号", "open": "未销号"}
_KIND = {"problem": "问题", "meeting_matter": "会议议定事项"}


def _rate(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def rows(items: list[s.ScorecardRow]) -> list[list[Any]]:
    return [[r.label, r.due, r.closed_on_time, r.closed_late, r.open, _rate(r.closure_rate)] for r in items]


def _day(value: datetime | None, *, due: bool = False) -> str:
    if value is None:
        return ""
    local = value.astimezone(TZ)
    if due:  # a due time is the end of its last day
        return due_day(value).isoformat()
    return local.strftime("%Y-%m-%d %H:%M")


def matter_rows(card: s.ClosureScorecard) -> list[list[str]]:
    return [
        [
            x.title,
            _KIND.get(x.kind, x.kind),
            x.line_label,
            x.unit_label,
            _day(x.due_at, due=True),
            _day(x.closed_at),
            _STATUS[x.status],
        ]
        for x in card.matters
    ]


def _text(items: list[list[Any]]) -> list[list[str]]:
    return [[str(v) for v in row] for row in items]


def to_docx(card: s.ClosureScorecard, number: int, issued: datetime) -> bytes:
    t = card.total
    blocks: list[Heading | Paragraph | Table | Figure] = [
        Heading("一、总体情况"),
        Paragraph(
            f"{card.label}，全区应销号问题和会议议定事项{t.due}个，按期销号{t.closed_on_time}个，"
            f"逾期销号{t.closed_late}个，未销号{t.open}个，销号率{_rate(t.closure_rate)}。"
        ),
        Heading("二、各包保线销号情况"),
        Table(COLUMNS, _text(rows([*card.by_line, t])), caption="表1 各包保线销号情况"),
    ]
    if card.by_line:
        blocks.append(
            chart(
                f"{card.label}各包保线销号率",
                [r.label for r in card.by_line],
                [float((r.closure_rate or 0) * 100) for r in card.by_line],
                "销号率（%）",
                "图1 各包保线销号率",
            )
        )
    blocks += [
        Heading("三、各单位销号情况"),
        Table(COLUMNS, _text(rows(card.by_unit)), caption="表2 各单位销号情况（按销号率排序）"),
        Heading("四、明细"),
        Table(MATTER_COLUMNS, matter_rows(card), caption="表3 应销号事项明细"),
    ]
    return render_docx(
        OfficialDocument(title=TITLE, office=OFFICE, number=number, issued=issued, blocks=blocks)
    )


def to_xlsx(card: s.ClosureScorecard, issued: datetime) -> bytes:
    return render_xlsx(
        [
            Sheet("按线", COLUMNS, rows([*card.by_line, card.total])),
            Sheet("按单位", COLUMNS, rows(card.by_unit)),
            Sheet("明细", MATTER_COLUMNS, matter_rows(card)),
        ],
        issued,
    )
