"""Embedded PostgreSQL and NATS: real servers that stay off the machine's own ports, keep their
data across restarts, fsync every JetStream write, and leave no process behind however we end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from lkg.common.db import asyncpg_dsn
from lkg.common.runtime.embedded import (
    RESERVED_PORTS,
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedStack,
)
from lkg.common.runtime.processes import no_strays
from lkg.common.testing import eventually


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """One directory for the module, so the cluster is created once: initdb is the slow part."""
    # Not under pytest's basetemp, whose 0700 permissions the embedded postgres user could not traverse.
    path = Path(tempfile.mkdtemp(prefix="lkg-embedded-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def fetchval(url: str, query: str) -> object:
    dsn, kwargs = asyncpg_dsn(url)
    connection = await asyncpg.connect(dsn, **kwargs)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def execute(url: str, query: str) -> None:
    dsn, kwargs = asyncpg_dsn(url)
    connection = await asyncpg.connect(dsn, **kwargs)
    try:
        await connection.execute(query)
    finally:
        await connection.close()


def pgdata_of(data_dir: Path) -> Path:
    """The stack's cluster, shared with the PostgreSQL-only tests."""
    return data_dir / "stack" / "postgres"


async def test_postgres_answers_on_its_socket_only(data_dir: Path) -> None:
    pgdata = pgdata_of(data_dir)
    with EmbeddedPostgres(pgdata) as postgres:
        assert postgres.url == f"postgresql://postgres@/postgres?host={pgdata}"
        assert await fetchval(postgres.url, "SELECT 1") == 1
        # No TCP at all, so the machine's PostgreSQL on 5432 is never in the way.
        assert await fetchval(postgres.url, "SHOW listen_addresses") == ""
        assert no_strays(data_dir) == [postgres.pid]
    assert no_strays(data_dir) == []


async def test_postgres_keeps_data_across_restart(data_dir: Path) -> None:
    postgres = EmbeddedPostgres(pgdata_of(data_dir))
    first_url = postgres.start()
    await execute(first_url, "CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (7)")
    postgres.stop()
    assert no_strays(data_dir) == []

    assert postgres.start() == first_url
    try:
        assert await fetchval(first_url, "SELECT array_agg(id) FROM kept") == [7]
    finally:
        postgres.stop()
    assert no_strays(data_dir) == []


async def test_nats_runs_jetstream_off_the_default_ports_and_fsyncs_every_write(data_dir: Path) -> None:
    with EmbeddedNats(data_dir / "nats") as server:
        assert server.client_port not in RESERVED_PORTS
        assert server.monitor_port not in RESERVED_PORTS
        assert server.url == f"nats://127.0.0.1:{server.client_port}"
        jetstream = server.varz()["jetstream"]["config"]
        assert jetstream["sync_always"] is True
        assert jetstream["store_dir"].startswith(str(data_dir / "nats" / "jetstream"))
        assert no_strays(data_dir) == [server.pid]
    assert no_strays(data_dir) == []


async def test_nats_restart_keeps_streams_and_url(data_dir: Path) -> None:
    server = EmbeddedNats(data_dir / "nats-restart")
    url = server.start()
    try:
        client = await nats.connect(url)
        try:
            js = client.jetstream()
            await js.add_stream(name="probe", subjects=["probe.>"])
            ack = await js.publish("probe.one", b"hello")
            assert (ack.stream, ack.seq, ack.duplicate) == ("probe", 1, None)
        finally:
            await client.close()
    finally:
        server.stop()
    assert no_strays(data_dir) == []

    assert server.start() == url
    try:
        client = await nats.connect(url)
        try:
            info = await client.jetstream().stream_info("probe")
            assert (info.state.messages, info.state.last_seq) == (1, 1)
        finally:
            await client.close()
    finally:
        server.stop()
    assert no_strays(data_dir) == []


def test_nats_moves_to_a_new_port_when_its_old_one_is_taken(data_dir: Path) -> None:
    server = EmbeddedNats(data_dir / "nats-moved")
    with server:
        old_port = server.client_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", old_port))
        with server:
            assert server.client_port != old_port
            assert server.client_port not in RESERVED_PORTS
    assert no_strays(data_dir) == []


def test_stack_stops_everything_it_started(data_dir: Path) -> None:
    stack = EmbeddedStack(data_dir / "stack")
    database_url, nats_url = stack.start()
    assert database_url.endswith(f"?host={pgdata_of(data_dir)}")
    assert nats_url == stack.nats.url
    assert no_strays(data_dir) == sorted([stack.postgres.pid, stack.nats.pid])
    stack.stop()
    assert no_strays(data_dir) == []
    stack.stop()  # idempotent


CHILD = """
import json, os, time
from pathlib import Path
from lkg.common.runtime.embedded import EmbeddedStack
stack = EmbeddedStack(Path(os.environ["STACK_DIR"]))
stack.start()
print(json.dumps([stack.postgres.pid, stack.nats.pid]), flush=True)
time.sleep(60)  # the point: it stays alive until the test signals or kills it
"""


def start_child(stack_dir: Path) -> tuple[subprocess.Popen[str], list[int]]:
    # The directory goes in the environment: in argv, no_strays would count the child itself.
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "STACK_DIR": str(stack_dir)},
    )
    assert child.stdout is not None
    pids = json.loads(child.stdout.readline())
    return child, pids


@pytest.mark.crash
def test_sigterm_stops_the_servers_before_the_process_dies(data_dir: Path) -> None:
    stack_dir = data_dir / "stack"
    child, pids = start_child(stack_dir)
    try:
        assert no_strays(stack_dir) == sorted(pids)
    finally:
        child.send_signal(signal.SIGTERM)
    # The handler stops both servers, then the process dies of the signal as it would have.
    assert child.wait(15) == -signal.SIGTERM
    assert no_strays(stack_dir) == []


@pytest.mark.crash
async def test_sigkill_of_the_parent_still_leaves_no_server_behind(data_dir: Path) -> None:
    stack_dir = data_dir / "stack"
    child, pids = start_child(stack_dir)
    try:
        assert no_strays(stack_dir) == sorted(pids)
    finally:
        child.kill()
    assert child.wait(5) == -signal.SIGKILL
    # No Python code of the child ran: the watchdog saw its pipe close and stopped the servers.

    def none_left() -> None:
        assert no_strays(stack_dir) == []

    await eventually(none_left, timeout=12)
