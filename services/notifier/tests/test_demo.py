"""Demo addresses for the demo accounts: once, and never over a person's own."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from lkg.common.db import Database, migrate
from lkg.notifier.app import SPEC
from lkg.notifier.demo import DEMO_PEOPLE, ORG_NAMESPACE, seed_demo_addresses
from lkg.notifier.models import person_setting


async def test_demo_addresses_are_seeded_once(db_factory) -> None:
    url = await db_factory.fresh("notifier", lambda u: migrate(SPEC.migrations, u))
    db = Database(url, pool_size=1)
    try:
        assert await seed_demo_addresses(db) == len(DEMO_PEOPLE) == 22
        assert await seed_demo_addresses(db) == 0
        async with db.sessions() as session:
            email = (
                await session.execute(
                    sa.select(person_setting.c.email).where(
                        person_setting.c.person_id == uuid.uuid5(ORG_NAMESPACE, "person.li_li")
                    )
                )
            ).scalar_one()
        assert email == "line2@demo.lkg.invalid"
    finally:
        await db.dispose()
