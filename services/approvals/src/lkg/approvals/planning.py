"""The earliest possible start and the critical chain (最早可开工日期、关键路径): pure functions of a plan.

Every item still open is assumed to go as fast as its limits allow from ``today``:

- granted: done on the day it was granted;
- waived by a regional assessment (区域评估, §四(一)): done on the day the waiver was applied;
- withdrawn: not needed, blocks nothing;
- 先建后验 (``build_first``): construction may start before it (policy §四(一)), so it blocks nothing;
- running (accepted or resubmitted): done on its clock's due date, or today if that has passed (a stalled
  item can at best be decided today); while the applicant owes a supplement, the pause is assumed to end
  today;
- not yet accepted: accepted once its prerequisites are done (and not before today), then its full limit;
  on the 批前提速 track (§四(二)) it was pre-reviewed in parallel with every other item, so after its
  pre-review it needs only the short formal step (``prereviewed_days`` working days).

The start gate's (施工许可证's) finish is the earliest possible start; the chain of items that decides it,
walked back from the gate through whichever prerequisite finished last, is the critical chain.
``earliest(today)`` never decreases as ``today`` advances, so the day on which the verdict "start at risk"
flips is found by bisection and a scan looks again exactly then, not every day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from lkg.common.calendar import Pause, Unit, WorkingCalendar
from lkg.common.clock import TZ

OPEN_STATES = frozenset(
    {"planned", "submitted", "accepted", "supplement_requested", "resubmitted", "rejected"}
)
RUNNING_STATES = frozenset({"accepted", "supplement_requested", "resubmitted"})


@dataclass(frozen=True)
class PlanNode:
    """What planning needs to know of one item."""

    code: str
    name: str
    state: str
    mode: str
    limit_days: int
    limit_unit: Unit
    prerequisites: tuple[str, ...]
    start_gate: bool = False
    decided_on: date | None = None
    #: The running limit clock: its start, pauses and due date (None while paused).
    clock_started_at: datetime | None = None
    clock_pauses: tuple[Pause, ...] = ()
    due_on: date | None = None
    prereview_to: date | None = None
    prereviewed_days: int = 0
    #: Days a regional assessment took off the catalogue limit (``limit_days`` is already the shorter one).
    limit_saved_days: int = 0


@dataclass(frozen=True)
class Expected:
    code: str
    start: date
    finish: date
    done: bool
    #: The prerequisite whose finish decided this item's start, if any.
    bound_by: str | None = None


@dataclass(frozen=True)
class Outlook:
    """The outcome for one ``today``: every item's expected dates, the gate and its critical chain."""

    today: date
    expected: dict[str, Expected]
    gate: str | None
    earliest_start: date | None
    chain: tuple[str, ...] = field(default=())

    @property
    def gate_done(self) -> bool:
        return self.gate is not None and self.expected[self.gate].done


def _add(calendar: WorkingCalendar, start: date, days: int, unit: str) -> date:
    if unit == "working":
        return calendar.add_working_days(start, days)
    return start + timedelta(days=days)


def _running_finish(calendar: WorkingCalendar, node: PlanNode, today: date) -> date:
    if node.due_on is not None:
        return max(node.due_on, today)
    # Paused (补正): assume the supplement arrives today and the clock resumes.
    assert node.clock_started_at is not None
    assumed_end = datetime.combine(today, datetime.min.time(), tzinfo=TZ)
    pauses = [
        p if p.ended_at is not None else Pause(p.started_at, max(assumed_end, p.started_at))
        for p in node.clock_pauses
    ]
    due = calendar.compute_due(node.clock_started_at, node.limit_days, node.limit_unit, pauses)
    assert due.due_date is not None
    return max(due.due_date, today)


