"""What a simulation does: its dates, its portfolio's size, its behaviour mix, its seed and pace."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Mix:
    """How the district behaves: each share is the chance that one project (or one matter) does it.

    ``ratification`` of the projects are 核准类 (规划选址 and 用地预审 first, then what needs them), the rest
    备案类 (every approval at once); an item is submitted once its prerequisites are granted.
    Approvals: ``approvals_stalling`` of the items are accepted and then never decided (the department's
    clock runs out), ``approvals_supplement`` wait for the applicant's supplement (the clock pauses) and are
    then granted; the rest are granted on time. Problems: each project reports one in a month with chance
    ``problems_per_month``; its answer comes in time (``answers_in_time``), late (``answers_late``: after the
    3 working days of §五(一), so it has escalated once) or never (the rest). ``milestones_late`` of the
    planned starts are recorded late, ``investment_shortfall`` of the monthly reports fall well short of the
    plan; ``meeting_matters_per_month`` matters per line are decided at the month's meeting.
    """

    ratification: float = 0.3
    approvals_stalling: float = 0.2
    approvals_supplement: float = 0.2
    problems_per_month: float = 0.5
    answers_in_time: float = 0.5
    answers_late: float = 0.3
    milestones_late: float = 0.3
    investment_shortfall: float = 0.3
    meeting_matters_per_month: int = 1


#: The named mixes ``--mix`` accepts.
MIXES: dict[str, Mix] = {
    "typical": Mix(),
    "calm": Mix(
        approvals_stalling=0.05,
        approvals_supplement=0.1,
        problems_per_month=0.3,
        answers_in_time=0.9,
        answers_late=0.1,
        milestones_late=0.1,
        investment_shortfall=0.1,
    ),
    "troubled": Mix(
        approvals_stalling=0.4,
        approvals_supplement=0.3,
        problems_per_month=0.8,
        answers_in_time=0.2,
        answers_late=0.3,
        milestones_late=0.6,
        investment_shortfall=0.6,
        meeting_matters_per_month=2,
    ),
}


@dataclass(frozen=True)
class Options:
    """One simulation: ``start`` to ``end`` (inclusive), ``projects`` registered on the first day,
    ``seed`` for every random choice, ``pace`` seconds of wall time at least per simulated working day
    (0: as fast as the deployment settles), ``concurrency`` projects acted on at once."""

    start: date = date(2020, 5, 1)
    end: date = date(2020, 12, 31)
    projects: int = 245
    mix: Mix = field(default_factory=Mix)
    seed: int = 2020
    pace: float = 0.0
    #: How many projects' actions run at once (1: one after another, the same calls in the same order).
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the end date is before the start date")
        if not 1 <= self.projects <= 5000:
            raise ValueError("projects: 1 to 5000")
        if not 1 <= self.concurrency <= 64:
            raise ValueError("concurrency: 1 to 64")
        if self.pace < 0:
            raise ValueError("pace: seconds per working day, 0 or more")
