"""日调度: the live dispatch board (issue 16; policy §一(三) 日调度, §三(二) 全程督查).

Built from the facts scoring already holds, as of a moment, so the same code gives the board now and the
board as it stood at the start of the previous working day (``since``), and their difference is "what
changed since yesterday":

* a matter's steps (:data:`matter_step`) folded in shared-clock order give its layer, the clocks running on
  it, which of them warned, and which ran out and are not yet made good (a breached reply clock is made
  good by the answer, a progress clock by a progress report, acceptance by acceptance, anything by the
  resolution);
* approvals past their limit and not decided (``approval.stalled`` without ``approval.granted`` or
  ``approval.rejected``);
* milestones reported missed and not achieved since, and those planned this week (the project copy's plan).

A project's state is the worst that applies: ``unrouted`` > ``breached`` > ``stalled_approval`` >
``warning`` > ``on_track``. The board shows what the caller's reach covers (:meth:`Caller.sees_project`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.calendar import WorkingCalendar, local_date
from lkg.common.clock import TZ
from lkg.scoring.access import Caller
from lkg.scoring.reports import schemas as s
from lkg.scoring.reports.dispatch_data import World, load

State = s.ProjectStateName
_ORDER = [State.UNROUTED, State.BREACHED, State.STALLED_APPROVAL, State.WARNING, State.ON_TRACK]
#: Steps at the same instant apply in the order the issues service makes them (a breach, then the
#: escalation it causes with the clocks restarted).
_STEP_ORDER = {
    "reported": 0,
    "accepted": 1,
    "answered": 2,
    "progress_reported": 3,
    "warned": 4,
    "breached": 5,
    "escalated": 6,
    "rerouted": 7,
    "resolved": 8,
    "closed": 9,
}
#: The step that makes a breached clock good again.
_MAKES_GOOD = {"accepted": "acceptance", "answered": "reply", "progress_reported": "progress"}
_CLOCK_LABEL = {"acceptance": "受理", "reply": "反馈处理意见", "progress": "报送进展", "resolution": "办结"}
_STEP_LABEL = {
    "reported": "反映",
    "accepted": "受理",
    "answered": "反馈处理意见",
    "progress_reported": "报送进展",
    "breached": "超时",
    "escalated": "上报",
    "rerouted": "改派",
    "resolved": "解决",
    "closed": "销号",
}
_STATE_LABEL = {
    State.UNROUTED: "未分线",
    State.BREACHED: "超时",
    State.STALLED_APPROVAL: "审批超时",
    State.WARNING: "预警",
    State.ON_TRACK: "正常",
}


def due_day(due_at: datetime) -> date:
    """The last day of a clock's budget: a due time is the exclusive end of that day (24:00)."""
    return local_date(due_at - timedelta(microseconds=1))


@dataclass
class MatterNow:
    """A matter folded up to a moment."""

    fact: Any
    layer: int = 1
    running: dict[str, dict[str, Any]] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)
    unmet: dict[str, datetime] = field(default_factory=dict)
    escalated_at: datetime | None = None
    resolved: bool = False

    @property
    def open(self) -> bool:
        return not self.resolved

    def clocks_due(self) -> list[tuple[str, datetime]]:
        return sorted(
            ((c["kind"], datetime.fromisoformat(c["due_at"])) for c in self.running.values() if c["due_at"]),
            key=lambda kd: kd[1],
        )

    def overdue(self, now: datetime) -> tuple[str, datetime] | None:
        """The clock this matter is overdue on (breached and not made good, or past due), if any."""
        late = sorted(self.unmet.items(), key=lambda kv: kv[1])
        if late:
            return late[0]
        past = [(k, d) for k, d in self.clocks_due() if d <= now]
        return past[0] if past else None


def fold(fact: Any, steps: list[Any], until: datetime) -> MatterNow | None:
    """The matter as of ``until`` (None if it was not reported by then or was closed)."""
    if fact.closed_at is not None and fact.closed_at <= until:
        return None
    m = MatterNow(fact)
    seen = False
    for step in sorted(steps, key=lambda x: (x.at, _STEP_ORDER.get(x.step, 10))):
        if step.at > until:
            break
        seen = True
        m.layer = step.layer
        if step.clocks is not None:
            m.running = {c["deadline_id"]: c for c in step.clocks}
            m.warned &= set(m.running)
        if step.step in _MAKES_GOOD:
            m.unmet.pop(_MAKES_GOOD[step.step], None)
        if step.step == "warned" and step.clock is not None:
            m.warned.add(step.clock["deadline_id"])
        elif step.step == "breached" and step.clock is not None:
            m.running.pop(step.clock["deadline_id"], None)
            due = step.clock.get("due_at")
            m.unmet.setdefault(step.clock["kind"], datetime.fromisoformat(due) if due else step.at)
        elif step.step == "escalated":
            m.escalated_at = step.at.astimezone(TZ)
        elif step.step in ("resolved", "closed"):
            m.resolved = True
            m.running.clear()
            m.unmet.clear()
    return m if seen and m.open else None


