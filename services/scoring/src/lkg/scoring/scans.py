"""What the scoring service runs on the shared clock (docs/time.md).

* **Periods**: a month or quarter whose close time has come (its last working day plus the grace, on the
  official calendar) is proposed as of that time, in order; a jump over several months proposes each one
  as of its own close time, so the figures are those of real time.
* **Rechecks**: a fact recorded after a period's cut-off refreshes its proposal or, once published, gives a
  numbered correction (:func:`lkg.scoring.proposals.apply_recheck`). They wait while the consumer still has a
  backlog: a replay must not compare figures from half of the streams.
* **Reports**: the 《要情专报》, 销号成绩单, 月度通报 and 季度考评 issued on their cadence, numbered and
  frozen (:func:`scan_reports`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lkg.common.calendar import local_date
from lkg.common.runtime.service import ServiceRuntime
from lkg.scoring import proposals
from lkg.scoring.periods import EVALUATED_KINDS
from lkg.scoring.reports import issued
from lkg.scoring.settings import ScoringSettings


async def scan_periods(runtime: ServiceRuntime, until: datetime) -> int:
    settings = runtime.settings
    earliest = settings.evaluation_start if isinstance(settings, ScoringSettings) else None
    acted = 0
    for kind in EVALUATED_KINDS:
        while True:
            async with runtime.db.transaction() as session:
                row = await proposals.propose_next(
                    session, kind, until=until, calendar=runtime.calendar, earliest=earliest
                )
            if row is None:
                break
            acted += 1
    if await runtime.consumer.backlog() > 0:
        return acted
    while True:
        async with runtime.db.transaction() as session:
            recheck = await proposals.next_recheck(session, until)
            if recheck is None:
                return acted
            if await proposals.apply_recheck(session, recheck):
                acted += 1


def reports_start(settings: ScoringSettings) -> date | None:
    """The first day reports are issued for: the evaluations' start if set, else the simulated clock's
    start (a deployment's go-live: facts dated before it, history imported with the plan, give no reports),
    else the first fact."""
    if settings.evaluation_start is not None:
        return settings.evaluation_start
    if settings.clock == "simulated":
        return local_date(settings.simulated_start)
    return None


@dataclass
class _Quiet:
    """What the reports scan saw of the consumer last time (per runtime)."""

    applied: int = -1
    waits: int = 0


_QUIET: dict[int, _Quiet] = {}
#: A due report waits at most this many scans for a quiet consumer (a busy production system issues it
#: anyway, a little later).
MAX_WAITS = 10


async def scan_reports(runtime: ServiceRuntime, until: datetime) -> int:
    """Issue every report whose time has come, oldest first (:mod:`lkg.scoring.reports.issued`).

    A report is frozen once issued, so it waits for the facts of its period. On the simulated clock the scan
    summarises (``Scan(summarises=True)``): a clock move runs it only in its quiet round, once every
    service has settled (docs/time.md), so a jump over a cadence day issues the report with everything the
    other services' scans found on the way. On either clock it also waits while scoring's consumer has a
    backlog, and until one scan finds that nothing new was applied since the previous one (on the real
    clock, the facts of the minutes before the due time are still arriving). While it waits it reports
    activity, so a settle goes another round rather than returning before the report is issued."""
    settings = runtime.settings
    if not isinstance(settings, ScoringSettings):
        return 0
    cadence = issued.Cadence(
        calendar=runtime.calendar,
        weekday=settings.weekly_bulletin_weekday,
        shift=settings.weekly_bulletin_shift,
        earliest=reports_start(settings),
    )
    async with runtime.db.sessions() as session:
        due = [p for p in issued.PRODUCERS if await p(session, until, cadence, issue=False)]
    quiet = _QUIET.setdefault(id(runtime), _Quiet())
    applied = runtime.consumer.applied_total
    if not due:
        quiet.applied, quiet.waits = applied, 0
        return 0
    if await runtime.consumer.backlog() > 0:
        return 1
    if applied != quiet.applied and quiet.waits < MAX_WAITS:
        quiet.applied, quiet.waits = applied, quiet.waits + 1
        return 1
    quiet.waits = 0
    acted = 0
    for produce in due:
        while True:
            async with runtime.db.transaction() as session:
                done = await produce(session, until, cadence)
            if not done:
                break
            acted += 1
    return acted
