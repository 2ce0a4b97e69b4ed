"""The shared simulated clock, settling, and deadline scans, on a running deployment (real PostgreSQL, NATS).

A throw-away "timekeeper" service holds obligations that escalate one layer on breach, each new clock
starting from the breach (docs/time.md): the same rule the issues service applies to problems.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from fastapi import APIRouter
from typer.testing import CliRunner

from lkg.common.calendar import YearSchedule
from lkg.common.clock import TZ
from lkg.common.runtime import shared_time
from lkg.common.runtime.service import Scan, ServiceRuntime, ServiceSpec
from lkg.common.scans import scan_due
from lkg.common.settings import ServiceSettings
from lkg.common.testing import eventually
from lkg.common.testing.system import running_system

HERE = Path(__file__).parent
REPO = HERE.parents[2]
START = datetime(2020, 5, 1, 9, tzinfo=TZ)
_systems = itertools.count(1)

obligation = sa.table(
    "obligation",
    sa.column("id", sa.Integer),
    sa.column("matter", sa.Text),
    sa.column("layer", sa.Integer),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("due_at", sa.DateTime(timezone=True)),
    sa.column("state", sa.Text),
    sa.column("breached_at", sa.DateTime(timezone=True)),
)

#: 3 working days per layer, as the reply clock of policy §五(一).
BUDGET = 3


async def escalate(runtime: ServiceRuntime, until: datetime) -> int:
    async def breach(session, row) -> bool:
        now = runtime.clock.now()  # the row's due time, not the time the clock jumped to
        await session.execute(
            sa.update(obligation).where(obligation.c.id == row.id).values(state="breached", breached_at=now)
        )
        if row.layer == 3:
            return False
        due = runtime.calendar.compute_due(now, BUDGET, "working")
        await session.execute(
            sa.insert(obligation).values(
                matter=row.matter, layer=row.layer + 1, started_at=now, due_at=due.due_at, state="open"
            )
        )
        return True

    return await scan_due(
        db=runtime.db,
        clock=runtime.clock,
        table=obligation,
        due_column=obligation.c.due_at,
        until=until,
        handle=breach,
        where=[obligation.c.state == "open"],
    )


TIMEKEEPER = ServiceSpec(
    name="timekeeper",
    title="timekeeper",
    description="test service",
    version="0",
    settings_cls=ServiceSettings,
    metadata=sa.MetaData(),
    migrations=str(HERE / "timekeeper"),
    router=APIRouter,
    scans=[Scan("escalation", escalate)],
)


@pytest_asyncio.fixture(loop_scope="session")
async def timekeeper(db_factory, nats_url, nats_prefix):
    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}k{next(_systems)}", specs=[TIMEKEEPER]
    ) as system:
        yield system


def runtime_of(system) -> ServiceRuntime:
    return system.platform.runtimes["timekeeper"]


async def open_matter(system, matter: str, layer: int = 1) -> None:
    runtime = runtime_of(system)
    now = runtime.clock.now()
    due = runtime.calendar.compute_due(now, BUDGET, "working").due_at
    async with runtime.db.transaction() as session:
        await session.execute(
            sa.insert(obligation).values(matter=matter, layer=layer, started_at=now, due_at=due, state="open")
        )


async def breaches(system, matter: str) -> list[tuple[int, datetime]]:
    async with runtime_of(system).db.sessions() as session:
        rows = await session.execute(
            sa.select(obligation.c.layer, obligation.c.breached_at)
            .where(obligation.c.matter == matter, obligation.c.state == "breached")
            .order_by(obligation.c.layer)
        )
        return [(layer, at.astimezone(TZ)) for layer, at in rows]


def expected_chain() -> list[tuple[int, datetime]]:
    # Opened 2020-05-01 09:00 (Labour Day holiday): 3 working days are 05-06..05-08, breach at the end of
    # 05-08; layer 2 starts then and counts 05-11..05-13 (Saturday 05-09 was a make-up working day but is the
    # start day), layer 3 counts 05-15, 05-18, 05-19.
    return [
        (1, datetime(2020, 5, 9, tzinfo=TZ)),
        (2, datetime(2020, 5, 14, tzinfo=TZ)),
        (3, datetime(2020, 5, 20, tzinfo=TZ)),
    ]


async def test_one_jump_lands_every_breach_where_real_time_would(timekeeper):
    await open_matter(timekeeper, "silence")
    moved = await timekeeper.move_clock(set=datetime(2020, 6, 1, 9, tzinfo=TZ))
    assert moved["now"] == "2020-06-01T09:00:00+08:00"
    assert moved["activity"]["timekeeper"] == 3
    assert await breaches(timekeeper, "silence") == expected_chain()


async def test_moving_day_by_day_gives_the_same_breaches_as_one_jump(timekeeper):
    await open_matter(timekeeper, "silence")
    day = START
    while day < datetime(2020, 6, 1, 9, tzinfo=TZ):
        day += timedelta(days=1)
        await timekeeper.move_clock(set=day)
    assert await breaches(timekeeper, "silence") == expected_chain()


async def test_a_breach_is_acted_on_once_by_racing_scanners(timekeeper):
    runtime = runtime_of(timekeeper)
    for n in range(200):
        await open_matter(timekeeper, f"m{n}", layer=3)
    until = runtime.calendar.compute_due(runtime.clock.now(), BUDGET, "working").due_at
    first, second = await asyncio.gather(escalate(runtime, until), escalate(runtime, until))
    assert first + second == 200
    async with runtime.db.sessions() as session:
        breached = (
            await session.execute(sa.select(sa.func.count()).where(obligation.c.state == "breached"))
        ).scalar_one()
    assert breached == 200


async def test_the_clock_returns_only_after_the_scans_settled_and_refuses_to_go_back(timekeeper):
    await open_matter(timekeeper, "quick")
    moved = await timekeeper.move_clock(working_days=3)
    assert moved["now"] == "2020-05-08T09:00:00+08:00"
    assert await breaches(timekeeper, "quick") == []  # due at the end of 05-08, not yet
    await timekeeper.move_clock(advance="15h")
    assert await breaches(timekeeper, "quick") == expected_chain()[:1]
    refused = await timekeeper.client.post(
        "/api/v1/dev/clock", json={"set": "2020-05-01T09:00:00+08:00"}, headers=timekeeper.operator
    )
    assert refused.status_code == 409


async def test_a_provisional_year_is_a_readiness_warning_until_its_schedule_is_loaded(timekeeper):
    ready = (await timekeeper.client.get("/readyz")).json()
    assert ready["warnings"] == []
    await timekeeper.move_clock(set=datetime(2027, 1, 4, 9, tzinfo=TZ))
    ready = await timekeeper.client.get("/readyz")
    assert ready.status_code == 200
    assert len(ready.json()["warnings"]) == 1 and "2027" in ready.json()["warnings"][0]

    platform = timekeeper.platform
    kv = await shared_time.calendar_bucket(platform.js, platform.names)
    await kv.put("year.2027", (REPO / "docs" / "calendar-2027.example.json").read_bytes())

    async def no_warning() -> None:
        assert (await timekeeper.client.get("/readyz")).json()["warnings"] == []

    await eventually(no_warning)
    assert not platform.calendar.is_provisional(date(2027, 1, 4))


async def test_calendar_hooks_outlive_a_bad_entry_and_a_failing_hook_and_reach_a_service_started_later(
    db_factory, nats_url, nats_prefix
):
    calls: list[int] = []
    failed: list[int] = []

    async def on_calendar_loaded(runtime: ServiceRuntime, year: int) -> int:
        calls.append(year)
        if year == 2027 and not failed:
            failed.append(year)
            raise RuntimeError("the service's recompute failed")
        return 0

    spec = dataclasses.replace(TIMEKEEPER, on_calendar_loaded=on_calendar_loaded)
    prefix = f"{nats_prefix}k{next(_systems)}"
    later = YearSchedule(year=2028, holidays=[date(2028, 1, 1)], source="test").model_dump_json().encode()
    deployment = {"db_factory": db_factory, "nats_url": nats_url, "prefix": prefix, "specs": [spec]}
    async with running_system(**deployment) as system:
        kv = await shared_time.calendar_bucket(system.platform.js, system.platform.names)
        await kv.put("year.2031", b"{not a schedule")
        await kv.put("year.2027", (REPO / "docs" / "calendar-2027.example.json").read_bytes())
        await kv.put("year.2028", later)
        await eventually(lambda: 2028 in calls)
        assert failed == [2027] and 2031 not in calls
        assert system.platform.calendar.year_kind(2028) == "loaded"

    # The next start on the same NATS (years loaded while the service was down, or delivered before it
    # was attached): both loaded years reach it once it runs, the bad entry stays out.
    calls.clear()
    async with running_system(**deployment) as system:
        await eventually(lambda: {2027, 2028} <= set(calls))
        assert 2031 not in calls
        assert {system.platform.calendar.year_kind(y) for y in (2027, 2028)} == {"loaded"}


async def test_lkg_clock_advance_moves_the_deployment_and_waits_for_it(timekeeper):
    from lkg.common.runtime.cli import app

    await open_matter(timekeeper, "cli")
    settings = timekeeper.settings
    env = {
        "NATS_URL": settings.nats_url,
        "DATABASE_URL": timekeeper.service_settings["timekeeper"].database_url,
        "LKG_NATS_PREFIX": settings.nats_prefix,
    }
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, app, ["clock", "advance", "--working-days", "4"], env=env)
    assert result.exit_code == 0, result.output
    # The report is standard output; log lines (the CLI's NATS connection closing, at INFO when an earlier
    # test of the session configured logging so) go to standard error, which ``output`` interleaves.
    report = json.loads(result.stdout)
    # 05-06, 05-07, 05-08 and the make-up working Saturday 05-09.
    assert report["now"] == "2020-05-09T09:00:00+08:00"
    assert report["activity"] == {"timekeeper": 1}
    assert await breaches(timekeeper, "cli") == expected_chain()[:1]
    shown = await asyncio.to_thread(runner.invoke, app, ["clock", "show"], env=env)
    assert shown.stdout.strip() == "2020-05-09T09:00:00+08:00"


@pytest.mark.parametrize("env", [{"LKG_ENV": "production", "LKG_CLOCK": "simulated"}])
def test_the_simulated_clock_cannot_be_enabled_in_production(env, monkeypatch):
    for key, value in {**env, "LKG_JWT_SECRET": "x" * 40}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match="simulated clock"):
        ServiceSettings()
    assert os.environ["LKG_CLOCK"] == "simulated"


async def test_a_service_that_stopped_running_here_is_not_waited_for(timekeeper):
    platform = timekeeper.platform
    kv = await shared_time.clock_bucket(platform.js, platform.names)
    gone = datetime.now(TZ) - timedelta(seconds=shared_time.STALE_AFTER_SECONDS + 1)
    await kv.put("service.ghost", gone.isoformat().encode())
    moved = await timekeeper.move_clock(advance="1h")
    assert set(moved["activity"]) == {"timekeeper"}


# ---- summarising scans wait for the quiet round -----------------------------------------------------------

#: What each digest saw: (the due time it was made for, the breaches that had happened by then).
_digests: list[tuple[datetime, int]] = []
_peers: dict[str, ServiceRuntime] = {}
DIGEST_TIME = datetime(2020, 5, 11, 8, 30, tzinfo=TZ)


async def slow_escalate(runtime: ServiceRuntime, until: datetime) -> int:
    """The timekeeper's scan, a second late: in one settle round the digest below would otherwise run
    before the breaches it must count exist (as the notifier's 08:30 digest races approvals and issues)."""
    await asyncio.sleep(1.0)
    return await escalate(runtime, until)


async def digest(runtime: ServiceRuntime, until: datetime) -> int:
    if until < DIGEST_TIME or any(at == DIGEST_TIME for at, _ in _digests):
        return 0
    async with _peers["timekeeper"].db.sessions() as session:
        seen = (
            await session.execute(
                sa.select(sa.func.count()).where(
                    obligation.c.state == "breached", obligation.c.breached_at <= DIGEST_TIME
                )
            )
        ).scalar_one()
    _digests.append((DIGEST_TIME, seen))
    return 1


@pytest.mark.parametrize("summarises", [True, False], ids=["summarising", "control"])
async def test_a_summarising_scan_runs_after_every_service_settled_in_the_same_clock_move(
    summarises, db_factory, nats_url, nats_prefix
):
    digester = dataclasses.replace(
        TIMEKEEPER, name="digester", scans=[Scan("digest", digest, summarises=summarises)]
    )
    slow = dataclasses.replace(TIMEKEEPER, scans=[Scan("escalation", slow_escalate)])
    _digests.clear()
    async with running_system(
        db_factory=db_factory,
        nats_url=nats_url,
        prefix=f"{nats_prefix}k{next(_systems)}",
        specs=[slow, digester],
    ) as system:
        _peers["timekeeper"] = runtime_of(system)
        await open_matter(system, "silence")
        # One jump over the layer-1 breach (end of 05-08) and the next morning's digest time (05-11 08:30).
        moved = await system.move_clock(set=datetime(2020, 5, 11, 9, tzinfo=TZ))
        assert moved["activity"] == {"timekeeper": 1, "digester": 1}
    # The digest counted the breach that happened before its time; without the quiet round (the control)
    # it ran beside the slower scan and missed it.
    assert _digests == [(DIGEST_TIME, 1 if summarises else 0)]
