"""What a service declares (:class:`ServiceSpec`) and what runs it (:class:`ServiceRuntime`).

The composition root: a service package exposes one ``SPEC`` (entry point group ``lkg.services``); the
runtime builds its engine, NATS connection, outbox relay, consumers and scans inside the app's lifespan.
A :class:`Platform` holds what a process shares between the services it hosts: the clock and calendar,
and the NATS connection that follows the shared clock. One process hosts one service (Kubernetes) or
all five (the embedded default); events go over NATS in both shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic

import sqlalchemy as sa
from fastapi import APIRouter
from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from typing_extensions import TypeVar

from lkg.common.calendar import WorkingCalendar, YearSchedule
from lkg.common.clock import TZ, Clock, SimulatedClock, SystemClock, wall_clock_utc
from lkg.common.db import Database, current_revisions, head_revisions
from lkg.common.events.bus import Names, connect, ensure_streams
from lkg.common.events.inbox import ConsumerOptions, EventConsumer, Subscription
from lkg.common.events.relay import OutboxRelay
from lkg.common.log import get_logger
from lkg.common.metrics import SCAN_ACTIONS, SCAN_DURATION
from lkg.common.runtime import shared_time
from lkg.common.settings import ServiceSettings
from lkg.common.tasks import stop_if_cancelled, stop_tasks

if TYPE_CHECKING:
    from lkg.common.auth import ReachResolver

log = get_logger(__name__)

#: A service's settings class: ``ServiceSpec[IssuesSettings]`` runs as ``ServiceRuntime[IssuesSettings]``,
#: so ``runtime.settings.<field>`` is typed (no ``getattr(..., default)``, no casts).
S = TypeVar("S", bound=ServiceSettings, default=ServiceSettings)


@dataclass(frozen=True)
class Scan(Generic[S]):
    """A deadline scan: acts on everything due up to ``until`` and returns how many rows it acted on."""

    name: str
    run: Callable[[ServiceRuntime[S], datetime], Awaitable[int]]
    #: It summarises what other services said up to its due time (a morning digest): in a settle of the
    #: shared clock it runs only in the quiet round, after every service has settled (shared_time).
    summarises: bool = False


@dataclass(frozen=True)
class ServiceSpec(Generic[S]):
    """Everything the runtime needs to know about a service; ``S`` is its settings class."""

    name: str
    title: str
    description: str
    version: str
    settings_cls: type[S]
    metadata: sa.MetaData
    migrations: str  # "lkg.registry:migrations"
    router: Callable[[], APIRouter]
    subscriptions: Sequence[Subscription] = ()
    scans: Sequence[Scan[S]] = ()
    #: Tables built only from other services' events: emptied by ``lkg replay --rebuild``.
    read_copy_tables: Sequence[str] = ()
    reach_resolver: Callable[[ServiceRuntime[S]], ReachResolver] | None = None
    on_calendar_loaded: Callable[[ServiceRuntime[S], int], Awaitable[int]] | None = None
    #: Demo data, idempotent (``lkg run`` / ``lkg seed``): returns how many rows it created.
    seed: Callable[[Database], Awaitable[int]] | None = None
    #: The org units the seeded directory document holds, as ``(name, roles)`` (the registry's).
    seed_units: Callable[[], Sequence[SeedUnit]] | None = None
    #: The org units this service's seed data names, each as ``(what names it, role or None, name)``:
    #: ``lkg seed`` refuses to seed when one is not in the seeded directory document (:func:`unnamed_units`).
    seed_unit_references: Callable[[], Sequence[SeedUnitReference]] | None = None


#: An org unit of a seeded directory document: its name and its functions (``UnitRole`` values).
SeedUnit = tuple[str, Sequence[str]]
#: An org unit named by seed data: what names it (a catalogue item's code), by function (preferred) and name.
SeedUnitReference = tuple[str, str | None, str]


def unnamed_units(specs: Sequence[ServiceSpec[Any]]) -> list[str]:
    """What the services' seed data names that the seeded directory document does not hold, in words (empty
    when everything resolves). A reference resolves by function when it gives one (a reshuffle renames
    units but keeps functions), else by name, as the consumers resolve it against the org read copy. Checked
    against the document, not a read copy: at the first start the copy may not have arrived yet."""
    units = [u for spec in specs if spec.seed_units is not None for u in spec.seed_units()]
    if not units:
        return []
    names = {name for name, _ in units}
    roles = {role for _, unit_roles in units for role in unit_roles}
    missing = []
    for spec in specs:
        for what, role, name in spec.seed_unit_references() if spec.seed_unit_references else ():
            if (role is not None and role not in roles) or (role is None and name not in names):
                missing.append(f"{spec.name}: {what} names {name!r}" + (f" ({role})" if role else ""))
    return missing


def discover_specs() -> dict[str, ServiceSpec[Any]]:
    """Installed services, by name (entry point group ``lkg.services``)."""
    specs = {ep.name: ep.load() for ep in entry_points(group="lkg.services")}
    order = ["registry", "approvals", "issues", "scoring", "notifier"]
    return dict(sorted(specs.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


class Platform:
    """Per-process shared pieces: the clock, the calendar, and the NATS connection that keeps them current."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.names = Names(settings.nats_prefix)
        self.calendar = WorkingCalendar()
        self.clock: Clock = (
            SimulatedClock(settings.simulated_start) if settings.clock == "simulated" else SystemClock()
        )
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.runtimes: dict[str, ServiceRuntime[Any]] = {}
        self._tasks: list[asyncio.Task] = []

    def connected(self) -> tuple[NATS, JetStreamContext]:
        """The platform's NATS connection and JetStream context (once :meth:`start` has made them)."""
        if self.nc is None or self.js is None:
            raise RuntimeError("the platform has not started")
        return self.nc, self.js

    async def start(self) -> None:
        if not self.settings.nats_url:
            raise RuntimeError("NATS_URL is not set")
        self.nc = await connect(
            self.settings.nats_url, name="lkg-platform", credentials=self.settings.nats_credentials
        )
        self.js = self.nc.jetstream()
        replicas = self.settings.nats_replicas
        await ensure_streams(self.js, self.names, replicas, user=self.settings.nats_user)
        calendar_kv = await shared_time.calendar_bucket(self.js, self.names, replicas)
        await self._load_calendar(calendar_kv)
        self._tasks.append(asyncio.create_task(self._follow_calendar(calendar_kv), name="calendar"))
        if isinstance(self.clock, SimulatedClock):
            clock_kv = await shared_time.clock_bucket(self.js, self.names, replicas)
            self.clock.move_to(await shared_time.init_now(clock_kv, self.settings.simulated_start))
            self._tasks.append(asyncio.create_task(shared_time.follow(clock_kv, self.clock), name="clock"))

    async def _load_calendar(self, kv: KeyValue) -> None:
        for key in await shared_time.bucket_keys(kv):
            if not key.startswith("year."):
                continue
            try:
                self.calendar.load(YearSchedule.model_validate_json((await kv.get(key)).value or b""))
            except Exception as exc:  # one bad entry must not hide the years after it
                log.error("calendar.invalid_schedule", key=key, error=str(exc))

    async def _follow_calendar(self, kv: KeyValue) -> None:
        watcher = await kv.watch("year.*")
        async for entry in watcher:
            if entry is None or not entry.value:
                continue
            try:
                schedule = YearSchedule.model_validate_json(entry.value)
            except ValueError as exc:  # a bad entry must not stop the watch for the years after it
                log.error("calendar.invalid_schedule", key=entry.key, error=str(exc))
                continue
            self.calendar.load(schedule)
            log.info("calendar.loaded", year=schedule.year, source=schedule.source)
            for runtime in list(self.runtimes.values()):
                await self._calendar_loaded(runtime, schedule.year)

    async def _calendar_loaded(self, runtime: ServiceRuntime[Any], year: int) -> None:
        """Tell one service that ``year``'s official schedule is loaded. A failing hook is logged and the
        others still run: the watcher must keep watching (loading the year again retries it)."""
        hook = runtime.spec.on_calendar_loaded
        if hook is None:
            return
        try:
            await hook(runtime, year)
        except Exception as exc:
            log.error("calendar.hook_failed", service=runtime.spec.name, year=year, error=repr(exc))

    def attach(self, runtime: ServiceRuntime[Any]) -> None:
        """Register a started service. Years loaded before it was here (delivered while it started, or
        loaded while it was down) are handed to its ``on_calendar_loaded`` once, in the background: its
        provisional deadlines on those years are recomputed without waiting for the year to be loaded
        again. The hooks are idempotent, so a year the watcher also delivers is only done twice."""
        self.runtimes[runtime.spec.name] = runtime
        years = sorted(y for y in self.calendar.official_years() if self.calendar.year_kind(y) == "loaded")
        if runtime.spec.on_calendar_loaded is None or not years:
            return

        async def catch_up() -> None:
            for year in years:
                await self._calendar_loaded(runtime, year)

        self._tasks.append(asyncio.create_task(catch_up(), name=f"calendar-catch-up-{runtime.spec.name}"))

    async def stop(self) -> None:
        await stop_tasks(self._tasks, owner="platform")
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()


