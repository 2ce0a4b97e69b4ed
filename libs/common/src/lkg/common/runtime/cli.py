"""``lkg``: run, migrate, seed, mint tokens, move the clock, load calendars, handle dead letters, replay;
plus the commands installed services add (``lkg import`` of the registry).

Where the servers are: ``DATABASE_URL`` / ``NATS_URL`` (and ``LKG_NATS_PREFIX``) from the environment, else
the embedded servers that ``lkg run`` started under the data directory (it writes ``runtime.json`` there).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from lkg.common.clock import TZ, parse_duration, wall_clock_utc
from lkg.common.db import migrate as migrate_database
from lkg.common.events.bus import Names, connect, ensure_streams
from lkg.common.events.permissions import PLATFORM
from lkg.common.log import configure_logging, get_logger
from lkg.common.runtime.data_secrets import read_deployment_secrets
from lkg.common.runtime.deployments import (
    DEFAULT_DATA_DIR,
    DataDir,
    Endpoints,
    announce,
    located,
    runtime_file,
)
from lkg.common.runtime.deployments import database_url_of as _database_url
from lkg.common.runtime.deployments import endpoints_of as _endpoints
from lkg.common.runtime.deployments import service_url as _service_url
from lkg.common.runtime.deployments import specs_for as _specs
from lkg.common.settings import PLACEHOLDER_SECRET, ServiceSettings
from lkg.common.simulate.command import simulate as simulate_command

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from lkg.common.runtime.service import ServiceSpec

T = TypeVar("T")

app = typer.Typer(
    help="LKG 临空港重大产业项目落地建设在线 — operator and developer commands.", no_args_is_help=True
)
clock_app = typer.Typer(help="The shared simulated clock (dev, tests, demos).", no_args_is_help=True)
calendar_app = typer.Typer(help="Official working-day calendars.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: events a consumer could not apply.", no_args_is_help=True)
app.add_typer(clock_app, name="clock")
app.add_typer(calendar_app, name="calendar")
app.add_typer(dlq_app, name="dead-letters")

app.command("simulate")(simulate_command)  # months of the district's life over HTTP (docs/simulate.md)
console = Console()
err_console = Console(stderr=True)

Target = Annotated[list[str] | None, typer.Option("--target", "-t", help="Service(s); default: all.")]
DemoPortfolio = Annotated[
    bool,
    typer.Option(
        "--demo-portfolio/--no-demo-portfolio",
        envvar="LKG_SEED_DEMO_PORTFOLIO",
        help="Seed the 245 【演示】 projects too (no: the directory and the demo accounts only).",
    ),
]


def _demo_portfolio(seeded: bool) -> None:
    """The registry's seed reads ``LKG_SEED_DEMO_PORTFOLIO`` from its settings, like every setting."""
    os.environ["LKG_SEED_DEMO_PORTFOLIO"] = "true" if seeded else "false"


# ---- run ------------------------------------------------------------------------------------------


@app.command()
def run(
    target: Target = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    seed_demo: Annotated[bool, typer.Option("--seed/--no-seed", help="Seed the demo data once.")] = True,
    demo_portfolio: DemoPortfolio = True,
) -> None:
    """Start services. Without DATABASE_URL/NATS_URL: the embedded default (PostgreSQL + NATS from wheels,
    simulated clock from 2020-05-01 09:00), all five services in one process on one port."""
    _demo_portfolio(demo_portfolio)
    asyncio.run(_run(target, data_dir, host, port, seed_demo))


