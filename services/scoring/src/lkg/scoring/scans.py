"""What the scoring service runs on the shared clock (DESIGN §5).

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

from datetime import datetime

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


async def scan_reports(runtime: ServiceRuntime, until: datetime) -> int:
    """Issue every report whose time has come, oldest first (:mod:`lkg.scoring.reports.issued`). It waits
    while the consumer has a backlog: a report is frozen once issued, so it must not miss facts in flight."""
    if await runtime.consumer.backlog() > 0:
        return 0
    settings = runtime.settings
    if not isinstance(settings, ScoringSettings):
        return 0
    cadence = issued.Cadence(
        calendar=runtime.calendar,
        weekday=settings.weekly_bulletin_weekday,
        shift=settings.weekly_bulletin_shift,
        earliest=settings.evaluation_start,
    )
    acted = 0
    for produce in issued.PRODUCERS:
        while True:
            async with runtime.db.transaction() as session:
                done = await produce(session, until, cadence)
            if not done:
                break
            acted += 1
    return acted
