"""Compose services into one ASGI app: one service (a pod) or all five (the embedded default).

Events go over NATS in both shapes; routes are checked for collisions by the HTTP app factory, so two
services claiming one path fail at start.
"""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from starlette.middleware import Middleware

from lkg.common.auth import Principal, Role, require_roles
from lkg.common.clock import TZ, parse_duration
from lkg.common.db import with_database
from lkg.common.events.inbox import ConsumerOptions
from lkg.common.http.app import create_http_app
from lkg.common.http.problems import DomainError, problem_response
from lkg.common.http.types import Instant
from lkg.common.log import configure_logging, get_logger
from lkg.common.runtime import shared_time
from lkg.common.runtime.console import console_middleware
from lkg.common.runtime.service import Platform, ServiceRuntime, ServiceSpec, readiness_report
from lkg.common.settings import ServiceSettings
from lkg.common.tasks import stop_if_cancelled

log = get_logger(__name__)

VERSION = "0.1.0"


def database_name(service: str) -> str:
    """One database per service (docs/architecture.md)."""
    return f"lkg_{service}"


def settings_for(
    spec: ServiceSpec, base: ServiceSettings, *, database_url: str | None = None
) -> ServiceSettings:
    """A service's settings: what the process's common settings were given (by the environment or the
    caller), the service's own defaults for the rest, and the service's own database.

    Only the fields given to ``base`` are carried over: a common field the service class gives another
    default (the notifier scans every 2 s, the common default is 30 s) keeps the service's default unless
    the deployment set it."""
    values = base.model_dump(include=base.model_fields_set)
    values.update(service_name=spec.name, database_url=database_url or base.database_url)
    return spec.settings_cls(**values)


def one_process_settings(
    specs: Sequence[ServiceSpec], base: ServiceSettings, server_url: str
) -> dict[str, ServiceSettings]:
    """All services on one PostgreSQL server, each in its own database ``lkg_<service>``."""
    return {
        spec.name: settings_for(spec, base, database_url=with_database(server_url, database_name(spec.name)))
        for spec in specs
    }


def build_app(
    specs: Sequence[ServiceSpec],
    settings: ServiceSettings,
    service_settings: Mapping[str, ServiceSettings],
    *,
    consumer_options: ConsumerOptions | None = None,
) -> FastAPI:
    """The ASGI app hosting ``specs``; engines and connections are built in its lifespan."""
    platform = Platform(settings)
    startup = Startup()

    async def start(app: FastAPI, *, retry: bool) -> None:
        """Connect and start every service; in the background, retry until it works (NATS or a database
        still coming up), else fail as the app's start."""
        delay = 1.0
        while True:
            try:
                startup.step = "nats"
                if retry:
                    await wait_for_nats(settings, startup)
                startup.step = "platform"
                await platform.start()
                for spec in specs:
                    startup.step = spec.name
                    runtime = ServiceRuntime(
                        spec=spec,
                        settings=service_settings[spec.name],
                        platform=platform,
                        consumer_options=consumer_options,
                    )
                    await runtime.start()
                    platform.attach(runtime)
                    if spec.reach_resolver is not None:
                        app.state.reach_resolvers[spec.name] = spec.reach_resolver(runtime)
                break
            except Exception as exc:  # one line, then again: a pod must not crash-loop on a late dependency
                await stop_all()
                if not retry:
                    raise
                startup.error = f"{type(exc).__name__}: {exc}"
                log.error("lkg.start_failed", step=startup.step, error=startup.error, retry_in=delay)
                stop_if_cancelled()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        startup.step, startup.error = "started", None
        startup.started.set()
        log.info(
            "lkg.started",
            services=[s.name for s in specs],
            clock=settings.clock,
            now=platform.clock.now().isoformat(),
        )
        if settings.gc_freeze_after_start:
            gc.collect()
            gc.freeze()

    async def stop_all() -> None:
        for runtime in reversed(list(platform.runtimes.values())):
            with contextlib.suppress(Exception):
                await runtime.stop()
        platform.runtimes.clear()
        with contextlib.suppress(Exception):
            await platform.stop()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        app.state.platform = platform
        app.state.runtimes = platform.runtimes
        # Start in the background: /healthz answers at once, /readyz says what is awaited, API routes answer
        # 503 until the services run, and a SIGTERM or Ctrl-C stops the process even while NATS is away.
        background = settings.start_in_background
        starting = asyncio.create_task(start(app, retry=background), name="lkg-start")
        try:
            if not background:
                await asyncio.shield(starting)
            yield
        finally:
            starting.cancel()
            # Bounded: a stop must not hang on a start that went on after its cancellation.
            done, _ = await asyncio.wait({starting}, timeout=STOP_WAIT_SECONDS)
            if not done:
                log.error("lkg.start_not_stopped", waited_seconds=STOP_WAIT_SECONDS)
            elif not starting.cancelled():
                with contextlib.suppress(Exception):
                    starting.result()
            await stop_all()

    async def readiness() -> dict[str, Any]:
        if not startup.started.is_set():
            return startup.report()
        return await readiness_report(platform)

    if len(specs) == 1:
        title, description = specs[0].title, specs[0].description
    else:
        title = "临空港重大产业项目落地建设在线 LKG"
        description = (
            "三层八线重大项目推进平台：项目登记、并联审批、问题逐级上报、考评与通知。\n\n"
            "The Linkonggang major-projects platform: registry, approvals, issues, scoring and notifier "
            "in one process. Each service keeps its own database; events go over NATS JetStream."
        )
    extra = [dev_clock_router()] if settings.dev_endpoints_enabled else []
    app = create_http_app(
        settings=settings,
        title=title,
        description=description,
        version=VERSION,
        routers=[(spec.name, spec.router()) for spec in specs],
        lifespan=lifespan,
        readiness=readiness,
        extra_routers=extra,
    )
    if not hasattr(app.state, "reach_resolvers"):
        app.state.reach_resolvers = {}
    # Inside the edge (correlation id, security headers, access line), outside the routes.
    app.user_middleware.append(Middleware(StartingGate, startup=startup))
    # The web console's files at / (docs/console.md): inside the edge too, so they carry its headers.
    console = console_middleware(settings)
    if console is not None:
        app.user_middleware.append(console)
    return app


