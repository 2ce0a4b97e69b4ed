"""Every service's migrations end without the outbox NOTIFY trigger (the relay is woken by the committing
process, lkg.common.events.outbox), and the ``outbox_wake`` revision's downgrade brings it back."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from lkg.common.db import Database, alembic_config, migrate
from lkg.common.runtime.service import discover_specs

SERVICES = ["registry", "approvals", "issues", "scoring", "notifier"]

_TRIGGERS = sa.text(
    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'outbox_event'::regclass AND NOT tgisinternal"
)
_FUNCTIONS = sa.text("SELECT proname FROM pg_proc WHERE proname = 'lkg_outbox_notify'")


async def _trigger_state(url: str) -> tuple[list[str], list[str]]:
    db = Database(url, pool_size=1)
    try:
        async with db.sessions() as session:
            triggers = list((await session.execute(_TRIGGERS)).scalars())
            functions = list((await session.execute(_FUNCTIONS)).scalars())
    finally:
        await db.dispose()
    return triggers, functions


@pytest.mark.parametrize("service", SERVICES)
async def test_a_migrated_database_has_no_outbox_trigger_and_the_downgrade_restores_it(db_factory, service):
    spec = discover_specs()[service]
    url = await db_factory.empty(f"wake_{service}")
    try:
        await migrate(spec.migrations, url)
        assert await _trigger_state(url) == ([], [])

        cfg = alembic_config(spec.migrations, url)
        (wake,) = [
            rev
            for rev in ScriptDirectory.from_config(cfg).walk_revisions()
            if rev.path.endswith("outbox_wake.py")
        ]
        await asyncio.to_thread(command.downgrade, cfg, wake.down_revision)
        assert await _trigger_state(url) == (["trg_outbox_event_notify"], ["lkg_outbox_notify"])
        await asyncio.to_thread(command.upgrade, cfg, "head")
        assert await _trigger_state(url) == ([], [])
    finally:
        await db_factory.drop(url)
