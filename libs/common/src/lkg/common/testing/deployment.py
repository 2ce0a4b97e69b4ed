"""The whole system as Kubernetes runs it, for tests: each service its own process (``lkg run --target``),
over a PostgreSQL and a NATS server of the test's own (the embedded wheels), so a test can SIGKILL any one
of them in the middle of a story and start it again.

:class:`Deployment` starts the servers under a directory of the test (never the machine's PostgreSQL on
5432 or NATS on 4222: PostgreSQL listens on a Unix socket only, NATS on free loopback ports), applies each
service's migrations, lets the test write its own data (``prepare``), then starts the five processes and
waits for each one's ``/readyz``. Its :meth:`~Deployment.client` routes each request to the process that
owns the path, as the ingress does (``deploy/base/ingress.yaml``), learnt from each process's own
``/openapi.json``. Everything it started is stopped when the ``async with`` ends, even on failure, and a
killed test process leaves nothing running either (:data:`lkg.common.runtime.processes.REAPER`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from lkg.common.auth import Role, mint_token
from lkg.common.clock import wall_clock_utc
from lkg.common.db import migrate, with_database
from lkg.common.runtime.app import database_name
from lkg.common.runtime.embedded import RESERVED_PORTS, EmbeddedNats, EmbeddedPostgres
from lkg.common.runtime.processes import REAPER, STOP_TIMEOUT, stop_process
from lkg.common.runtime.service import discover_specs
from lkg.common.settings import ServiceSettings
from lkg.common.testing.waiting import eventually

SERVICES = ("registry", "approvals", "issues", "scoring", "notifier")
SERVERS = ("postgres", "nats")

#: Test data is thrown away, but a killed server must lose nothing it acknowledged: ``synchronous_commit``
#: stays on (with it off a commit is acknowledged before its WAL leaves PostgreSQL's own memory, which a
#: SIGKILL loses). ``fsync`` off only matters when the machine itself crashes.
POSTGRES_SETTINGS = {"fsync": "off", "full_page_writes": "off", "max_connections": "200"}

#: Seconds a process gets to answer ``/readyz`` after it starts (five start at once on a shared machine).
READY_TIMEOUT = 120.0

Prepare = Callable[[Mapping[str, str]], Awaitable[None]]


def _free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def _lkg() -> str:
    """The ``lkg`` command of this environment."""
    return str(Path(sys.executable).with_name("lkg"))


class ServiceProcess:
    """One service in its own process and session (a signal meant for it reaches nothing else)."""

    def __init__(self, name: str, env: Mapping[str, str], log: Path, port: int | None = None) -> None:
        self.name = name
        self.port = port or _free_port()
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [_lkg(), "run", "--target", self.name, "--port", str(self.port), "--no-seed"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        REAPER.watch(self, self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: no shutdown code of the service runs (a node lost, the OOM killer)."""
        process = self.process
        if process is None:
            return
        self.process = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)
        REAPER.forget(self, process.pid)

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; SIGKILL if it does not end in time. Idempotent."""
        process = self.process
        if process is None:
            return
        self.process = None
        try:
            stop_process(process, group=True)
        finally:
            REAPER.forget(self, process.pid)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Ingress(httpx.AsyncBaseTransport):
    """Sends each request to the process that serves its path (longest prefix of whole segments)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        process = self.deployment.processes[self.deployment.owner(request.url.path)]
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=process.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Deployment:
    """PostgreSQL, NATS and the five services, each its own process, under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        prepare: Prepare | None = None,
        env: Mapping[str, str] | None = None,
        services: Sequence[str] = SERVICES,
    ) -> None:
        self.root = Path(root).resolve()
        self.prepare = prepare
        self.extra_env = dict(env or {})
        self.services = tuple(services)
        self.prefix = f"sys{secrets.token_hex(3)}"
        self.settings = ServiceSettings(jwt_secret=secrets.token_urlsafe(32), clock="simulated", env="test")
        self.postgres = EmbeddedPostgres(self.root / "postgres", settings=POSTGRES_SETTINGS)
        self.nats = EmbeddedNats(self.root / "nats")
        self.processes: dict[str, ServiceProcess] = {}
        self.database_urls: dict[str, str] = {}
        self._routes: list[tuple[str, str]] = []

    # ---- start and stop -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        server_url = await asyncio.to_thread(self.postgres.start)
        nats_url = await asyncio.to_thread(self.nats.start)
        specs = discover_specs()
        for name in self.services:
            url = with_database(server_url, database_name(name))
            self.database_urls[name] = url
            await migrate(specs[name].migrations, url)  # creates the database, as `lkg run` would
        if self.prepare is not None:
            await self.prepare(self.database_urls)
        for name in self.services:
            self.processes[name] = ServiceProcess(name, self._env(name, nats_url), self.root / f"{name}.log")
        for process in self.processes.values():
            process.start()
        await self.ready()
        await self._learn_routes()

    def _env(self, name: str, nats_url: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LKG_") and k not in ("DATABASE_URL", "NATS_URL")
        }
        env.update(
            DATABASE_URL=self.database_urls[name],
            NATS_URL=nats_url,
            LKG_NATS_PREFIX=self.prefix,
            LKG_CLOCK="simulated",
            LKG_ENV="test",
            LKG_JWT_SECRET=self.settings.jwt_secret.get_secret_value(),
            LKG_LOG_LEVEL="WARNING",
            XDG_STATE_HOME=str(self.root / "state"),
            **self.extra_env,
        )
        return env

    async def stop(self) -> None:
        """Services first (SIGTERM, as a rollout does), then NATS, then PostgreSQL."""
        for process in self.processes.values():
            await asyncio.to_thread(process.stop)
        await asyncio.to_thread(self.nats.stop)
        await asyncio.to_thread(self.postgres.stop)

    async def ready(self, names: Sequence[str] | None = None, timeout: float = READY_TIMEOUT) -> None:
        """Until each process answers ``/readyz`` with 200 (its database, migrations and NATS are up)."""
        async with httpx.AsyncClient(timeout=5) as client:
            for name in names or list(self.processes):
                await eventually(
                    # mypy cannot solve eventually's T from ``T | Awaitable[T]`` for a coroutine function
                    functools.partial(_answers, client, self.processes[name]),  # type: ignore[arg-type]
                    timeout=timeout,
                    interval=0.2,
                    what=f"{name} ready",
                )

    async def _learn_routes(self) -> None:
        routes: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=10) as client:
            for name, process in self.processes.items():
                document = (await client.get(f"{process.base_url}/openapi.json")).json()
                for path in document.get("paths", {}):
                    prefix = path.split("/{", 1)[0]
                    routes.setdefault(prefix, name)
        self._routes = sorted(routes.items(), key=lambda item: -len(item[0]))

    def owner(self, path: str) -> str:
        """The service that serves ``path`` (the longest matching prefix of whole segments)."""
        for prefix, name in self._routes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return name
        return self.services[0]

    # ---- faults ---------------------------------------------------------------------------------------

    def kill(self, target: str) -> None:
        """SIGKILL ``target``: a service, ``nats`` or ``postgres`` (the postmaster and its backends)."""
        if target == "nats":
            pid = self.nats.pid
            assert pid is not None, "NATS is not running"
            os.kill(pid, signal.SIGKILL)
            _wait_gone([pid])
        elif target == "postgres":
            import psutil

            pid = self.postgres.pid
            assert pid is not None, "PostgreSQL is not running"
            postmaster = psutil.Process(pid)
            family = [postmaster, *postmaster.children(recursive=True)]
            for member in family:
                with contextlib.suppress(psutil.Error):
                    member.kill()
            _wait_gone([p.pid for p in family])
        else:
            self.processes[target].kill()

    async def restart(self, target: str) -> None:
        """Start ``target`` again on the same data, then wait until every service is ready."""
        if target == "nats":
            await asyncio.to_thread(self.nats.stop)  # forgets the dead process
            await asyncio.to_thread(self.nats.start)  # the same ports (ports.json)
        elif target == "postgres":
            await asyncio.to_thread(self.postgres.stop)
            await asyncio.to_thread(self.postgres.start)  # crash recovery; the same socket directory
        else:
            process = self.processes[target]
            # The same port: the ingress keeps sending the service's paths there.
            self.processes[target] = ServiceProcess(target, process.env, process.log, process.port)
            self.processes[target].start()
        await self.ready()

    # ---- acting on it -----------------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client on the deployment's one address, as its users see it."""
        kwargs.setdefault("timeout", 180.0)
        return httpx.AsyncClient(transport=Ingress(self), base_url="http://lkg.test", **kwargs)

    def token(self, *roles: Role, person: str = "tester") -> str:
        return mint_token(
            self.settings,
            person=person,
            client=None,
            roles=list(roles),
            scopes=[],
            name="测试用户",
            ttl_seconds=3600,
            now=wall_clock_utc(),
        )

    def auth(self, *roles: Role, person: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, person=person)}"}


async def _answers(client: httpx.AsyncClient, process: ServiceProcess) -> bool:
    if process.process is None or process.process.poll() is not None:
        raise RuntimeError(f"{process.name} is not running:\n{process.tail()}")
    try:
        response = await client.get(f"{process.base_url}/readyz")
    except httpx.HTTPError as exc:
        raise AssertionError(f"{process.name} not answering yet: {exc!r}") from exc
    assert response.status_code == 200, (process.name, response.text)
    return True


def _wait_gone(pids: Sequence[int]) -> None:
    import psutil

    processes = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            processes.append(psutil.Process(pid))
    psutil.wait_procs(processes, timeout=STOP_TIMEOUT)