# ---- starting in the background -------------------------------------------------------------------------


@dataclass
class Startup:
    """Where the start of a process's services stands: what it waits for, and the last error."""

    step: str = "nats"
    error: str | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def report(self) -> dict[str, Any]:
        waiting = {"nats": "NATS", "platform": "NATS JetStream"}.get(self.step, self.step)
        detail = f"starting: waiting for {waiting}" + (f" ({self.error})" if self.error else "")
        return {"status": "fail", "checks": {"startup": detail}, "warnings": []}


#: How long a stopping process waits for its cancelled start to end before it stops what did start.
STOP_WAIT_SECONDS = 5.0


async def wait_for_nats(settings: ServiceSettings, startup: Startup) -> None:
    """Return once NATS accepts a connection with the process's credentials, noting each failure on
    ``startup`` (for ``/readyz``) and in one log line; the platform's own connection then comes at once."""
    import nats

    if not settings.nats_url:
        raise RuntimeError("NATS_URL is not set")
    credentials = settings.nats_credentials
    auth: dict[str, Any] = {}
    if credentials is not None:
        auth = {"user": credentials.user, "password": credentials.password}
    delay = 0.2
    seen: list[Exception] = []

    async def failed(exc: Exception) -> None:
        seen.append(exc)

    while True:
        seen.clear()
        try:
            # One attempt (nats-py tries a server max_reconnect_attempts + 1 times, forever when it is 0).
            probe = await nats.connect(
                settings.nats_url,
                connect_timeout=2,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                error_cb=failed,
                **auth,
            )
        except Exception as exc:  # refused, unreachable, unknown host, no servers, authorization
            cause = seen[-1] if seen else exc
            error = f"{type(cause).__name__}: {cause}"
            startup.error = f"{settings.nats_url}: {error}"
            log.warning("lkg.waiting_for_nats", url=settings.nats_url, error=error, retry_in=delay)
            stop_if_cancelled()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        await probe.close()
        return


