"""The test fixtures: servers from the environment first, then Docker, then the embedded wheels;
databases cloned from a migrated template; names carrying the run id so runs on a shared server never meet.

Run this file both ways; each run asserts what its own source must give::

    LKG_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    LKG_TEST_NATS_URL=nats://127.0.0.1:4222 pytest libs/common/tests/test_testing_infra.py
    pytest libs/common/tests/test_testing_infra.py
"""

from __future__ import annotations

import importlib.util
import os
import re
from urllib.parse import urlsplit

import asyncpg
import nats
import pytest
from sqlalchemy.engine import make_url

from lkg.common.db import asyncpg_dsn
from lkg.common.testing.infra import (
    ENV_DATABASE_URL,
    ENV_NATS_URL,
    TEST_POSTGRES_SETTINGS,
    DatabaseFactory,
    all_streams,
    choose_source,
    delete_streams_with_prefix,
    docker_engine_answers,
)


async def connect(url: str) -> asyncpg.Connection:
    dsn, kwargs = asyncpg_dsn(url)
    return await asyncpg.connect(dsn, **kwargs)


async def existing_databases(base_url: str, names: list[str]) -> list[str]:
    connection = await connect(base_url)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname = ANY($1::text[]) ORDER BY datname", names
        )
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


def test_the_environment_wins_without_asking_docker() -> None:
    def docker_must_not_be_asked() -> bool:
        raise AssertionError("asked Docker although the environment gave a URL")

    assert choose_source("postgresql://x@db/postgres", docker_must_not_be_asked) == "env"


def test_docker_comes_before_the_embedded_wheels() -> None:
    assert choose_source(None, lambda: True) == "docker"
    assert choose_source("", lambda: True) == "docker"
    assert choose_source(None, lambda: False) == "embedded"


@pytest.mark.skipif(importlib.util.find_spec("testcontainers") is not None, reason="testcontainers installed")
def test_without_testcontainers_docker_is_not_an_option() -> None:
    assert docker_engine_answers() is False


def test_pg_base_url_follows_the_order(pg_base_url: str, lkg_servers) -> None:
    env_value = os.environ.get(ENV_DATABASE_URL)
    if env_value:
        assert (pg_base_url, lkg_servers.sources["postgres"]) == (env_value, "env")
    elif not docker_engine_answers():
        assert lkg_servers.sources["postgres"] == "embedded"
        parsed = make_url(pg_base_url)
        assert (parsed.host, parsed.database) == (None, "postgres")
        assert parsed.query["host"].endswith("/postgres")  # the embedded cluster's socket directory


async def test_embedded_postgres_runs_with_the_test_settings(pg_base_url: str, lkg_servers) -> None:
    if lkg_servers.sources["postgres"] != "embedded":
        pytest.skip("PostgreSQL comes from elsewhere; its settings are not ours")
    connection = await connect(pg_base_url)
    try:
        shown = {name: await connection.fetchval(f"SHOW {name}") for name in TEST_POSTGRES_SETTINGS}
    finally:
        await connection.close()
    assert shown == TEST_POSTGRES_SETTINGS


def test_nats_url_follows_the_order(nats_url: str, lkg_servers) -> None:
    env_value = os.environ.get(ENV_NATS_URL)
    if env_value:
        assert (nats_url, lkg_servers.sources["nats"]) == (env_value, "env")
    elif not docker_engine_answers():
        assert lkg_servers.sources["nats"] == "embedded"
        parsed = urlsplit(nats_url)
        assert parsed.hostname == "127.0.0.1"
        assert parsed.port != 4222


def test_nats_prefix_is_the_run_id(nats_prefix: str, lkg_run_id: str) -> None:
    assert re.fullmatch(r"t[0-9a-f]{8}", nats_prefix)
    assert nats_prefix == f"t{lkg_run_id}"


async def test_jetstream_publish_is_acknowledged(nats_url: str, nats_prefix: str) -> None:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        stream = f"{nats_prefix}_infra_probe"
        await js.add_stream(name=stream, subjects=[f"{nats_prefix}.infra.>"])
        ack = await js.publish(f"{nats_prefix}.infra.probe", b"ping", headers={"Nats-Msg-Id": "probe-1"})
        again = await js.publish(f"{nats_prefix}.infra.probe", b"ping", headers={"Nats-Msg-Id": "probe-1"})
        assert (ack.stream, ack.seq, ack.duplicate) == (stream, 1, None)
        assert (again.seq, again.duplicate) == (1, True)
    finally:
        await client.close()


