"""ETag / If-Match and the conditional UPDATE: two officials act at once, one wins, the other gets 412."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lkg.common.db import make_metadata
from lkg.common.http.concurrency import check_if_match, etag_for, update_if_revision
from lkg.common.http.problems import NotFound, PreconditionFailed, PreconditionRequired
from lkg.common.testing import eventually
from lkg.common.testing.infra import engine_with_tables

metadata = make_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Matter(Base):
    """A stand-in aggregate with a revision, as every service's tables have."""

    __tablename__ = "matter"
    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str]
    revision: Mapped[int]


# ---- ETag / If-Match (no database) ---------------------------------------------------------------


def test_etags_are_strong_quoted_opaque_and_stable() -> None:
    etag = etag_for("3f0c", 7)
    assert etag == etag_for("3f0c", 7)
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert "3f0c" not in etag
    assert len({etag_for("3f0c", 7), etag_for("3f0c", 8), etag_for("3f0d", 7)}) == 3


@pytest.mark.parametrize("header", [None, "", "  "])
def test_a_missing_if_match_is_428(header: str | None) -> None:
    with pytest.raises(PreconditionRequired):
        check_if_match(header, etag_for(1, 1))


def test_if_match_matches_strongly_in_a_list_or_with_a_star() -> None:
    current = etag_for(1, 2)
    check_if_match(current, current)
    check_if_match(f"{etag_for(1, 1)}, {current}", current)
    check_if_match("*", current)
    with pytest.raises(PreconditionFailed):
        check_if_match(etag_for(1, 1), current)
    with pytest.raises(PreconditionFailed):
        check_if_match(f"W/{current}", current)


# ---- update_if_revision against PostgreSQL -------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """A database of this module's own on the test PostgreSQL (lkg.common.testing.infra)."""
    async with engine_with_tables(fresh_database_url, metadata) as engine:
        yield engine


async def _insert(sessions: async_sessionmaker[AsyncSession], matter_id: int) -> None:
    async with sessions() as session, session.begin():
        session.add(Matter(id=matter_id, state="reported", revision=1))


async def test_update_with_the_expected_revision_advances_it(http_engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(http_engine, expire_on_commit=False)
    await _insert(sessions, 1)
    async with sessions() as session, session.begin():
        matter = await session.get(Matter, 1)
        new_revision = await update_if_revision(session, Matter, 1, 1, {"state": "accepted"})
        assert new_revision == 2
        # the object in the identity map shows the new row
        assert (matter.state, matter.revision) == ("accepted", 2)
    table = Matter.__table__
    async with sessions() as session, session.begin():
        assert await update_if_revision(session, table, 1, 2, {"state": "answered"}) == 3
    async with sessions() as session:
        row = (await session.execute(sa.select(table.c.state, table.c.revision).where(table.c.id == 1))).one()
    assert tuple(row) == ("answered", 3)


async def test_a_stale_revision_is_412_and_a_missing_row_404(http_engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(http_engine, expire_on_commit=False)
    await _insert(sessions, 2)
    async with sessions() as session, session.begin():
        with pytest.raises(PreconditionFailed):
            await update_if_revision(session, Matter, 2, 5, {"state": "accepted"})
        with pytest.raises(NotFound):
            await update_if_revision(session, Matter, 999, 1, {"state": "accepted"})
    with pytest.raises(ValueError, match="revision"):
        async with sessions() as session:
            await update_if_revision(session, Matter, 2, 1, {"revision": 9})


async def test_two_officials_acting_at_once_one_wins_the_other_changes_nothing(
    http_engine: AsyncEngine,
) -> None:
    sessions = async_sessionmaker(http_engine, expire_on_commit=False)
    await _insert(sessions, 3)
    first_updated = asyncio.Event()

    async def second_is_waiting() -> None:
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        async with http_engine.connect() as conn:
            assert (await conn.execute(query)).scalar_one() >= 1

    async def first() -> str:
        async with sessions() as session, session.begin():
            await update_if_revision(session, Matter, 3, 1, {"state": "escalated"})
            first_updated.set()
            await eventually(second_is_waiting)  # hold the row lock until the second official waits on it
        return "won"

    async def second() -> str:
        await first_updated.wait()
        try:
            async with sessions() as session, session.begin():
                # blocks on the first transaction's row lock, then re-checks: revision is 2 now
                await update_if_revision(session, Matter, 3, 1, {"state": "closed"})
        except PreconditionFailed:
            return "412"
        return "won"

    assert await asyncio.gather(first(), second()) == ["won", "412"]
    async with sessions() as session:
        matter = await session.get(Matter, 3)
    assert (matter.state, matter.revision) == ("escalated", 2)