@dataclass
class ServiceRuntime(Generic[S]):
    """One service's live resources inside a process; ``settings`` is the service's own settings class."""

    spec: ServiceSpec[S]
    settings: S
    platform: Platform
    consumer_options: ConsumerOptions | None = None
    db: Database = field(init=False)
    nc: NATS = field(init=False)
    js: JetStreamContext = field(init=False)
    relay: OutboxRelay = field(init=False)
    consumer: EventConsumer = field(init=False)
    _tasks: list[asyncio.Task] = field(init=False, default_factory=list)
    _settle_sub: Any = field(init=False, default=None)
    _clock_kv: Any = field(init=False, default=None)
    _reported: int = field(init=False, default=0)
    _activity: int = field(init=False, default=0)
    _scan_lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def clock(self) -> Clock:
        return self.platform.clock

    @property
    def calendar(self) -> WorkingCalendar:
        return self.platform.calendar

    @property
    def names(self) -> Names:
        return self.platform.names

    async def start(self) -> None:
        settings = self.settings
        if not settings.database_url:
            raise RuntimeError(f"{self.name}: DATABASE_URL is not set")
        self.db = Database(settings.database_url)
        self.nc = await connect(
            settings.nats_url or "", name=f"lkg-{self.name}", credentials=settings.nats_credentials
        )
        self.js = self.nc.jetstream()
        self.relay = OutboxRelay(
            service=self.name,
            db=self.db,
            js=self.js,
            names=self.names,
            database_url=settings.database_url,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
            wall_clock=wall_clock_utc,
            nc=self.nc,  # replicas standing by wake the leading one over core NATS
        )
        options = self.consumer_options or ConsumerOptions(
            batch_size=settings.consumer_batch_size,
            max_deliver=settings.consumer_max_deliver,
            backoff_seconds=settings.consumer_backoff_seconds,
            ack_wait_seconds=settings.consumer_ack_wait_seconds,
        )
        self.consumer = EventConsumer(
            consumer=self.name,
            db=self.db,
            nc=self.nc,
            js=self.js,
            names=self.names,
            subscriptions=self.spec.subscriptions,
            options=options,
        )
        await self.consumer.ensure()
        self._tasks = [
            asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"),
            asyncio.create_task(self.consumer.run(), name=f"{self.name}-consumer"),
        ]
        if isinstance(self.clock, SimulatedClock):
            self._clock_kv = await shared_time.clock_bucket(self.js, self.names)
            self._settle_sub = await shared_time.serve_settle(
                self.nc,
                self.names,
                self.name,
                self.clock,
                self.settle,
                defers=any(scan.summarises for scan in self.spec.scans),
            )
            await shared_time.register_service(self._clock_kv, self.name)
            self._tasks.append(
                asyncio.create_task(
                    shared_time.keep_registered(self._clock_kv, self.name), name=f"{self.name}-heartbeat"
                )
            )
        elif self.spec.scans:
            self._tasks.append(asyncio.create_task(self._scan_forever(), name=f"{self.name}-scans"))

    async def stop(self) -> None:
        await stop_tasks(self._tasks, owner=self.name)
        if self._clock_kv is not None:
            await shared_time.unregister_service(self._clock_kv, self.name)
        with contextlib.suppress(Exception):
            await self.nc.close()
        await self.db.dispose()

    # ---- time ---------------------------------------------------------------------------------------

    async def run_scans(self, until: datetime, *, summaries: bool = True) -> int:
        """Run every scan up to ``until`` (a service's scans never overlap within one process);
        ``summaries=False`` leaves out the summarising ones (a settle's rounds before the quiet one)."""
        acted = 0
        async with self._scan_lock:
            for scan in self.spec.scans:
                if scan.summarises and not summaries:
                    continue
                started = time.perf_counter()
                n = await scan.run(self, until)
                SCAN_DURATION.labels(self.name, scan.name).observe(time.perf_counter() - started)
                SCAN_ACTIONS.labels(self.name, scan.name).inc(n)
                acted += n
        if acted:
            self.relay.wake()
        return acted

    async def _scan_forever(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                await self.run_scans(self.clock.now())
            except Exception as exc:
                log.error("scan.failed", service=self.name, error=repr(exc))
            await asyncio.sleep(self.settings.scan_interval_seconds)

    async def settle(self, until: datetime, quiet: bool = True, timeout: float = 60.0) -> int:
        """Scans up to ``until``, outbox published, consumers caught up. Returns activity since last call.
        Summarising scans run only when ``quiet`` (the clock mover's last rounds, shared_time).

        A NATS request that times out on the way (a JetStream API call or a publish's acknowledgement, seen
        at a load average of 4.5 in a test run: the whole clock move then failed with 503) is asked again
        until ``timeout``: every step is safe to repeat (the scans act once, the relay publishes what is
        still unpublished under its message ids)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return await self._settle_once(until, quiet, deadline, timeout)
            except NatsTimeoutError as exc:
                if loop.time() > deadline:
                    raise
                log.warning("clock.settle_retried", service=self.name, error=repr(exc))

    async def _settle_once(self, until: datetime, quiet: bool, deadline: float, timeout: float) -> int:
        loop = asyncio.get_running_loop()
        acted = await self.run_scans(until, summaries=quiet)
        published = await self.relay.drain()
        while await self.consumer.backlog() > 0:
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name}: consumers still have a backlog after {timeout}s")
            await asyncio.sleep(0.01)
        published += await self.relay.drain()
        applied = self.consumer.applied_total - self._reported
        self._reported = self.consumer.applied_total
        return acted + published + applied

    # ---- health -------------------------------------------------------------------------------------

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, str] = {}
        try:
            async with self.db.sessions() as session:
                await session.execute(sa.text("SELECT 1"))
                current = await current_revisions(session)
            heads = head_revisions(self.spec.migrations)
            checks["database"] = "ok"
            checks["migrations"] = "ok" if current == heads else f"at {sorted(current)}, head {sorted(heads)}"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
            checks["migrations"] = "unknown"
        checks["nats"] = "ok" if self.nc.is_connected else "disconnected"
        return checks


async def readiness_report(platform: Platform) -> dict[str, Any]:
    """``/readyz``: every hosted service's checks; a provisional calendar is a warning, still ready."""
    checks: dict[str, Any] = {}
    for runtime in platform.runtimes.values():
        for key, value in (await runtime.readiness()).items():
            checks[f"{runtime.name}.{key}"] = value
    warnings = []
    year = platform.clock.now().astimezone(TZ).year
    if platform.calendar.is_provisional(platform.clock.today()):
        warnings.append(
            f"{year} 年的工作日历为临时日历（无官方调休安排），据此计算的期限标记为临时，"
            f"加载官方日历后将重新计算 (lkg calendar load)"
        )
    status = "ok" if all(v == "ok" for v in checks.values()) else "fail"
    return {"status": status, "checks": checks, "warnings": warnings, "now": platform.clock.now().isoformat()}