async def _run(target: Sequence[str] | None, data_dir: Path, host: str, port: int, seed_demo: bool) -> None:
    import uvicorn

    from lkg.common.runtime.app import build_app, one_process_settings, settings_for

    specs = _specs(target)
    # Serve at once: /healthz answers while NATS is still awaited, and a signal stops the process.
    env = ServiceSettings(start_in_background=True)
    _configure_logging(env)
    stack = None
    note = None
    if env.database_url and env.nats_url:
        base = env
        _refuse_placeholder_beyond_loopback(base, host)
        if len(specs) == 1:
            per_service = {specs[0].name: settings_for(specs[0], base)}
        else:
            per_service = one_process_settings(specs, base, env.database_url)
    else:
        from lkg.common.runtime.embedded import EmbeddedStack

        data_dir.mkdir(parents=True, exist_ok=True)
        stack = EmbeddedStack(data_dir, secured=True, prefix=env.nats_prefix)
        secrets = stack.secrets
        assert secrets is not None
        # The embedded default is a demo: simulated time from the day the policy was issued (2020-05-01).
        overrides: dict[str, Any] = {
            "nats_user": PLATFORM,
            "nats_password": secrets["nats"][PLATFORM],
            "start_in_background": True,
        }
        if "LKG_CLOCK" not in os.environ:
            overrides["clock"] = "simulated"
        if "LKG_JWT_SECRET" not in os.environ:  # the deployment's own, never the repository's placeholder
            overrides["jwt_secret"] = secrets["jwt_secret"]
        _refuse_placeholder_beyond_loopback(ServiceSettings(**overrides), host)
        urls = stack.start()
        base = ServiceSettings(**overrides, database_url=urls.database_url, nats_url=urls.nats_url)
        per_service = {
            name: settings.model_copy(
                update={"nats_user": name, "nats_password": SecretStr(secrets["nats"][name])}
            )
            for name, settings in one_process_settings(specs, base, urls.database_url).items()
        }
        runtime_file(data_dir).write_text(
            json.dumps(
                {
                    "database_url": urls.database_url,
                    "nats_url": urls.nats_url,
                    "prefix": base.nats_prefix,
                    "http": f"http://{host}:{port}",
                },
                indent=2,
            )
        )
        note = announce(data_dir, f"http://{host}:{port}")
    try:
        async with _database_reachable():
            for spec in specs:
                await migrate_database(spec.migrations, _database_url(per_service[spec.name]))
            if seed_demo and stack is not None:
                await _seed(specs, per_service)
        application = build_app(specs, base, per_service)
        console.print(
            f"[bold]LKG[/] {', '.join(s.name for s in specs)} on http://{host}:{port}/docs "
            f"(clock: {base.clock})"
        )
        server = uvicorn.Server(server_config(application, host, port))
        await server.serve()
    finally:
        if stack is not None:
            runtime_file(data_dir).unlink(missing_ok=True)
            if note is not None:
                note.unlink(missing_ok=True)
            stack.stop()


def _configure_logging(settings: ServiceSettings) -> None:
    configure_logging(settings.log_level, settings.log_json)
    # Alembic names each of its plugins at INFO on every start: noise, not news.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


@contextlib.asynccontextmanager
async def _database_reachable() -> AsyncIterator[None]:
    """A PostgreSQL that cannot be reached (refused, unknown host, wrong password, timed out) ends the
    command with one JSON log line and exit status 1, not a traceback: the supervisor (Kubernetes, a
    shell) starts it again."""
    import asyncpg

    try:
        yield
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        get_logger("lkg.cli").error(
            "lkg.start_failed", dependency="postgresql", error=f"{type(exc).__name__}: {exc}"
        )
        raise typer.Exit(1) from None


def _refuse_placeholder_beyond_loopback(settings: ServiceSettings, host: str) -> None:
    """Anyone who can reach a deployment could mint tokens with the placeholder secret of the repository:
    listening beyond this machine, it needs a real ``LKG_JWT_SECRET`` (or an identity provider)."""
    if settings.jwt_jwks_url is not None or settings.jwt_secret.get_secret_value() != PLACEHOLDER_SECRET:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise typer.BadParameter(
            f"--host {host} listens beyond this machine, and LKG_JWT_SECRET is the development placeholder "
            "of the repository: anyone could sign a token with it. Set LKG_JWT_SECRET (32 or more random "
            "characters) or LKG_JWT_JWKS_URL, or listen on 127.0.0.1"
        )


