"""The frozen 日调度 (daily dispatch, §五(二) "日调度"): the dispatch board as it stood when each working day
began, issued by the shared clock, numbered, stored and announced like the other reports (issue 16).

* **When**: at 00:00 of every working day on the official calendar (a day that is not a working day has
  none: for a daily cadence, "the last working day before it" is the working day already issued), from
  the reports' start; a clock that jumps over several working days issues each one in turn, each built as
  of its own moment from the facts dated up to it.
* **What**: the whole board (:func:`lkg.scoring.reports.dispatch.whole`) as of that moment: each project's
  state, and per line the matters due that day and the next working day, overdue and escalated, stalled
  approvals, the week's milestones and what changed since the previous working day began.
* **Who is told** (``report.published``): 重大项目办, the assessment office and 督查室 (unit roles), the top
  leaders (``district_leader`` posts), every line's leader and service department, and every unit the
  board names (a project's responsible unit, a matter's resolving unit, an approval's handling
  department): exactly those who see something of it.
* **Who reads what**: as the live board, by reach (:func:`lkg.scoring.reports.dispatch.restrict`): those who
  see every project read it whole (the stored files); anyone else reads their part, and their Word and
  Excel files are rendered from that part of the frozen JSON.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.common.documents import Heading, OfficialDocument, Paragraph, Sheet, Table, render_docx, render_xlsx
from lkg.common.events import contracts as c
from lkg.scoring.reports import dispatch
from lkg.scoring.reports import schemas as s

TITLE = "重大产业项目日调度"
OFFICE = "区重大项目建设工作领导小组办公室"
READERS = c.Audience(
    unit_roles=(
        c.UnitRole.MAJOR_PROJECTS_OFFICE,
        c.UnitRole.ASSESSMENT_OFFICE,
        c.UnitRole.SUPERVISION_OFFICE,
    ),
    post_kinds=(c.PostKind.DISTRICT_LEADER,),
)

_STATE = {
    "unrouted": "未分线",
    "breached": "超时",
    "stalled_approval": "审批超时",
    "warning": "预警",
    "on_track": "正常",
}
_CLASS = {"preliminary": "前期", "new_start": "新开工", "continuing": "续建", "completing": "竣工"}
_CLOCK = {"acceptance": "受理", "reply": "反馈处理意见", "progress": "报送进展", "resolution": "办结"}
_GROUPS = (
    ("overdue", "已超时"),
    ("escalated", "新上报"),
    ("due_today", "今日到期"),
    ("due_tomorrow", "下一工作日到期"),
)


def day_label(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def issue_moment(day: date) -> datetime:
    """A working day's dispatch is issued, and stands, at 00:00 of that day."""
    return datetime.combine(day, datetime.min.time(), tzinfo=TZ)


def next_day(latest: date | None, first: date, calendar: WorkingCalendar) -> date:
    """The working day of the next daily dispatch: the one after ``latest``, else the first on or after
    ``first``."""
    start = latest + timedelta(days=1) if latest is not None else first
    return calendar.first_working_day_on_or_after(start)


async def build(session: AsyncSession, day: date, calendar: WorkingCalendar) -> s.DispatchBoard:
    return await dispatch.whole(session, now=issue_moment(day), calendar=calendar)


def audience(board: s.DispatchBoard, service_units: dict[UUID, UUID]) -> c.Audience:
    """:data:`READERS`, the leaders and service departments of the lines, and every unit the board names."""
    units = {p.responsible_unit_id for p in board.projects}
    for g in board.lines:
        for key, _ in _GROUPS:
            units |= {m.resolving_unit_id for m in getattr(g, key) if m.resolving_unit_id}
        units |= {a.handling_unit_id for a in g.stalled_approvals}
        units |= {x.unit_id for x in g.changes if x.unit_id}
    lines = [g.line_id for g in board.lines if g.line_id is not None]
    units |= {service_units[lid] for lid in lines if lid in service_units}
    return READERS.model_copy(
        update={"line_ids": tuple(sorted(lines, key=str)), "unit_ids": tuple(sorted(units, key=str))}
    )


# ---- documents ---------------------------------------------------------------------------------------

PROJECT_COLUMNS = ["状态", "项目名称", "包保线", "责任单位", "类别", "原因", "前一工作日状态"]
MATTER_COLUMNS = ["包保线", "类别", "事项", "项目", "层级", "解决单位", "时限", "到期时间"]
APPROVAL_COLUMNS = ["包保线", "审批事项", "项目", "时限"]
MILESTONE_COLUMNS = ["包保线", "项目", "节点", "计划日期", "完成日期"]
CHANGE_COLUMNS = ["包保线", "时间", "变化"]
COUNT_COLUMNS = ["状态", "项目数"]


def _line(g: s.LineDispatch) -> str:
    return g.line_name or "未分线"