@dataclass
class Snapshot:
    """The board's facts as of one moment."""

    matters: dict[UUID, MatterNow]
    stalled: list[Any]
    missed: list[Any]
    states: dict[UUID, tuple[State, list[str]]]


def _project_name(world: World, pid: UUID | None) -> str | None:
    row = world.projects.get(pid) if pid else None
    return row.name if row else None


def snapshot(world: World, until: datetime, calendar: WorkingCalendar) -> Snapshot:
    soon = calendar.add_working_days(calendar.last_working_day_on_or_before(local_date(until)), 1)
    matters: dict[UUID, MatterNow] = {}
    for fact in world.matters:
        m = fold(fact, world.steps.get(fact.matter_id, []), until)
        if m is not None:
            matters[fact.matter_id] = m
    stalled = [
        x
        for x in world.stalls
        if x.recorded_at <= until
        and x.project_id in world.projects
        and (x.decided_at is None or x.decided_at > until)
    ]
    missed = [
        x
        for x in world.milestones
        if x.missed_at is not None
        and x.missed_at <= until
        and (x.achieved_at is None or x.achieved_at > until)
    ]
    reasons: dict[UUID, dict[State, list[str]]] = defaultdict(lambda: defaultdict(list))
    for m in matters.values():
        pid = m.fact.project_id
        if pid is None:
            continue
        late = m.overdue(until)
        if late is not None:
            clock = _CLOCK_LABEL.get(late[0], late[0])
            reasons[pid][State.BREACHED].append(f"问题「{m.fact.title}」{clock}超时")
        elif m.warned:
            reasons[pid][State.WARNING].append(f"问题「{m.fact.title}」时限预警")
        elif any(due_day(d) <= soon for _, d in m.clocks_due()):
            reasons[pid][State.WARNING].append(f"问题「{m.fact.title}」即将到期")
    for x in missed:
        reasons[x.project_id][State.BREACHED].append(f"节点「{x.label}」未按期完成")
    for x in stalled:
        if x.project_id is not None:
            reasons[x.project_id][State.STALLED_APPROVAL].append(x.label)
    states: dict[UUID, tuple[State, list[str]]] = {}
    for pid, row in world.projects.items():
        found = reasons.get(pid, {})
        if row.line_id is None:
            found = {State.UNROUTED: ["未分线，待区重大项目办确定包保线"], **found}
        ordered = [text for state in _ORDER for text in found.get(state, [])]
        state = next((st for st in _ORDER if found.get(st)), State.ON_TRACK)
        states[pid] = (state, ordered or ["无超时、预警事项"])
    return Snapshot(matters, stalled, missed, states)


def _matter(world: World, m: MatterNow, clock: str | None, due: datetime | None) -> s.DispatchMatter:
    f = m.fact
    return s.DispatchMatter(
        matter_id=f.matter_id,
        kind=f.kind,
        title=f.title,
        project_id=f.project_id,
        project_name=_project_name(world, f.project_id),
        layer=m.layer,
        resolving_unit_id=f.resolving_unit_id,
        resolving_unit_name=f.resolving_unit_name,
        clock=clock,
        due_at=due,
        escalated_at=m.escalated_at,
        breached_at=min(m.unmet.values()) if m.unmet else None,
    )


async def board(
    session: AsyncSession,
    caller: Caller,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    line_id: UUID | None = None,
) -> s.DispatchBoard:
    """The board as of ``now`` as ``caller`` sees it (``line_id``: that line only)."""
    return restrict(await whole(session, now=now, calendar=calendar), caller, line_id)


def window(now: datetime, calendar: WorkingCalendar) -> tuple[date, date, datetime]:
    """(today, the next working day, ``since``: 00:00 of the previous working day)."""
    today = local_date(now)
    previous = calendar.add_working_days(today, -1)
    return (
        today,
        calendar.add_working_days(today, 1),
        datetime.combine(previous, datetime.min.time(), tzinfo=TZ),
    )