class StartingGate:
    """API routes answer 503 ``starting`` (with ``Retry-After``) until the services run; the probes, the
    metrics and the docs answer at once."""

    def __init__(self, app: Any, *, startup: Startup) -> None:
        self.app = app
        self.startup = startup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        starting = not self.startup.started.is_set()
        if starting and scope["type"] == "http" and scope["path"].startswith("/api/"):
            response = problem_response(
                status=503,
                code="starting",
                title="服务正在启动",
                detail="服务正在启动，尚未就绪，请稍后重试（见 /readyz）",
                instance=scope["path"],
                headers={"Retry-After": "5"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# ---- the dev-only clock endpoint (simulated time, never in production) ------------------------------


def _exactly_one_schema(schema: dict[str, Any]) -> None:
    # Document the rule the validator enforces: exactly one member, and never null. Said with
    # min/maxProperties (no other member is allowed), not a oneOf that client generators cannot model.
    for name, prop in schema["properties"].items():
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if options:
            prop.update(options[0])
        prop.pop("default", None)
        schema["properties"][name] = prop
    schema["minProperties"] = 1
    schema["maxProperties"] = 1


# ``3d`` style, or ISO 8601 with at least one component (a bare ``P`` or ``P1DT`` is not a duration). The
# digits are bounded so that every duration the pattern admits is within MAX_ADVANCE (the longest is
# P999W999DT9999H9999M99999S, about 23 years; 9999.999d about 27): a schema-valid move is never refused.
_ISO_TIME = r"T(\d{1,4}H(\d{1,4}M)?(\d{1,5}S)?|\d{1,4}M(\d{1,5}S)?|\d{1,5}S)"
_DURATION_PATTERN = (
    r"^(\d{1,6}(\.\d{1,3})?[sm]|\d{1,5}(\.\d{1,3})?h|\d{1,4}(\.\d{1,3})?d|\d{1,3}(\.\d{1,3})?w"
    rf"|P(\d{{1,3}}W(\d{{1,3}}D)?({_ISO_TIME})?|\d{{1,4}}D({_ISO_TIME})?|{_ISO_TIME}))$"
)
#: The longest single move: a demo or a test never needs more, and far beyond it a date overflows.
MAX_ADVANCE = timedelta(days=366 * 30)
#: The years ``set`` may name (2000–2049), as the schema says it.
SET_YEAR_PATTERN = r"^20[0-4][0-9]-"
SET_YEARS = range(2000, 2050)


class ClockMove(BaseModel):
    """Set the shared clock to an instant, or advance it by a duration or a number of working days
    (exactly one of the three)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_schema)

    set: datetime | None = Field(
        default=None,
        description="目标时间 (ISO 8601, e.g. 2020-05-08T09:00:00+08:00)，2000–2049 年之间",
        # A move is settled by every service scanning up to it: a jump of a century and more (2169) did not
        # settle in the request's time. The years the demo, the tests and the simulation use, as a bound a
        # client can read from the schema.
        json_schema_extra={"pattern": SET_YEAR_PATTERN},
    )
    advance: str | None = Field(
        default=None,
        description="前进时长, e.g. 3d, 8h, P1DT2H",
        pattern=_DURATION_PATTERN,
    )
    working_days: int | None = Field(default=None, ge=1, le=400, description="前进若干个工作日（同一时刻）")

    @model_validator(mode="after")
    def _exactly_one(self) -> "ClockMove":
        given = self.model_fields_set
        if len(given) != 1 or getattr(self, next(iter(given))) is None:
            raise PydanticCustomError(
                "clock_move_one_of", "set、advance、working_days 须且只能给出其中一个（不可为 null）"
            )
        if self.set is not None and self.set.tzinfo is None:
            raise PydanticCustomError("clock_set_offset_required", "set 须带时区偏移，如 +08:00")
        if self.set is not None and self.set.year not in SET_YEARS:
            raise PydanticCustomError("clock_set_out_of_range", "set 须在 2000–2049 年之间")
        if self.advance is not None and parse_duration(self.advance) > MAX_ADVANCE:
            raise PydanticCustomError("clock_advance_too_long", "advance 一次最多前进 30 年")
        return self


class ClockState(BaseModel):
    now: Instant
    rounds: int = 0
    activity: dict[str, int] = Field(default_factory=dict)


class ClockNotForward(DomainError):
    status = 409
    code = "clock_not_forward"
    title = "共享时钟只能向前移动"


class ClockOutOfRange(DomainError):
    status = 409
    code = "clock_out_of_range"
    title = "模拟时钟已接近可表示的最晚时间，无法再前进这么多"


class ClockNotSettled(DomainError):
    status = 503
    code = "clock_not_settled"
    title = "时钟已移动，但有服务未在时限内完成扫描"


def target_time(platform: Platform, move: ClockMove) -> datetime:
    now = platform.clock.now()
    if move.set is not None:
        return move.set.astimezone(TZ)
    if move.advance is not None:
        return now + parse_duration(move.advance)
    assert move.working_days is not None
    day = platform.calendar.add_working_days(now.date(), move.working_days)
    return datetime.combine(day, now.timetz())


#: Moving the shared clock is for the people who run the demo or the tests.
Operator = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MAJOR_PROJECTS_OFFICE))]


def dev_clock_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/dev", tags=["dev"])

    @router.get("/clock", response_model=ClockState, summary="模拟时钟当前时间 Current simulated time")
    async def get_clock(request: Request, _: Operator) -> ClockState:
        return ClockState(now=request.app.state.platform.clock.now())

    @router.post(
        "/clock",
        response_model=ClockState,
        summary="移动模拟时钟并等待所有服务完成扫描 Move the clock, wait until all settled",
    )
    async def move_clock(request: Request, move: ClockMove, _: Operator) -> ClockState:
        platform: Platform = request.app.state.platform
        try:
            target = target_time(platform, move)
        except OverflowError as exc:  # a clock set near year 9999, then moved on
            raise ClockOutOfRange(f"模拟时钟无法再前进：{exc}") from exc
        except ValueError as exc:
            raise DomainError(f"无法计算目标时间：{exc}") from exc
        try:
            nc, js = platform.connected()
            report = await shared_time.move_clock(nc, js, platform.names, target)
        except shared_time.SettleError as exc:
            if "only moves forward" in str(exc):
                now = platform.clock.now().isoformat()
                raise ClockNotForward(f"共享时钟只能向前移动，当前为 {now}") from exc
            raise ClockNotSettled(f"时钟已移动，但有服务未在时限内完成扫描（{exc}）") from exc
        return ClockState(now=report.now, rounds=report.rounds, activity=report.activity)

    return router