def _time(at: datetime | None) -> str:
    return at.astimezone(TZ).strftime("%Y-%m-%d %H:%M") if at else ""


def project_rows(board: s.DispatchBoard, *, all_states: bool = True) -> list[list[str]]:
    return [
        [
            _STATE[p.state],
            p.name,
            p.line_name or "未分线",
            p.responsible_unit_name,
            _CLASS.get(p.project_class, p.project_class),
            "；".join(p.reasons),
            _STATE[p.previous_state] if p.previous_state else "",
        ]
        for p in board.projects
        if all_states or p.state != "on_track"
    ]


def matter_rows(board: s.DispatchBoard) -> list[list[str]]:
    return [
        [
            _line(g),
            title,
            m.title,
            m.project_name or "",
            f"第{m.layer}层",
            m.resolving_unit_name or "",
            _CLOCK.get(m.clock or "", m.clock or ""),
            _time(m.due_at),
        ]
        for g in board.lines
        for key, title in _GROUPS
        for m in getattr(g, key)
    ]


def approval_rows(board: s.DispatchBoard) -> list[list[str]]:
    return [
        [_line(g), a.label, a.project_name or "", _time(a.due_at)]
        for g in board.lines
        for a in g.stalled_approvals
    ]


def milestone_rows(board: s.DispatchBoard) -> list[list[str]]:
    return [
        [
            _line(g),
            m.project_name,
            m.label,
            m.planned_date.isoformat(),
            m.achieved_on.isoformat() if m.achieved_on else "",
        ]
        for g in board.lines
        for m in g.milestones_this_week
    ]


def change_rows(board: s.DispatchBoard) -> list[list[str]]:
    return [[_line(g), _time(x.at), x.text] for g in board.lines for x in g.changes]


def count_rows(board: s.DispatchBoard) -> list[list[str]]:
    # In the states' order, not the dict's: the frozen JSON comes back from JSONB with its keys re-ordered.
    return [[label, str(board.counts.get(s.ProjectStateName(k), 0))] for k, label in _STATE.items()]


def _counted(key: str, board: s.DispatchBoard) -> int:
    return sum(len(getattr(g, key)) for g in board.lines)


def to_docx(board: s.DispatchBoard, number: int, issued: datetime) -> bytes:
    n = {str(k): board.counts.get(k, 0) for k in s.ProjectStateName}
    lagging = project_rows(board, all_states=False)
    blocks: list[Heading | Paragraph | Table] = [
        Heading("一、项目总体状态"),
        Paragraph(
            f"截至{day_label(board.day)}，纳入调度的项目{len(board.projects)}个，其中正常推进"
            f"{n['on_track']}个、预警{n['warning']}个、超时{n['breached']}个、审批超时"
            f"{n['stalled_approval']}个、未分线{n['unrouted']}个。"
        ),
        Table(COUNT_COLUMNS, count_rows(board), caption="表1 项目状态"),
        Table(PROJECT_COLUMNS, lagging, caption="表2 需关注的项目（正常推进的项目见 Excel 附表）"),
        Heading("二、事项办理"),
        Paragraph(
            f"已超时{_counted('overdue', board)}件，新上报{_counted('escalated', board)}件，今日到期"
            f"{_counted('due_today', board)}件，下一工作日（{day_label(board.next_working_day)}）到期"
            f"{_counted('due_tomorrow', board)}件；审批超时{_counted('stalled_approvals', board)}项。"
        ),
        Table(MATTER_COLUMNS, matter_rows(board), caption="表3 到期、超时和上报事项"),
        Table(APPROVAL_COLUMNS, approval_rows(board), caption="表4 审批超时事项"),
        Heading("三、本周节点"),
        Table(MILESTONE_COLUMNS, milestone_rows(board), caption="表5 本周计划节点"),
        Heading("四、前一工作日以来的变化"),
        Paragraph(
            f"自{day_label(board.since.astimezone(TZ).date())}零时以来，事项、节点、审批和项目状态的变化共"
            f"{_counted('changes', board)}项，逐项列于 Excel 附表“变化”。"
        ),
    ]
    return render_docx(
        OfficialDocument(title=TITLE, office=OFFICE, number=number, issued=issued, blocks=blocks)
    )


def to_xlsx(board: s.DispatchBoard, issued: datetime) -> bytes:
    return render_xlsx(
        [
            Sheet("项目状态", PROJECT_COLUMNS, project_rows(board)),
            Sheet("事项", MATTER_COLUMNS, matter_rows(board)),
            Sheet("审批超时", APPROVAL_COLUMNS, approval_rows(board)),
            Sheet("本周节点", MILESTONE_COLUMNS, milestone_rows(board)),
            Sheet("变化", CHANGE_COLUMNS, change_rows(board)),
        ],
        issued,
    )


def period_of(day: date) -> c.Period:
    return c.Period(kind=c.PeriodKind.DAY, start=day, end=day)
