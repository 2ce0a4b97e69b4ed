"""The run: the portfolio registered on the first day, then one working day at a time, what each persona
does that day, and the shared clock moved to the next working day (official calendar, holidays and make-up
working days: :class:`lkg.common.calendar.WorkingCalendar`).

Every random choice is drawn up front from one ``random.Random(seed)`` into a :class:`Script` per project,
and the day's actions run one after another in a fixed order, so the same seed drives the same calls in the
same order on the same simulated days: the deployment answers the same.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Any, TypeVar

from lkg.common.calendar import WorkingCalendar
from lkg.common.clock import TZ
from lkg.common.simulate.api import Api, ApiError, Persona
from lkg.common.simulate.options import Options
from lkg.common.simulate.summary import Summary, collect

T = TypeVar("T")

#: The personas of the demo directory the run signs in as (docs/accounts.md).
ROLES = ("office", "approval", "statistics", "supervision", "assessor", "leader")
LINE_LEADERS = tuple(f"line{n}" for n in range(1, 9))
WORKDAY_START = clock_time(9, 0)
#: Where the night's step stops: after everything due overnight, before the notifier's morning digests
#: (08:30, ``LKG_DIGEST_TIME``), which list the breaches heard since the previous one.
BEFORE_DIGESTS = clock_time(8, 0)


class NotSimulated(RuntimeError):
    """The deployment's clock is not simulated: the simulator never writes into a real district's data."""


@dataclass
class Script:
    """What one project will do, drawn from the seed before the run starts."""

    index: int
    unit_index: int
    category: str
    project_class: str
    approval_type: str  # ratification 核准类 | filing 备案类
    total: Decimal
    annual: Decimal
    start_offset: int  # working days from the first day to the planned construction start
    start_late_by: int  # 0: on time
    approval_fate: list[str] = field(default_factory=list)  # per item, in code order
    problem_days: dict[int, str] = field(default_factory=dict)  # working-day index -> answer behaviour
    shortfall: bool = False


@dataclass
class ProjectState:
    script: Script
    id: str
    unit_id: str
    unit_name: str
    line_id: str | None
    milestone_id: str | None
    items: list[dict[str, Any]] = field(default_factory=list)
    item_steps: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    granted: set[str] = field(default_factory=set)  # item codes


def working_days(start: date, end: date, calendar: WorkingCalendar) -> list[date]:
    days, day = [], start
    while day <= end:
        if calendar.is_working_day(day):
            days.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return days


class Simulation:
    """One run against one deployment (an :class:`httpx.AsyncClient` on its base URL)."""

    def __init__(
        self,
        api: Api,
        options: Options,
        *,
        on_day: Callable[[date, int, int], None] | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self.api = api
        self.options = options
        self.calendar = calendar or WorkingCalendar()
        self.days = working_days(options.start, options.end, self.calendar)
        self.on_day = on_day
        self.rng = random.Random(options.seed)
        self.projects: list[ProjectState] = []
        self.p: dict[str, Persona] = {}
        self.handed_over = False
        self.lines: dict[str, dict[str, Any]] = {}
        #: Problem steps due on a working day's index: (project, problem id, "answer" | "resolve").
        self.pending: dict[int, list[tuple[ProjectState, str, str]]] = {}
        #: Wall seconds spent, by phase of the day (the actions, ``clock``: moving it and settling,
        #: ``register``: the first day's portfolio), and each working day's wall seconds (bench/system.py).
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.day_seconds: list[float] = []
        #: A ``time.monotonic()`` after which no further day begins (bench/system.py's wall budget).
        self.stop_at: float | None = None
        #: Count the personas' messages per channel in the summary (one request per message).
        self.count_channels = True

    # ---- setup --------------------------------------------------------------------------------------

    async def check_simulated(self) -> datetime:
        """The clock's time; :class:`NotSimulated` when the dev clock route is absent (real time)."""
        office = self.p["office"]
        response = await self.api.client.get("/api/v1/dev/clock", headers=office.headers)
        if response.status_code == 404:
            raise NotSimulated(
                "this deployment's clock is not simulated (no /api/v1/dev/clock): refusing to write "
                "synthetic projects into it"
            )
        if response.status_code != 200:
            raise ApiError(f"GET /api/v1/dev/clock: {response.status_code} {response.text[:200]}")
        return datetime.fromisoformat(response.json()["now"])

    async def sign_in(self) -> None:
        for username in (*ROLES, *LINE_LEADERS):
            self.p[username] = await self.api.sign_in(username)

    async def move_clock(self, when: datetime) -> None:
        await self.move_clock_by({"set": when.isoformat()}, when.isoformat())

    async def move_clock_by(self, body: dict[str, Any], what: str) -> None:
        """Move the shared clock; it returns once every service has settled. A busy service that has not
        settled in time (503 ``clock_not_settled``: the clock has moved) is waited for again."""
        for _ in range(10):
            try:
                response = await self.api.call(
                    self.p["office"], "POST", "/api/v1/dev/clock", action="move clock", json=body
                )
            except ApiError as exc:
                if "clock_not_settled" not in str(exc):
                    raise
                body = {"advance": "0s"}
                continue
            if response is None:
                raise ApiError(f"the clock could not be moved ({what})")
            return
        raise ApiError(f"the deployment did not settle ({what})")

    def draw(self, units: int) -> list[Script]:
        mix, rng = self.options.mix, self.rng
        horizon = max(1, len(self.days) - 1)
        scripts = []
        for i in range(self.options.projects):
            category = rng.choices(
                ["industrial", "services", "real_estate", "agricultural"], weights=[6, 2, 1, 1]
            )[0]
            project_class = rng.choices(
                ["new_start", "continuing", "preliminary", "completing"], weights=[4, 3, 2, 1]
            )[0]
            total = Decimal(rng.randrange(30, 2000)) * Decimal(1_000_000)
            annual = (total * Decimal(rng.randrange(20, 50)) / 100).quantize(Decimal(1))
            approval_type = "ratification" if rng.random() < mix.ratification else "filing"
            late = rng.random() < mix.milestones_late
            script = Script(
                index=i,
                unit_index=rng.randrange(units),
                category=category,
                project_class=project_class,
                approval_type=approval_type,
                total=total,
                annual=annual,
                start_offset=rng.randrange(2, horizon + 1) if horizon > 2 else 1,
                start_late_by=rng.randrange(3, 15) if late else 0,
                shortfall=rng.random() < mix.investment_shortfall,
            )
            for _ in range(12):  # enough fates for every item of a plan
                roll = rng.random()
                script.approval_fate.append(
                    "stall"
                    if roll < mix.approvals_stalling
                    else "supplement"
                    if roll < mix.approvals_stalling + mix.approvals_supplement
                    else "on_time"
                )
            months = sorted({(d.year, d.month) for d in self.days})
            for year, month in months:
                if rng.random() >= mix.problems_per_month:
                    continue
                in_month = [n for n, d in enumerate(self.days) if (d.year, d.month) == (year, month)]
                roll = rng.random()
                behaviour = (
                    "in_time"
                    if roll < mix.answers_in_time
                    else "late"
                    if roll < mix.answers_in_time + mix.answers_late
                    else "never"
                )
                script.problem_days[rng.choice(in_month)] = behaviour
            scripts.append(script)
        return scripts

    async def each(self, items: Sequence[T], act: Callable[[T], Awaitable[None]]) -> None:
        """``act`` on each item: one after another (the same calls in the same order, so the same seed
        gives the same summary), or with ``Options.concurrency`` > 1 that many at once, as a district's
        people act (bench/system.py; each item's own steps stay in order, the order across items not)."""
        if self.options.concurrency <= 1:
            for item in items:
                await act(item)
            return
        gate = asyncio.Semaphore(self.options.concurrency)

        async def gated(item: T) -> None:
            async with gate:
                await act(item)

        await asyncio.gather(*(gated(item) for item in items))

    async def register(self, scripts: list[Script], units: list[dict[str, Any]]) -> None:
        office = self.p["office"]
        registered: dict[int, ProjectState] = {}

        async def one(script: Script) -> None:
            unit = units[script.unit_index]
            planned_start = self.days[min(script.start_offset, len(self.days) - 1)]
            body = {
                "name": f"【模拟】{unit['name']}第{script.index + 1:03d}号项目",
                "enterprise": f"【模拟】武汉临空港模拟企业{script.index + 1:03d}有限公司",
                "category": script.category,
                "project_class": script.project_class,
                "responsible_unit_id": unit["id"],
                "approval_type": script.approval_type,
                "total_investment": str(script.total),
                "plan_year": self.options.start.year,
                "planned_annual_investment": str(script.annual),
                "milestones": [{"type": "construction_start", "planned_date": planned_start.isoformat()}],
            }
            created = await self.api.call(
                office,
                "POST",
                "/api/v1/projects",
                action="register project",
                json=body,
                headers={"Idempotency-Key": self.api.idempotency_key("project")},
            )
            if created is None:
                return
            project = created.json()
            milestones = project.get("milestones") or []
            registered[script.index] = ProjectState(
                script=script,
                id=project["id"],
                unit_id=unit["id"],
                unit_name=unit["name"],
                line_id=project.get("line_id"),
                milestone_id=milestones[0]["id"] if milestones else None,
            )

        await self.each(scripts, one)
        self.projects = [registered[i] for i in sorted(registered)]  # registration order, however run

    # ---- the run ------------------------------------------------------------------------------------

    async def run(self) -> Summary:
        await self.sign_in()
        now = await self.check_simulated()
        first = datetime.combine(self.days[0], WORKDAY_START, TZ)
        if now > first:
            raise ApiError(
                f"the deployment's clock is at {now.isoformat()}, after the run's first day "
                f"{self.days[0]}: the clock only moves forward; start a fresh deployment"
            )
        if now < first:
            await self.move_clock(first)
        office = self.p["office"]
        units = sorted(
            (
                u
                for u in await self.api.get(office, "/api/v1/org/units")
                if u["kind"] in ("street", "industry_office")
            ),
            key=lambda u: u["id"],
        )
        self.lines = {line["id"]: line for line in await self.api.get(office, "/api/v1/org/lines")}
        registering = time.monotonic()
        await self.register(self.draw(len(units)), units)
        self.seconds["register"] = time.monotonic() - registering
        for n, day in enumerate(self.days):
            began = time.monotonic()
            if n > 0:
                await self.next_day(day)
                self.seconds["clock"] += time.monotonic() - began
            await self.act(n, day)
            self.day_seconds.append(time.monotonic() - began)
            if self.on_day is not None:
                self.on_day(day, n + 1, len(self.days))
            if self.stop_at is not None and time.monotonic() >= self.stop_at and n + 1 < len(self.days):
                self.days = self.days[: n + 1]  # out of wall time: the run ends on the day reached
                break
            spare = self.options.pace - (time.monotonic() - began)
            if spare > 0:
                await asyncio.sleep(spare)
        # The last day's evening: let the day's scans run before the figures are read.
        await self.settle()
        await self.move_clock(datetime.combine(self.days[-1], clock_time(23, 0), TZ))
        ids = [p.id for p in self.projects]
        collecting = time.monotonic()
        summary = await collect(self.api, self.p, ids, self.days, channels=self.count_channels)
        self.seconds["summary"] = time.monotonic() - collecting
        return summary

    async def next_day(self, day: date) -> None:
        """Move the clock to ``day`` at 09:00 so that what happens does not depend on how fast events
        travel. A move settles every service in parallel after the clock has moved, so (1) an event the
        day's actions caused that is still on its way would be applied at the next day's time, and (2)
        within one move, a breach due overnight that another service publishes may reach the notifier
        before or after it has made the 08:30 digests (in that morning's digest, or the next one's: the
        same seed gave inbox counts 2 apart). So: settle the day where it stands, move to 08:00 (all that
        is due overnight happens and is heard everywhere), then to 09:00 (the digests, complete)."""
        await self.settle()
        await self.move_clock(datetime.combine(day, BEFORE_DIGESTS, TZ))
        await self.move_clock(datetime.combine(day, WORKDAY_START, TZ))

    async def settle(self) -> None:
        """Let every service finish what is in flight; the clock does not move."""
        await self.move_clock_by({"advance": "0s"}, "settle")

    async def act(self, n: int, day: date) -> None:
        from lkg.common.simulate import actions

        for phase, step in (
            ("approvals", actions.approvals),
            ("problems", actions.problems),
            ("milestones", actions.milestones),
            ("investment", actions.investment),
            ("meetings", actions.meetings),
            ("handover", actions.handover),
            ("month_end", actions.month_end),
        ):
            began = time.monotonic()
            await step(self, n, day)
            self.seconds[phase] += time.monotonic() - began