def outlook(
    calendar: WorkingCalendar, nodes: Sequence[PlanNode], today: date, *, fast_track: bool = False
) -> Outlook:
    """Expected dates of every item from ``today`` (see the module docstring for the assumptions)."""
    by_code = {n.code: n for n in nodes if n.state != "withdrawn"}
    expected: dict[str, Expected] = {}
    visiting: set[str] = set()

    def blocking(code: str) -> bool:
        node = by_code.get(code)
        return node is not None and node.mode != "build_first"

    def visit(code: str) -> Expected:
        if code in expected:
            return expected[code]
        if code in visiting:
            raise ValueError(f"prerequisites form a cycle through {code}")
        visiting.add(code)
        node = by_code[code]
        prereqs = [visit(p) for p in node.prerequisites if p in by_code and blocking(p)]
        bound = max(prereqs, key=lambda e: (e.finish, e.code), default=None)
        if node.state in ("granted", "waived"):
            day = node.decided_on or today
            result = Expected(code, day, day, True)
        elif node.state in RUNNING_STATES and node.clock_started_at is not None:
            start = node.clock_started_at.astimezone(TZ).date()
            result = Expected(code, start, _running_finish(calendar, node, today), False)
        else:
            start = today
            by = None
            if bound is not None and bound.finish >= start and not bound.done:
                start, by = bound.finish, bound.code
            if fast_track and node.prereview_to is not None:
                if node.prereview_to > start:
                    start, by = node.prereview_to, None  # still in pre-review: it decides, not a prerequisite
                finish = _add(calendar, start, node.prereviewed_days, "working")
            elif node.mode == "commitment":
                finish = start  # 承诺审批: granted on the applicant's commitment, verified later
            else:
                finish = _add(calendar, start, node.limit_days, node.limit_unit)
            result = Expected(code, start, finish, False, by)
        visiting.discard(code)
        expected[code] = result
        return result

    for code in by_code:
        visit(code)
    gate = next((n.code for n in nodes if n.start_gate and n.code in by_code), None)
    if gate is None:
        return Outlook(today, expected, None, None)
    chain: list[str] = []
    cursor: str | None = gate
    while cursor is not None:
        chain.append(cursor)
        cursor = expected[cursor].bound_by
    return Outlook(today, expected, gate, expected[gate].finish, tuple(reversed(chain)))


@dataclass(frozen=True)
class Verdict:
    """Whether the planned 开工 is at risk now, and when to look again if nothing else happens."""

    outlook: Outlook
    planned_start: date | None
    at_risk: bool
    #: The first day on which the verdict flips to "at risk" if no item moves; None if it cannot.
    flips_on: date | None


def verdict(
    calendar: WorkingCalendar,
    nodes: Sequence[PlanNode],
    today: date,
    planned_start: date | None,
    *,
    fast_track: bool = False,
) -> Verdict:
    now = outlook(calendar, nodes, today, fast_track=fast_track)
    if planned_start is None or now.earliest_start is None or now.gate_done:
        return Verdict(now, planned_start, False, None)
    if now.earliest_start > planned_start:
        return Verdict(now, planned_start, True, None)
    # earliest(day) is non-decreasing in day and earliest(planned + 1) > planned: bisect for the flip.
    lo, hi = today, planned_start + timedelta(days=1)
    while (hi - lo).days > 1:
        mid = lo + timedelta(days=(hi - lo).days // 2)
        later = outlook(calendar, nodes, mid, fast_track=fast_track).earliest_start
        if later is not None and later > planned_start:
            hi = mid
        else:
            lo = mid
    return Verdict(now, planned_start, False, hi)


def time_saved(calendar: WorkingCalendar, nodes: Sequence[PlanNode], today: date) -> int | None:
    """Calendar days the 批前提速 track saves on the earliest start (None without a start gate)."""
    normal = outlook(calendar, nodes, today).earliest_start
    fast = outlook(calendar, nodes, today, fast_track=True).earliest_start
    if normal is None or fast is None:
        return None
    return (normal - fast).days


def without_assessments(nodes: Sequence[PlanNode]) -> list[PlanNode]:
    """The same plan as if no regional assessment applied: waived items planned again, full limits."""
    return [
        replace(
            n,
            state="planned" if n.state == "waived" else n.state,
            decided_on=None if n.state == "waived" else n.decided_on,
            limit_days=n.limit_days + n.limit_saved_days,
            limit_saved_days=0,
        )
        for n in nodes
    ]


def assessment_saving(
    calendar: WorkingCalendar, nodes: Sequence[PlanNode], today: date, *, fast_track: bool = False
) -> int | None:
    """Calendar days the regional assessments save on the earliest start (区域评估, §四(一)): the earliest
    start without their waivers and shorter limits less the earliest start with them (None without a start
    gate). An item already accepted runs on the limit it was accepted with, so it counts as it is."""
    with_them = outlook(calendar, nodes, today, fast_track=fast_track).earliest_start
    without = outlook(calendar, without_assessments(nodes), today, fast_track=fast_track).earliest_start
    if with_them is None or without is None:
        return None
    return (without - with_them).days