async def test_streams_of_a_prefix_are_deleted_and_no_others(nats_url: str, nats_prefix: str) -> None:
    doomed = f"{nats_prefix}x"
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await js.add_stream(name=f"{doomed}_events", subjects=[f"{doomed}.events.>"])
        await js.create_key_value(bucket=f"{doomed}_clock")
        await js.add_stream(name=f"{nats_prefix}_kept", subjects=[f"{nats_prefix}.kept.>"])

        deleted = await delete_streams_with_prefix(nats_url, doomed)

        assert sorted(deleted) == [f"KV_{doomed}_clock", f"{doomed}_events"]
        remaining = {info.config.name for info in await all_streams(js)}
        assert f"{nats_prefix}_kept" in remaining
        assert not {name for name in remaining if doomed in name}
    finally:
        await client.close()


async def create_widgets(url: str) -> None:
    connection = await connect(url)
    try:
        await connection.execute(
            "CREATE TABLE widget (id int PRIMARY KEY, name text NOT NULL);"
            "INSERT INTO widget VALUES (1, '样板'), (2, 'template row')"
        )
    finally:
        await connection.close()


async def test_fresh_databases_are_clones_of_one_migrated_template(db_factory: DatabaseFactory) -> None:
    migrated: list[str] = []

    async def migrate(url: str) -> None:
        migrated.append(url)
        await create_widgets(url)

    first = await db_factory.fresh("infra_widgets", migrate)
    second = await db_factory.fresh("infra_widgets", migrate)

    template = f"tpl_{db_factory.run_id}_infra_widgets"
    assert [make_url(url).database for url in migrated] == [template]
    # Numbered by the factory's counter, which the rest of the session also advances.
    names = [make_url(url).database for url in (first, second)]
    assert all(re.fullmatch(rf"t_{db_factory.run_id}_infra_widgets_\d+", name) for name in names), names
    assert names[0] != names[1]

    one, two = await connect(first), await connect(second)
    try:
        rows = await one.fetch("SELECT id, name FROM widget ORDER BY id")
        assert [tuple(row) for row in rows] == [(1, "样板"), (2, "template row")]
        await one.execute("INSERT INTO widget VALUES (3, 'only in the first')")
        assert await two.fetchval("SELECT count(*) FROM widget") == 2
    finally:
        await one.close()
        await two.close()

    # Nobody connects to a template: a stray connection would make the next clone fail.
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="not currently accepting"):
        await connect(db_factory.url_of(template))


async def test_a_failed_migration_leaves_no_template(db_factory: DatabaseFactory) -> None:
    async def broken(url: str) -> None:
        raise RuntimeError("migration failed")

    with pytest.raises(RuntimeError, match="migration failed"):
        await db_factory.fresh("infra_broken", broken)
    template = f"tpl_{db_factory.run_id}_infra_broken"
    assert await existing_databases(db_factory.base_url, [template]) == []

    url = await db_factory.fresh("infra_broken", create_widgets)
    connection = await connect(url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM widget") == 2
    finally:
        await connection.close()


async def test_fresh_database_url_is_an_empty_database_of_this_run(
    fresh_database_url: str, lkg_run_id: str
) -> None:
    name = make_url(fresh_database_url).database
    assert re.fullmatch(rf"t_{lkg_run_id}_test_testing_infra_\d+", name)
    connection = await connect(fresh_database_url)
    try:
        assert await connection.fetchval("SELECT current_database()") == name
        assert await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    finally:
        await connection.close()


async def test_drop_all_removes_every_database_of_the_factory(pg_base_url: str, lkg_run_id: str) -> None:
    factory = DatabaseFactory(pg_base_url, f"{lkg_run_id}d")
    await factory.empty()
    await factory.fresh("widgets", create_widgets)
    names = factory.created
    assert names == [f"t_{lkg_run_id}d_empty_1", f"tpl_{lkg_run_id}d_widgets", f"t_{lkg_run_id}d_widgets_2"]
    held = await connect(factory.url_of(names[2]))  # FORCE disconnects whoever still holds one
    try:
        await factory.drop_all()
    finally:
        await held.close()
    assert factory.created == []
    assert await existing_databases(pg_base_url, names) == []
