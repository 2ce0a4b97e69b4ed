"""The notifier's migrations: up to head, down to before the notifier's tables and up again, with the 2020
routing defaults and one template per kind; and 0005 on a database made by the first version of 0003
(without the digest columns), as the databases created before it are."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command

from lkg.common.db import Database, alembic_config, migrate
from lkg.notifier.app import SPEC
from lkg.notifier.routing import DEFAULT_RULES
from lkg.notifier.templates import DEFAULT_TEMPLATES

FIRST_0003 = (
    "ALTER TABLE inbox_message DROP COLUMN digest_pending",
    "ALTER TABLE notice DROP COLUMN line_digest_due",
    "ALTER TABLE inbox_message ALTER COLUMN notice_id SET NOT NULL",
    "ALTER TABLE undeliverable ALTER COLUMN notice_id SET NOT NULL",
    "ALTER TABLE undeliverable DROP CONSTRAINT uq_undeliverable_kind_cause_key_audience",
    "ALTER TABLE undeliverable ADD CONSTRAINT uq_undeliverable_notice_id_audience "
    "UNIQUE (notice_id, audience)",
)


async def _scalar(url: str, query: str) -> object:
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            return (await session.execute(sa.text(query))).scalar_one()
    finally:
        await db.dispose()


async def _execute(url: str, *statements: str) -> None:
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            for statement in statements:
                await session.execute(sa.text(statement))
    finally:
        await db.dispose()


async def test_down_and_up_again_with_the_defaults(db_factory) -> None:
    url = await db_factory.empty("notifier_migrations")
    await migrate(SPEC.migrations, url)
    assert await _scalar(url, "SELECT count(*) FROM routing_rule") == len(DEFAULT_RULES)
    assert await _scalar(url, "SELECT count(*) FROM template") == len(DEFAULT_TEMPLATES)
    cfg = alembic_config(SPEC.migrations, url)
    await asyncio.to_thread(command.downgrade, cfg, "0002")
    assert await _scalar(url, "SELECT to_regclass('inbox_message') IS NULL") is True
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await _scalar(url, "SELECT count(*) FROM routing_rule") == len(DEFAULT_RULES)


async def test_0005_upgrades_a_database_made_by_the_first_0003(db_factory) -> None:
    url = await db_factory.empty("notifier_0005")
    await migrate(SPEC.migrations, url, "0004")
    await _execute(url, *FIRST_0003, "DELETE FROM routing_rule WHERE kind LIKE 'digest.%'")
    await migrate(SPEC.migrations, url)
    assert (
        await _scalar(
            url,
            "SELECT count(*) FROM information_schema.columns "
            "WHERE column_name IN ('digest_pending', 'line_digest_due')",
        )
        == 2
    )
    assert await _scalar(url, "SELECT count(*) FROM routing_rule WHERE kind = 'digest.line'") == 1
    assert (
        await _scalar(
            url,
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'undeliverable' AND column_name = 'notice_id'",
        )
        == "YES"
    )
    cfg = alembic_config(SPEC.migrations, url)
    await asyncio.to_thread(command.downgrade, cfg, "0004")
    assert await _scalar(url, "SELECT to_regclass('cadence_run') IS NULL") is True
