"""Plain asyncpg connections for the registry's read path (the project list and get, and the caller's
directory version), next to the engine's pool: :func:`connection`."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from lkg.common.db import asyncpg_dsn


class ReadConnections:
    """Plain asyncpg connections for the read path, next to ``engine``'s pool, at most ``size`` at once.

    Why not the engine's pool: taking a connection from it and giving it back costs ~30 us of CPU (two
    greenlet switches and the pool's bookkeeping, measured here against ~12 us for the statement itself),
    about a tenth of a get-by-id. These statements need no transaction and no ORM, so they take an idle
    connection from a list. At most ``size`` are open, so 50 concurrent readers queue here rather than
    opening connections per request. A connection that failed other than by a PostgreSQL error (network,
    cancellation) is closed, not reused. The engine's ``dispose()`` closes the idle ones (and those in use
    when they come back), so a service's shutdown leaves none behind.
    """

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self.dsn, self.kwargs = asyncpg_dsn(engine.url.render_as_string(hide_password=False))
        self.size = size
        self.idle: list[asyncpg.Connection] = []
        self.slots = asyncio.Semaphore(size)
        self.closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.slots:
            conn = None
            while self.idle and conn is None:
                conn = self.idle.pop()
                if conn.is_closed():
                    conn = None
            if conn is None:
                conn = await asyncpg.connect(self.dsn, **self.kwargs)
            reusable = False
            try:
                yield conn
                reusable = True
            except asyncpg.PostgresError:
                reusable = True
                raise
            finally:
                if reusable and not self.closed and not conn.is_closed():
                    self.idle.append(conn)
                else:
                    conn.terminate()

    def close(self, *_: Any) -> None:
        """Close the idle connections now and the others as they come back (an ``engine_disposed``
        listener: synchronous, so ``terminate``, which needs no round trip)."""
        self.closed = True
        while self.idle:
            self.idle.pop().terminate()


_READERS: weakref.WeakKeyDictionary[Any, ReadConnections] = weakref.WeakKeyDictionary()


def readers(engine: AsyncEngine) -> ReadConnections:
    """The read connections of ``engine``: as many as its pool keeps but two, which stay for the write
    paths' sessions."""
    sync_engine = engine.sync_engine
    found = _READERS.get(sync_engine)
    if found is None or found.closed:
        kept = sync_engine.pool.size() if hasattr(sync_engine.pool, "size") else 3
        found = _READERS[sync_engine] = ReadConnections(engine, max(1, kept - 2))
        sa.event.listen(sync_engine, "engine_disposed", found.close)
    return found


def connection(engine: AsyncEngine) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A connection of :func:`readers` for statements that need no transaction."""
    return readers(engine).connection()