async def whole(session: AsyncSession, *, now: datetime, calendar: WorkingCalendar) -> s.DispatchBoard:
    """The whole board as of ``now``, as those who see every project see it (the unrouted group too)."""
    today, next_day, since = window(now, calendar)
    monday = today - timedelta(days=today.weekday())
    world = await load(session, since, now, today, (monday, monday + timedelta(days=6)))
    current, before = snapshot(world, now, calendar), snapshot(world, since, calendar)

    def project_line(pid: UUID | None) -> UUID | None:
        row = world.projects.get(pid) if pid else None
        return row.line_id if row else None

    projects: list[s.ProjectState] = []
    for pid, row in world.projects.items():
        state, reasons = current.states[pid]
        was = before.states.get(pid)
        line = world.lines.get(row.line_id) if row.line_id else None
        unit = UUID(row.unit_id)
        projects.append(
            s.ProjectState(
                project_id=pid,
                code=row.code,
                name=row.name,
                line_id=row.line_id,
                line_number=line.number if line else None,
                line_name=line.entry.get("name") if line else None,
                responsible_unit_id=unit,
                responsible_unit_name=row.unit_name,
                street=row.unit_name if unit in world.streets else None,
                stage=row.stage,
                project_class=row.project_class,
                fast_track=row.fast_track,
                provincial_municipal=row.provincial_municipal,
                state=state,
                reason=reasons[0],
                reasons=reasons,
                previous_state=was[0] if was else None,
            )
        )
    projects.sort(key=lambda p: (_ORDER.index(p.state), p.line_number or 99, p.name))

    groups: dict[UUID | None, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for m in current.matters.values():
        f = m.fact
        g = groups[f.line_id if f.line_id is not None else project_line(f.project_id)]
        late = m.overdue(now)
        if late is not None:
            g["overdue"].append(_matter(world, m, late[0], late[1]))
        for kind, due in m.clocks_due():
            if due <= now:
                continue
            if due_day(due) == today:
                g["due_today"].append(_matter(world, m, kind, due))
            elif due_day(due) <= next_day:
                g["due_tomorrow"].append(_matter(world, m, kind, due))
        if m.escalated_at is not None and m.escalated_at > since:
            g["escalated"].append(_matter(world, m, None, None))
    for x in current.stalled:
        groups[x.line_id if x.line_id is not None else project_line(x.project_id)][
            "stalled_approvals"
        ].append(
            s.DispatchApproval(
                approval_item_id=x.subject_id,
                project_id=x.project_id,
                project_name=_project_name(world, x.project_id),
                label=x.label,
                handling_unit_id=x.charged_unit_id,
                due_at=x.breached_at.astimezone(TZ),
            )
        )
    for ms in world.week:
        row = world.projects[ms.project_id]
        actual = ms.actual_date
        groups[row.line_id]["milestones_this_week"].append(
            s.DispatchMilestone(
                milestone_id=UUID(ms.milestone_id),
                project_id=ms.project_id,
                project_name=row.name,
                label=ms.label,
                planned_date=date.fromisoformat(ms.planned_date),
                baseline_date=date.fromisoformat(ms.baseline_date) if ms.baseline_date else None,
                achieved_on=ms.achieved_on or (date.fromisoformat(actual) if actual else None),
            )
        )
    _changes(world, current, before, groups, since, now, project_line)

    keys = {*groups, *world.lines, None}
    out = []
    for lid in sorted(keys, key=lambda lid: world.lines[lid].number if lid in world.lines else 99):
        g = groups.get(lid, {})
        line = world.lines.get(lid) if lid else None
        out.append(
            s.LineDispatch(
                line_id=lid,
                line_number=line.number if line else None,
                line_name=line.entry.get("name") if line else None,
                due_today=sorted(g.get("due_today", []), key=lambda x: (x.due_at, x.title)),
                due_tomorrow=sorted(g.get("due_tomorrow", []), key=lambda x: (x.due_at, x.title)),
                overdue=sorted(g.get("overdue", []), key=lambda x: (x.due_at or now, x.title)),
                escalated=sorted(g.get("escalated", []), key=lambda x: (x.escalated_at or now, x.title)),
                stalled_approvals=sorted(g.get("stalled_approvals", []), key=lambda x: (x.due_at, x.label)),
                milestones_this_week=sorted(
                    g.get("milestones_this_week", []), key=lambda x: (x.planned_date, x.project_name, x.label)
                ),
                changes=sorted(g.get("changes", []), key=lambda x: (x.at, x.what, x.text)),
            )
        )
    return s.DispatchBoard(
        as_of=now,
        day=today,
        next_working_day=next_day,
        since=since,
        counts=_counts(projects),
        projects=projects,
        lines=out,
    )


def _counts(projects: list[s.ProjectState]) -> dict[State, int]:
    counts = dict.fromkeys(_ORDER, 0)
    for p in projects:
        counts[p.state] += 1
    return counts


def restrict(board: s.DispatchBoard, caller: Caller, line_id: UUID | None = None) -> s.DispatchBoard:
    """What ``caller`` sees of a whole board (the live one, or a frozen daily dispatch): a project, matter,
    approval, milestone or change on a line the caller acts for, or concerning a unit the caller acts for
    (the project's responsible unit, the unit that must solve a matter, the department handling an
    approval) (:meth:`Caller.sees_project`); lines the caller acts for stay listed even when empty, and the
    unrouted group only for those who see every project. ``line_id``: that line only."""
    if line_id is None and caller.sees_every_project:
        return board
    units = {p.project_id: p.responsible_unit_id for p in board.projects}

    def sees(pid: UUID | None, line: UUID | None, *others: UUID | None) -> bool:
        if line_id is not None and line != line_id:
            return False
        return caller.sees_project(line, (units.get(pid) if pid else None, *others))

    projects = [p for p in board.projects if sees(p.project_id, p.line_id)]
    lines = []
    for g in board.lines:
        lid = g.line_id
        part = g.model_copy(
            update={
                **{
                    key: [m for m in getattr(g, key) if sees(m.project_id, lid, m.resolving_unit_id)]
                    for key in ("due_today", "due_tomorrow", "overdue", "escalated")
                },
                "stalled_approvals": [
                    a for a in g.stalled_approvals if sees(a.project_id, lid, a.handling_unit_id)
                ],
                "milestones_this_week": [m for m in g.milestones_this_week if sees(m.project_id, lid)],
                "changes": [c for c in g.changes if sees(c.project_id, lid, c.unit_id)],
            }
        )
        listed = caller.sees_line(lid) if lid is not None else caller.sees_every_project
        if line_id is not None and lid != line_id:
            continue
        if listed or any(getattr(part, key) for key in _LISTS):
            lines.append(part)
    return board.model_copy(update={"projects": projects, "lines": lines, "counts": _counts(projects)})


_LISTS = (
    "due_today",
    "due_tomorrow",
    "overdue",
    "escalated",
    "stalled_approvals",
    "milestones_this_week",
    "changes",
)


def _changes(
    world: World,
    current: Snapshot,
    before: Snapshot,
    groups: dict[UUID | None, dict[str, list[Any]]],
    since: datetime,
    now: datetime,
    project_line: Any,
) -> None:
    """What happened in (since, now]: matter steps, milestones, approvals, and projects whose state moved."""

    def add(line: UUID | None, change: s.DispatchChange) -> None:
        groups[line]["changes"].append(change)

    for fact in world.matters:
        line = fact.line_id if fact.line_id is not None else project_line(fact.project_id)
        for step in world.steps.get(fact.matter_id, []):
            if since < step.at <= now and step.step in _STEP_LABEL:
                noun = "问题" if fact.kind == "problem" else "会议议定事项"
                text = f"{noun}「{fact.title}」{_STEP_LABEL[step.step]}"
                if step.step == "breached" and step.clock:
                    text += f"（{_CLOCK_LABEL.get(step.clock['kind'], step.clock['kind'])}）"
                if step.step == "escalated":
                    text += f"至第{step.layer}层"
                change = s.DispatchChange(
                    at=step.at.astimezone(TZ),
                    what=f"{fact.kind}.{step.step}",
                    project_id=fact.project_id,
                    subject_id=fact.matter_id,
                    unit_id=fact.resolving_unit_id,
                    text=text,
                )
                add(line, change)
    for x in world.milestones:
        for at, verb, label in ((x.achieved_at, "achieved", "完成"), (x.missed_at, "missed", "未按期完成")):
            if at is not None and since < at <= now and x.project_id in world.projects:
                change = s.DispatchChange(
                    at=at.astimezone(TZ),
                    what=f"milestone.{verb}",
                    project_id=x.project_id,
                    subject_id=x.milestone_id,
                    text=f"{_project_name(world, x.project_id)}：节点「{x.label}」{label}",
                )
                add(project_line(x.project_id), change)
    for x in world.stalls:
        decided, granted = x.decided_at, bool(x.granted)
        verdict = "已办结" if granted else "不予许可"
        done = f"{_project_name(world, x.project_id)}：超时审批事项{verdict}"
        decision = "granted" if granted else "rejected"
        for at, verb, text in ((x.recorded_at, "stalled", x.label), (decided, decision, done)):
            if at is not None and since < at <= now:
                change = s.DispatchChange(
                    at=at.astimezone(TZ),
                    what=f"approval.{verb}",
                    project_id=x.project_id,
                    subject_id=x.subject_id,
                    unit_id=x.charged_unit_id,
                    text=text,
                )
                add(x.line_id or project_line(x.project_id), change)
    for pid, (state, reasons) in current.states.items():
        was = before.states.get(pid)
        if was is not None and was[0] is not state:
            change = s.DispatchChange(
                at=now,
                what="project.state",
                project_id=pid,
                subject_id=pid,
                text=f"{_project_name(world, pid)}：{_STATE_LABEL[was[0]]} → {_STATE_LABEL[state]}"
                f"（{reasons[0]}）",
            )
            add(project_line(pid), change)
