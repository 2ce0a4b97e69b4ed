"""pytest plugin: real PostgreSQL and NATS JetStream for every test, never mocks of them.

Where the servers come from, in this order:

1. URLs from the environment, ``LKG_TEST_DATABASE_URL`` and ``LKG_TEST_NATS_URL`` (CI, a developer's own
   servers, the machine's shared PostgreSQL and NATS);
2. testcontainers, when it is installed and a Docker engine answers (never on this project's build
   machine, so this path stays small);
3. the embedded wheels (:mod:`lkg.common.runtime.embedded`), one stack per test session in a temporary
   directory, stopped at the end.

Each source is decided per server, so a run may take PostgreSQL from the environment and NATS embedded.
Servers start lazily, when a test first asks for them.

Isolation is by name, not by rolled-back transaction, because the outbox relay and the consumers see only
committed rows: every run has an id; databases are ``tpl_<run>_<key>`` (a migrated template) and
``t_<run>_...`` (its clones, or empty ones), dropped at the end; NATS streams, buckets and subjects carry
the ``nats_prefix`` of the run (``t<run>``), and streams named with it are deleted at the end. Two CI runs
sharing one server never meet.

Enable it with ``pytest_plugins = ["lkg.common.testing.infra"]`` in the root ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import pytest_asyncio
from nats.js import JetStreamContext

from lkg.common.db import asyncpg_dsn, with_database
from lkg.common.runtime.embedded import EmbeddedStack

ENV_DATABASE_URL = "LKG_TEST_DATABASE_URL"
ENV_NATS_URL = "LKG_TEST_NATS_URL"


def pytest_configure(config: pytest.Config) -> None:
    # One test process builds many apps: none may freeze its heap (ServiceSettings.gc_freeze_after_start),
    # or every earlier app's cyclic garbage would stay for the rest of the session. Subprocesses a test
    # starts (``lkg run``) inherit it; they are short-lived.
    os.environ.setdefault("LKG_GC_FREEZE_AFTER_START", "false")


#: Test data is thrown away, so the embedded PostgreSQL trades durability for speed: with ``wal_level``
#: minimal a CREATE DATABASE from a template takes ~0.05 s instead of ~0.3 s (PostgreSQL 18, measured).
#: Every service of a scenario test holds a connection pool, hence more connections than the default 100.
TEST_POSTGRES_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "400",
}

Source = Literal["env", "docker", "embedded"]

#: PostgreSQL truncates identifiers longer than this; our names must stay distinct.
_MAX_IDENTIFIER = 63


def choose_source(env_value: str | None, docker_answers: Callable[[], bool]) -> Source:
    """The environment wins; then a Docker engine (asked only when needed); then the embedded wheels."""
    if env_value:
        return "env"
    if docker_answers():
        return "docker"
    return "embedded"


@functools.cache
def docker_engine_answers() -> bool:
    """True when testcontainers is importable and a Docker engine answers within 3 seconds."""
    if importlib.util.find_spec("testcontainers") is None:
        return False
    docker = shutil.which("docker")
    if docker is not None:
        try:
            done = subprocess.run(
                [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=3
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0
    socket_path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(socket_path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


class _Servers:
    """The session's servers, started on first use and all stopped at the end."""

    def __init__(self) -> None:
        self._stack: EmbeddedStack | None = None
        self._stack_dir: Path | None = None
        self._containers: list[Any] = []
        self.sources: dict[str, Source] = {}

    def postgres_url(self) -> str:
        env_value = os.environ.get(ENV_DATABASE_URL)
        source = self.sources["postgres"] = choose_source(env_value, docker_engine_answers)
        if source == "env":
            assert env_value is not None
            return env_value
        if source == "docker":
            from testcontainers.postgres import PostgresContainer

            container = PostgresContainer("postgres:17-alpine", username="postgres", driver=None)
            self._containers.append(container.start())
            return container.get_connection_url()
        return self._embedded().start_postgres()

    def nats_url(self) -> str:
        env_value = os.environ.get(ENV_NATS_URL)
        source = self.sources["nats"] = choose_source(env_value, docker_engine_answers)
        if source == "env":
            assert env_value is not None
            return env_value
        if source == "docker":
            from testcontainers.nats import NatsContainer

            container = NatsContainer("nats:2.11-alpine").with_command("-js")
            self._containers.append(container.start())
            return container.get_conn_string()
        return self._embedded().start_nats()

    def _embedded(self) -> EmbeddedStack:
        if self._stack is None:
            # Not under pytest's basetemp: pytest resets its permissions to 0700 on every run, while the
            # embedded PostgreSQL (run as its own system user when we are root) must traverse the path.
            self._stack_dir = Path(tempfile.mkdtemp(prefix="lkg-test-"))
            self._stack = EmbeddedStack(self._stack_dir, postgres_settings=TEST_POSTGRES_SETTINGS)
        return self._stack

    def close(self) -> None:
        for container in reversed(self._containers):
            with contextlib.suppress(Exception):
                container.stop()
        if self._stack is not None:
            self._stack.stop()
        if self._stack_dir is not None:
            shutil.rmtree(self._stack_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def lkg_servers() -> Iterator[_Servers]:
    servers = _Servers()
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def lkg_run_id() -> str:
    """Eight hex digits naming this run's databases and NATS objects on possibly shared servers."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def pg_base_url(lkg_servers: _Servers) -> str:
    """URL of a PostgreSQL server's maintenance database; tests get their own databases from it."""
    return lkg_servers.postgres_url()


@pytest.fixture(scope="session")
def nats_url(lkg_servers: _Servers) -> str:
    """URL of a NATS server with JetStream; pair it with ``nats_prefix``."""
    return lkg_servers.nats_url()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def nats_prefix(nats_url: str, lkg_run_id: str) -> AsyncIterator[str]:
    """Prefix of every stream, bucket and subject this run creates; its streams are deleted at the end."""
    prefix = f"t{lkg_run_id}"
    yield prefix
    try:
        await delete_streams_with_prefix(nats_url, prefix)
    except Exception as error:  # a leftover stream must not fail the run it belongs to
        warnings.warn(f"could not delete streams of {prefix}: {error!r}", stacklevel=1)


async def all_streams(jetstream: JetStreamContext) -> list:
    """Every stream's info: the server answers in pages (256 per page), so a shared server with many
    streams would otherwise hide some."""
    streams: list = []
    while True:
        page = await jetstream.streams_info(offset=len(streams))
        streams.extend(page)
        if not page:
            return streams


async def delete_streams_with_prefix(url: str, prefix: str) -> list[str]:
    """Delete the streams named with ``prefix``, key-value (``KV_``) and object (``OBJ_``) stores included."""
    import nats

    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        jetstream = client.jetstream()
        deleted = []
        for info in await all_streams(jetstream):
            name = info.config.name or ""
            bare = name.removeprefix("KV_").removeprefix("OBJ_")
            if bare.lower().startswith(prefix.lower()):
                await jetstream.delete_stream(name)
                deleted.append(name)
        return deleted
    finally:
        await client.close()


# ---- Databases ----------------------------------------------------------------------------------

Migrate = Callable[[str], Awaitable[None]]


def _identifier_part(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "db"


class DatabaseFactory:
    """Databases for one test run on one server: migrated templates, their clones, empty ones.

    Migrations run once per template key; every later database is a ``CREATE DATABASE ... TEMPLATE``
    copy, which takes a fraction of the time. Names carry the run id, so runs sharing a server (the
    machine's PostgreSQL is shared by CI runs) never collide, and :meth:`drop_all` removes this run's.
    """

    def __init__(self, base_url: str, run_id: str) -> None:
        self.base_url = base_url
        self.run_id = run_id
        self._templates: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._created: list[str] = []
        self._count = 0

    def url_of(self, database: str) -> str:
        return with_database(self.base_url, database)

    def _name(self, prefix: str, key: str) -> str:
        head = f"{prefix}_{self.run_id}_"
        tail = ""
        if prefix != "tpl":
            self._count += 1
            tail = f"_{self._count}"
        return head + _identifier_part(key)[: _MAX_IDENTIFIER - len(head) - len(tail)] + tail

    async def _admin(self, statement: str, *args: Any) -> None:
        """One statement on the maintenance database (CREATE/DROP DATABASE refuse to run in a transaction)."""
        import asyncpg

        dsn, kwargs = asyncpg_dsn(self.base_url)
        connection = await asyncpg.connect(dsn, **kwargs)
        try:
            await connection.execute(statement, *args)
        finally:
            await connection.close()

    async def template(self, template_key: str, migrate: Migrate) -> str:
        """The name of the migrated template for ``template_key``, created (and migrated) on first use."""
        lock = self._locks.setdefault(template_key, asyncio.Lock())
        async with lock:
            if template_key in self._templates:
                return self._templates[template_key]
            name = self._name("tpl", template_key)
            await self._admin(f'CREATE DATABASE "{name}"')
            self._created.append(name)
            try:
                await migrate(self.url_of(name))
                # A database is copied only while nobody is connected to it; a migration tool may leave
                # a pooled connection behind, and nobody has reason to connect to a template later.
                await self._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                await self._admin(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
                )
            except BaseException:
                await self.drop(name)
                raise
            self._templates[template_key] = name
            return name

    async def fresh(self, template_key: str, migrate: Migrate) -> str:
        """URL of a new database holding what ``migrate`` left in the template of ``template_key``."""
        template = await self.template(template_key, migrate)
        name = self._name("t", template_key)
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self._created.append(name)
        return self.url_of(name)

    async def empty(self, label: str = "empty") -> str:
        """URL of a new database with no tables, for tests that create their own."""
        name = self._name("t", label)
        await self._admin(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return self.url_of(name)

    async def drop(self, name_or_url: str) -> None:
        """Drop one database of this run, disconnecting whoever still holds it."""
        name = name_or_url
        if "/" in name_or_url:
            from sqlalchemy.engine import make_url

            name = make_url(name_or_url).database or ""
        if name not in self._created:
            raise ValueError(f"{name!r} was not created by this factory")
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.remove(name)
        self._templates = {key: tpl for key, tpl in self._templates.items() if tpl != name}

    async def drop_all(self) -> None:
        # Clones before their templates, though WITH (FORCE) would not mind.
        for name in reversed(list(self._created)):
            await self.drop(name)

    @property
    def created(self) -> list[str]:
        """Names of this factory's databases that still exist, oldest first."""
        return list(self._created)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db_factory(pg_base_url: str, lkg_run_id: str) -> AsyncIterator[DatabaseFactory]:
    """The run's :class:`DatabaseFactory`; everything it created is dropped at the end of the session.

    A service's test module typically has::

        @pytest_asyncio.fixture(scope="module", loop_scope="session")
        async def database_url(db_factory):
            return await db_factory.fresh("registry", lambda url: migrate("lkg.registry:migrations", url))
    """
    factory = DatabaseFactory(pg_base_url, lkg_run_id)
    yield factory
    await factory.drop_all()


@contextlib.asynccontextmanager
async def engine_with_tables(database_url: str, metadata: Any) -> AsyncIterator[Any]:
    """An async engine on ``database_url`` (a module's :func:`fresh_database_url`) with the tables of
    ``metadata`` created, disposed of at the end: the set-up of a test module with tables of its own."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from lkg.common.db import async_url

    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fresh_database_url(
    db_factory: DatabaseFactory, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """An empty database of its own for this test module, dropped when the module is done."""
    url = await db_factory.empty(request.module.__name__.rpartition(".")[2])
    yield url
    await db_factory.drop(url)
