"""The project read copy (lkg.common.readcopy) against PostgreSQL: a snapshot is taken only when newer, the
``on_applied`` hook runs only then (never for a stale or a repeated snapshot), with the previous and the new
snapshot; the migration helper makes the table the services' initial migrations wrote out by hand. The org
copy's hook likewise."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal

import pytest
import pytest_asyncio
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import TZ
from lkg.common.db import Database, make_metadata
from lkg.common.events.base import Envelope
from lkg.common.events.contracts import (
    LineSnapshot,
    OrgChanged,
    ProjectCategory,
    ProjectChanged,
    ProjectClass,
    ProjectRegistered,
    ProjectSnapshot,
    RoutingBasis,
)
from lkg.common.orgcopy import OrgCopyChange, define_org_copy, org_copy_subscriptions
from lkg.common.readcopy import (
    ProjectCopyChange,
    create_project_copy_table,
    define_project_copy,
    drop_project_copy_table,
    project_copy_subscriptions,
)

metadata = make_metadata()
project_copy = define_project_copy(metadata)
org = define_org_copy(metadata)

LINE_3, LINE_8 = uuid.uuid4(), uuid.uuid4()
AT = datetime(2020, 5, 8, 9, 0, tzinfo=TZ)


def snapshot(project_id: uuid.UUID, line_id: uuid.UUID, name: str = "光谷半导体产业园") -> ProjectSnapshot:
    return ProjectSnapshot(
        id=project_id,
        name=name,
        enterprise="某某科技有限公司",
        category=ProjectCategory.INDUSTRIAL,
        project_class=ProjectClass.NEW_START,
        responsible_unit_id=uuid.uuid4(),
        responsible_unit_name="将军路街",
        line_id=line_id,
        routing_basis=RoutingBasis.RESPONSIBLE_UNIT,
        routing_reason="责任单位将军路街属第三线",
        total_investment=Decimal("250000000"),
        plan_year=2020,
        planned_annual_investment=Decimal("80000000"),
        effective_at=AT,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(fresh_database_url: str) -> AsyncIterator[Database]:
    database = Database(fresh_database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()


async def deliver(
    db: Database, handlers: dict, event: ProjectRegistered | ProjectChanged | OrgChanged
) -> None:
    """What the consumer does with one event: its handler inside one transaction."""
    async with db.transaction() as session:
        await handlers[type(event)](session, Envelope.wrap(event), event)


async def held(db: Database, project_id: uuid.UUID) -> tuple[int, str, uuid.UUID]:
    async with db.engine.connect() as conn:
        row = (await conn.execute(sa.select(project_copy).where(project_copy.c.id == project_id))).one()
    return row.revision, row.name, row.line_id


async def test_the_hook_runs_only_for_a_snapshot_that_was_applied(db: Database) -> None:
    seen: list[ProjectCopyChange] = []

    async def on_applied(session: AsyncSession, envelope: Envelope, change: ProjectCopyChange) -> None:
        # Same transaction: the copy already holds the new revision.
        revision = await session.scalar(sa.select(project_copy.c.revision).where(project_copy.c.id == pid))
        assert revision == change.revision
        seen.append(change)

    handlers = {s.event: s.handler for s in project_copy_subscriptions(project_copy, on_applied=on_applied)}
    pid = uuid.uuid4()
    first = snapshot(pid, LINE_3)
    moved = snapshot(pid, LINE_8, name="光谷半导体产业园（二期）")

    await deliver(db, handlers, ProjectRegistered(aggregate_id=pid, revision=1, project=first))
    await deliver(db, handlers, ProjectChanged(aggregate_id=pid, revision=3, project=moved))
    # A repeated snapshot, then a stale one that arrives late: neither changes the copy or calls the hook.
    await deliver(db, handlers, ProjectChanged(aggregate_id=pid, revision=3, project=moved))
    await deliver(db, handlers, ProjectChanged(aggregate_id=pid, revision=2, project=first))

    assert [(c.previous_revision, c.revision, c.line_changed) for c in seen] == [
        (None, 1, False),
        (1, 3, True),
    ]
    assert seen[0].previous is None and seen[0].project == first
    assert seen[1].previous == first and seen[1].project == moved
    assert isinstance(seen[1].event, ProjectChanged)
    assert await held(db, pid) == (3, "光谷半导体产业园（二期）", LINE_8)


async def test_without_a_hook_the_copy_still_takes_only_newer_snapshots(db: Database) -> None:
    handlers = {s.event: s.handler for s in project_copy_subscriptions(project_copy)}
    pid = uuid.uuid4()
    await deliver(db, handlers, ProjectChanged(aggregate_id=pid, revision=5, project=snapshot(pid, LINE_8)))
    await deliver(
        db, handlers, ProjectRegistered(aggregate_id=pid, revision=1, project=snapshot(pid, LINE_3))
    )
    assert await held(db, pid) == (5, "光谷半导体产业园", LINE_8)


async def test_a_failing_hook_rolls_the_snapshot_back_with_it(db: Database) -> None:
    async def on_applied(session: AsyncSession, envelope: Envelope, change: ProjectCopyChange) -> None:
        raise RuntimeError("consequence failed")

    handlers = {s.event: s.handler for s in project_copy_subscriptions(project_copy, on_applied=on_applied)}
    pid = uuid.uuid4()
    with pytest.raises(RuntimeError, match=r"^consequence failed$"):
        await deliver(
            db, handlers, ProjectRegistered(aggregate_id=pid, revision=1, project=snapshot(pid, LINE_3))
        )
    async with db.engine.connect() as conn:
        assert (await conn.scalar(sa.select(sa.func.count()).where(project_copy.c.id == pid))) == 0


async def test_the_org_hook_gets_the_applied_entries_only(db: Database) -> None:
    seen: list[OrgCopyChange] = []

    async def on_applied(
        session: AsyncSession, envelope: Envelope, event: OrgChanged, change: OrgCopyChange
    ) -> None:
        seen.append(change)

    handlers = {s.event: s.handler for s in org_copy_subscriptions(org, on_applied=on_applied)}
    line = LineSnapshot(
        id=LINE_8, revision=1, valid_from=date(2020, 5, 1), number=8, name="第八线",
        leader_post_id=uuid.uuid4(), service_unit_id=uuid.uuid4(),
    )  # fmt: skip
    renamed = line.model_copy(update={"revision": 2, "name": "第八线（肖国华）"})
    directory = uuid.uuid4()

    def changed(revision: int, *lines: LineSnapshot) -> OrgChanged:
        return OrgChanged(aggregate_id=directory, revision=revision, effective_at=AT, lines=lines)

    await deliver(db, handlers, changed(1, line))
    await deliver(db, handlers, changed(2, renamed))
    await deliver(db, handlers, changed(2, renamed))  # repeated
    await deliver(db, handlers, changed(1, line))  # stale
    assert [(c.count, [entry.name for entry in c.lines]) for c in seen] == [
        (1, ["第八线"]),
        (1, ["第八线（肖国华）"]),
    ]


async def test_the_migration_helper_makes_the_table_the_initial_migrations_made(db: Database) -> None:
    def ddl(conn: sa.Connection) -> tuple[list, dict, list]:
        conn.execute(sa.text("CREATE SCHEMA helper"))
        conn.execute(sa.text("SET search_path TO helper"))
        op = Operations(MigrationContext.configure(conn))
        create_project_copy_table(op)
        inspector = sa.inspect(conn)
        made = (
            [
                (c["name"], str(c["type"]), c["nullable"])
                for c in inspector.get_columns("project_copy", "helper")
            ],
            inspector.get_pk_constraint("project_copy", "helper"),
            inspector.get_indexes("project_copy", "helper"),
        )
        drop_project_copy_table(op)
        assert not sa.inspect(conn).has_table("project_copy", "helper")
        conn.execute(sa.text("DROP SCHEMA helper"))
        return made

    async with db.engine.begin() as conn:
        columns, pk, indexes = await conn.run_sync(ddl)
    assert columns == [
        ("id", "UUID", False),
        ("revision", "INTEGER", False),
        ("name", "TEXT", False),
        ("responsible_unit_id", "UUID", True),
        ("line_id", "UUID", True),
        ("status", "TEXT", False),
        ("snapshot", "JSONB", False),
        ("updated_at", "TIMESTAMP", False),
    ]
    assert (pk["name"], pk["constrained_columns"]) == ("pk_project_copy", ["id"])
    assert [(i["name"], i["column_names"], i["unique"]) for i in indexes] == [
        ("ix_project_copy_line_id", ["line_id"], False)
    ]
