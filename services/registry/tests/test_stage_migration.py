"""Migration 0006 (project stage): a register at 0005 with projects in every stage gets each project's stage
from its milestones and investment reports; the downgrade drops the column and its index again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import command

from lkg.common.clock import TZ
from lkg.common.db import Database, alembic_config, migrate

MIGRATIONS = "lkg.registry:migrations"
AT = datetime(2020, 5, 1, 9, tzinfo=TZ)
UNIT = uuid.UUID(int=1)

# The tables as 0005 left them (only the columns written here): the ORM models already have ``stage``.
_PROJECT = sa.table(
    "project",
    *(
        sa.column(c)
        for c in (
            "id",
            "revision",
            "name",
            "enterprise",
            "category",
            "project_class",
            "responsible_unit_id",
            "responsible_unit_name",
            "routing_basis",
            "routing_reason",
            "provincial_municipal",
            "fast_track",
            "total_investment",
            "plan_year",
            "planned_annual_investment",
            "status",
            "enrolment_status",
            "integrity_flags",
            "project_code_warnings",
            "effective_at",
            "created_at",
            "updated_at",
        )
    ),
)
_MILESTONE = sa.table(
    "milestone",
    *(sa.column(c) for c in ("id", "project_id", "type", "label", "planned_date", "actual_date", "position")),
)
_REPORT = sa.table(
    "investment_report",
    *(
        sa.column(c)
        for c in (
            "id",
            "project_id",
            "year",
            "month",
            "amount",
            "year_to_date",
            "reported_by_unit_id",
            "superseded",
            "reported_at",
        )
    ),
)

#: name → (achieved milestone types, planned-only milestone types, reports as (amount, superseded), stage)
CASES = {
    "nothing": ((), (), (), "preliminary"),
    "negotiating": (("negotiation",), ("signing",), (), "preliminary"),
    "signed": (("negotiation", "signing"), ("construction_start",), ((Decimal("9"), False),), "approval"),
    "capital": (("capital_injection",), (), (), "approval"),
    "started": (("construction_start",), ("completion",), ((Decimal("0"), False),), "construction"),
    "superseded": (
        ("construction_start",),
        (),
        ((Decimal("5"), True), (Decimal("0"), False)),
        "construction",
    ),
    "investing": (("signing", "construction_start"), (), ((Decimal("5"), False),), "investment"),
    "producing": (("production_start",), ("full_production",), (), "completion"),
    "full": (
        ("construction_start", "completion", "full_production"),
        (),
        ((Decimal("5"), False),),
        "full_production",
    ),
}


async def _stages(url: str) -> dict[str, str]:
    db = Database(url, pool_size=1)
    try:
        async with db.sessions() as session:
            rows = await session.execute(sa.text("SELECT name, stage FROM project"))
            return {name: stage for name, stage in rows}
    finally:
        await db.dispose()


async def _has_stage(url: str) -> tuple[bool, bool]:
    db = Database(url, pool_size=1)
    try:
        async with db.sessions() as session:
            column = await session.scalar(
                sa.text(
                    "SELECT count(*) FROM information_schema.columns "
                    "WHERE table_name = 'project' AND column_name = 'stage'"
                )
            )
            index = await session.scalar(
                sa.text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_project_stage_created_at_id'")
            )
            return bool(column), bool(index)
    finally:
        await db.dispose()


async def test_the_upgrade_backfills_every_project_s_stage_and_the_downgrade_drops_it(db_factory) -> None:
    url = await db_factory.empty("stage_backfill")
    try:
        await migrate(MIGRATIONS, url, "0005")
        assert await _has_stage(url) == (False, False)
        db = Database(url, pool_size=1)
        try:
            async with db.transaction() as session:
                for name, (achieved, planned, reports, _) in CASES.items():
                    pid = uuid.uuid4()
                    await session.execute(sa.insert(_PROJECT).values(**_project(pid, name)))
                    kinds = [(k, date(2020, 3, 1)) for k in achieved] + [(k, None) for k in planned]
                    for position, (kind, actual) in enumerate(kinds):
                        await session.execute(
                            sa.insert(_MILESTONE).values(
                                id=uuid.uuid4(),
                                project_id=pid,
                                type=kind,
                                label=kind,
                                planned_date=date(2020, 3, 1),
                                actual_date=actual,
                                position=position,
                            )
                        )
                    for amount, superseded in reports:
                        await session.execute(
                            sa.insert(_REPORT).values(
                                id=uuid.uuid4(),
                                project_id=pid,
                                year=2020,
                                month=4,
                                amount=amount,
                                year_to_date=amount,
                                reported_by_unit_id=UNIT,
                                superseded=superseded,
                                reported_at=AT,
                            )
                        )
        finally:
            await db.dispose()

        await migrate(MIGRATIONS, url, "0006")
        assert await _stages(url) == {name: case[3] for name, case in CASES.items()}
        assert await _has_stage(url) == (True, True)

        cfg = alembic_config(MIGRATIONS, url)
        await asyncio.to_thread(command.downgrade, cfg, "0005")
        assert await _has_stage(url) == (False, False)
        await asyncio.to_thread(command.upgrade, cfg, "head")
        assert (await _stages(url))["investing"] == "investment"
    finally:
        await db_factory.drop(url)


def _project(pid: uuid.UUID, name: str) -> dict:
    return {
        "id": pid,
        "revision": 1,
        "name": name,
        "enterprise": "企业",
        "category": "industrial",
        "project_class": "new_start",
        "responsible_unit_id": UNIT,
        "responsible_unit_name": "单位",
        "routing_basis": "unrouted",
        "routing_reason": "测试",
        "provincial_municipal": False,
        "fast_track": False,
        "total_investment": Decimal("1000.00"),
        "plan_year": 2020,
        "planned_annual_investment": Decimal("100.00"),
        "status": "active",
        "enrolment_status": "pending",
        "integrity_flags": [],
        "project_code_warnings": [],
        "effective_at": AT,
        "created_at": AT,
        "updated_at": AT,
    }