def server_config(application: FastAPI, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for an LKG app: our own access lines (no uvicorn ones), the app's lifespan,
    and no ``server: uvicorn`` header (it tells a caller which server and version to aim at)."""
    import uvicorn

    return uvicorn.Config(
        application,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )


async def _seed(specs: Sequence[ServiceSpec[Any]], per_service: Mapping[str, ServiceSettings]) -> None:
    from lkg.common.db import Database
    from lkg.common.runtime.service import discover_specs, unnamed_units

    # Every installed service's seed data against the directory document, before anything is seeded: a
    # catalogue item naming a unit the directory lacks would otherwise get a placeholder unit.
    missing = unnamed_units(list(discover_specs().values()))
    if missing:
        for line in missing:
            console.print(f"[red]seed refused: the org directory document has no such unit:[/] {line}")
        raise typer.Exit(1)
    for spec in specs:
        if spec.seed is None:
            continue
        db = Database(_database_url(per_service[spec.name]), pool_size=2)
        try:
            created = await spec.seed(db)
        finally:
            await db.dispose()
        if created:
            console.print(f"seeded {spec.name}: {created}")


@app.command()
def migrate(target: Target = None, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Apply each service's Alembic migrations (creating its database if missing)."""
    _configure_logging(ServiceSettings())
    endpoints = _endpoints(data_dir)
    specs = _specs(target)

    async def go() -> None:
        async with _database_reachable():
            for spec in specs:
                await migrate_database(spec.migrations, _service_url(endpoints, spec.name, len(specs) > 1))
                console.print(f"migrated {spec.name}")

    asyncio.run(go())


@app.command()
def seed(
    target: Target = None, data_dir: DataDir = DEFAULT_DATA_DIR, demo_portfolio: DemoPortfolio = True
) -> None:
    """Seed the demo data (idempotent: seeds nothing twice)."""
    _demo_portfolio(demo_portfolio)
    endpoints = _endpoints(data_dir)
    specs = _specs(target)

    async def go() -> None:
        settings = {
            s.name: ServiceSettings(database_url=_service_url(endpoints, s.name, len(specs) > 1))
            for s in specs
        }
        await _seed(specs, settings)

    asyncio.run(go())


# ---- tokens ---------------------------------------------------------------------------------------


@app.command()
def token(
    person: Annotated[str | None, typer.Option(help="Person id (subject).")] = None,
    client: Annotated[str | None, typer.Option(help="Client system id, instead of a person.")] = None,
    role: Annotated[list[str] | None, typer.Option("--role", "-r", help="Role (repeatable).")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Client scope (repeatable).")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 8h, 30d.")] = "8h",
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Mint a development token: HS256 with the embedded deployment's own secret (under its --data-dir),
    or LKG_JWT_SECRET when set. Refused in production settings."""
    from lkg.common.auth import Role, mint_token

    settings = ServiceSettings()
    if "LKG_JWT_SECRET" not in os.environ:
        secrets = read_deployment_secrets(located(data_dir))
        if secrets is not None:
            settings = settings.model_copy(update={"jwt_secret": SecretStr(secrets["jwt_secret"])})
    if settings.is_production:
        raise typer.BadParameter("development tokens cannot be minted with LKG_ENV=production")
    if (person is None) == (client is None):
        raise typer.BadParameter("give exactly one of --person or --client")
    roles = [Role(r) for r in (role or [])]
    console.print(
        mint_token(
            settings,
            person=person,
            client=client,
            roles=roles,
            scopes=scope or [],
            name=name,
            ttl_seconds=int(parse_duration(ttl).total_seconds()),
            now=wall_clock_utc(),
        ),
        soft_wrap=True,
    )


# ---- clock ----------------------------------------------------------------------------------------


async def _with_nats(endpoints: Endpoints, fn: Callable[[NATS, JetStreamContext, Names], Awaitable[T]]) -> T:
    nc = await connect(endpoints.nats_url, name="lkg-cli", credentials=endpoints.credentials)
    try:
        js = nc.jetstream()
        names = Names(endpoints.prefix)
        await ensure_streams(js, names)
        return await fn(nc, js, names)
    finally:
        await nc.close()


@clock_app.command("show")
def clock_show(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Print the shared simulated time."""
    from lkg.common.runtime import shared_time

    async def go(nc: NATS, js: JetStreamContext, names: Names) -> datetime | None:
        return await shared_time.read_now(await shared_time.clock_bucket(js, names))

    now = asyncio.run(_with_nats(_endpoints(data_dir), go))
    console.print(now.isoformat() if now else "the shared clock is not set (system time)")


def _move(data_dir: Path, compute: Callable[[datetime], datetime]) -> None:
    from lkg.common.runtime import shared_time

    async def go(nc: NATS, js: JetStreamContext, names: Names) -> shared_time.SettleReport:
        now = await shared_time.read_now(await shared_time.clock_bucket(js, names))
        if now is None:
            raise typer.BadParameter("no simulated clock in this deployment")
        return await shared_time.move_clock(nc, js, names, compute(now))

    try:
        report = asyncio.run(_with_nats(_endpoints(data_dir), go))
    except shared_time.SettleError as exc:
        console.print(f"[red]clock not moved or not settled:[/] {exc}")
        raise typer.Exit(1) from None
    console.print_json(json.dumps(report.as_dict(), ensure_ascii=False))


@clock_app.command("set")
def clock_set(
    when: Annotated[str, typer.Argument(help="ISO 8601, e.g. 2020-05-08T09:00+08:00")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Set the shared time (forward only) and wait until every service has settled."""
    target = datetime.fromisoformat(when)
    if target.tzinfo is None:
        target = target.replace(tzinfo=TZ)
    _move(data_dir, lambda _now: target)


@clock_app.command("advance")
def clock_advance(
    by: Annotated[str | None, typer.Argument(help="Duration: 3d, 8h, P1DT2H")] = None,
    working_days: Annotated[
        int | None, typer.Option("--working-days", help="Advance N working days.")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Advance the shared time and wait until every service has settled."""
    if (by is None) == (working_days is None):
        raise typer.BadParameter("give a duration or --working-days")
    if by is not None:
        delta = parse_duration(by)
        _move(data_dir, lambda now: now + delta)
        return
    from lkg.common.calendar import WorkingCalendar

    calendar = WorkingCalendar()
    days = working_days or 0  # given: checked above
    _move(data_dir, lambda now: datetime.combine(calendar.add_working_days(now.date(), days), now.timetz()))


# ---- calendar -------------------------------------------------------------------------------------


@calendar_app.command("load")
def calendar_load(
    path: Annotated[Path, typer.Argument(exists=True, readable=True)], data_dir: DataDir = DEFAULT_DATA_DIR
) -> None:
    """Load an official year schedule (JSON); every service recomputes provisional deadlines."""
    from lkg.common.calendar import YearSchedule
    from lkg.common.runtime import shared_time

    schedule = YearSchedule.model_validate_json(path.read_text())

    async def go(nc: NATS, js: JetStreamContext, names: Names) -> None:
        kv = await shared_time.calendar_bucket(js, names)
        await kv.put(f"year.{schedule.year}", schedule.model_dump_json().encode())

    asyncio.run(_with_nats(_endpoints(data_dir), go))
    console.print(
        f"loaded {schedule.year}: {len(schedule.holidays)} holidays, {len(schedule.workdays)} "
        f"make-up working days ({schedule.source})"
    )


@calendar_app.command("show")
def calendar_show(year: int, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Working days per month of a year, and whether the year is official or provisional.

    Uses the schedules loaded into the deployment when it is reachable, else only the packaged calendar.
    """
    from datetime import date

    from lkg.common.calendar import WorkingCalendar, YearSchedule
    from lkg.common.runtime import shared_time

    calendar = WorkingCalendar()

    async def loaded(nc: NATS, js: JetStreamContext, names: Names) -> list[YearSchedule]:
        kv = await shared_time.calendar_bucket(js, names)
        keys = await shared_time.bucket_keys(kv)
        return [YearSchedule.model_validate_json((await kv.get(k)).value or b"") for k in keys]

    try:
        for schedule in asyncio.run(_with_nats(_endpoints(data_dir), loaded)):
            calendar.load(schedule)
    except typer.BadParameter:
        console.print("(no deployment reachable: packaged calendar only)")
    table = Table(
        title=f"{year} ({'provisional' if calendar.is_provisional(date(year, 1, 1)) else 'official'})"
    )
    table.add_column("month")
    table.add_column("working days")
    for month in range(1, 13):
        start = date(year, month, 1)
        end = date(year + (month == 12), month % 12 + 1, 1)
        table.add_row(
            str(month), str(calendar.working_days_between(start - timedelta(days=1), end - timedelta(days=1)))
        )
    console.print(table)


# ---- dead letters and replay ----------------------------------------------------------------------


@dlq_app.command("list")
def dead_letters_list(
    service: Annotated[str | None, typer.Option(help="Only this consumer.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List dead letters with their reason."""
    from lkg.common.events import operations

    letters = asyncio.run(
        _with_nats(
            _endpoints(data_dir),
            lambda nc, js, names: operations.list_dead_letters(js, names, consumer=service),
        )
    )
    table = Table("seq", "consumer", "subject", "deliveries", "reason")
    for letter in letters:
        table.add_row(str(letter.seq), letter.consumer, letter.subject, str(letter.deliveries), letter.reason)
    console.print(table)


@dlq_app.command("replay")
def dead_letters_replay(
    seq: Annotated[list[int] | None, typer.Argument(help="Dead-letter sequence numbers; none = all.")] = None,
    service: Annotated[str | None, typer.Option(help="Only this consumer's.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Send dead letters back to their consumer (its inbox still skips what it already applied)."""
    from lkg.common.events import operations

    count = asyncio.run(
        _with_nats(
            _endpoints(data_dir),
            lambda nc, js, names: operations.replay_dead_letters(js, names, seqs=seq, consumer=service),
        )
    )
    console.print(f"replayed {count} dead letter(s)")


@app.command()
def replay(
    service: Annotated[str, typer.Argument(help="The consuming service whose read copies to rebuild.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Rebuild a service's read copies from the streams: empty them and its inbox, replay from the start.

    Safe while the service runs: its consumer re-binds, and snapshots apply only when newer.
    """
    from lkg.common.events import operations

    spec = _specs([service])[0]
    endpoints = _endpoints(data_dir)
    url = _service_url(endpoints, spec.name, targets_all=endpoints.embedded)
    count = asyncio.run(
        _with_nats(endpoints, lambda nc, js, names: operations.rebuild_read_copies(spec, url, nc, js, names))
    )
    console.print(f"{spec.name}: read copies emptied; {count} event(s) queued for replay")


# ---- commands of the services -----------------------------------------------------------------------


def _mount_service_commands() -> None:
    """An installed service adds its own commands by exporting a typer app as ``lkg.<service>.cli:app``
    (e.g. the registry's ``lkg import``). Services are found by their ``lkg.services`` entry points, by
    name only: nothing of a service is imported unless it has such a module."""
    import importlib
    import importlib.util
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group="lkg.services"), key=lambda e: e.name):
        module = f"lkg.{entry.name}.cli"
        if importlib.util.find_spec(module) is not None:
            app.add_typer(importlib.import_module(module).app)


_mount_service_commands()


def main() -> None:
    app()
