"""The bus's permissions (issue 11, item 8): one NATS user per service, limited to its own subjects and the
streams it reads, against a real nats-server configured from the one table
(:mod:`lkg.common.events.permissions`), as the embedded default configures it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nats.js import api
from nats.js.errors import NoStreamResponseError

from lkg.common.events.base import PRODUCERS
from lkg.common.events.bus import Credentials, Names, connect, ensure_streams
from lkg.common.events.permissions import CORE_SUBJECTS, OPERATOR, PLATFORM, READS, USERS, permissions
from lkg.common.runtime import shared_time
from lkg.common.runtime.embedded import EmbeddedNats
from lkg.common.runtime.service import discover_specs
from lkg.common.testing import eventually

PREFIX = "perm"
NAMES = Names(PREFIX)
PASSWORDS = {user: secrets.token_urlsafe(16) for user in USERS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    embedded = EmbeddedNats(tmp_path_factory.mktemp("nats-auth"), users=PASSWORDS, prefix=PREFIX)
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


class Bus:
    """A connection as ``user`` that records the permission errors the server sends it."""

    def __init__(self, nc, errors: list[str]) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=1.0)
        self.errors = errors


@pytest_asyncio.fixture
async def as_user(server: EmbeddedNats) -> AsyncIterator:
    opened = []

    async def open_as(user: str) -> Bus:
        errors: list[str] = []

        async def record(exc: Exception) -> None:
            errors.append(str(exc).lower())

        nc = await nats.connect(
            server.url,
            user=user,
            password=PASSWORDS[user],
            inbox_prefix=f"_INBOX_{user}",
            error_cb=record,
            allow_reconnect=False,
        )
        opened.append(nc)
        return Bus(nc, errors)

    yield open_as
    for nc in opened:
        await nc.close()


async def stream_messages(operator: Bus, producer: str) -> int:
    return (await operator.js.stream_info(NAMES.stream(producer))).state.messages


@pytest_asyncio.fixture
async def operator(as_user) -> Bus:
    bus = await as_user(OPERATOR)
    await ensure_streams(bus.js, NAMES)
    return bus


async def eventually_refused(bus: Bus, needle: str) -> None:
    def refused() -> None:
        assert any("permissions violation" in e and needle.lower() in e for e in bus.errors), (
            f"no permissions violation for {needle!r}: {bus.errors}"
        )

    await eventually(refused)


async def test_only_scoring_may_publish_a_red_card_request(as_user, operator: Bus) -> None:
    subject = NAMES.subject("lkg.scoring.red_card.requested")
    before = await stream_messages(operator, "scoring")
    scoring, issues, registry = await as_user("scoring"), await as_user("issues"), await as_user("registry")
    ack = await scoring.js.publish(subject, b"{}")
    assert ack.stream == NAMES.stream("scoring")
    for forger in (issues, registry):
        with pytest.raises((TimeoutError, NoStreamResponseError, nats.errors.TimeoutError)):
            await forger.js.publish(subject, b"{}", timeout=0.5)
        await eventually_refused(forger, subject)
    assert await stream_messages(operator, "scoring") == before + 1


async def test_a_service_cannot_publish_on_another_services_subjects(as_user, operator: Bus) -> None:
    scoring = await as_user("scoring")
    for producer in ("issues", "registry", "approvals", "notifier"):
        subject = NAMES.subject(f"lkg.{producer}.problem.reported")
        before = await stream_messages(operator, producer)
        with pytest.raises((TimeoutError, NoStreamResponseError, nats.errors.TimeoutError)):
            await scoring.js.publish(subject, b"{}", timeout=0.5)
        await eventually_refused(scoring, subject)
        assert await stream_messages(operator, producer) == before
    # nor without a prefix, nor another's dead letters or outbox wake-ups
    for subject in (
        "lkg.issues.problem.reported",
        NAMES.subject("lkg.dlq.issues.x"),
        NAMES.subject("lkg.outbox.wake.issues"),
        NAMES.subject("lkg.live.inbox.p1"),
    ):
        await scoring.nc.publish(subject, b"x")
        await scoring.nc.flush()
        await eventually_refused(scoring, subject)


async def test_a_service_reads_only_through_consumers_named_after_itself(as_user, operator: Bus) -> None:
    approvals = await as_user("approvals")
    # approvals reads the registry's stream under its own name ...
    own = api.ConsumerConfig(
        durable_name="approvals",
        name="approvals",
        ack_policy=api.AckPolicy.EXPLICIT,
        filter_subjects=[NAMES.subject("lkg.registry.project.registered")],
    )
    await approvals.js.add_consumer(NAMES.stream("registry"), own)
    assert (await approvals.js.consumer_info(NAMES.stream("registry"), "approvals")).name == "approvals"
    # ... but cannot pose as issues there, nor read a stream it does not subscribe to (issues').
    posing = api.ConsumerConfig(
        durable_name="issues",
        name="issues",
        ack_policy=api.AckPolicy.EXPLICIT,
        filter_subjects=[NAMES.subject("lkg.registry.project.registered")],
    )
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await approvals.js.add_consumer(NAMES.stream("registry"), posing, timeout=0.5)
    await eventually_refused(approvals, f"CONSUMER.CREATE.{NAMES.stream('registry')}.issues")
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await approvals.js.add_consumer(
            NAMES.stream("issues"),
            api.ConsumerConfig(durable_name="approvals", name="approvals", ack_policy=api.AckPolicy.EXPLICIT),
            timeout=0.5,
        )
    await eventually_refused(approvals, f"CONSUMER.CREATE.{NAMES.stream('issues')}.approvals")


async def test_nobody_listens_to_another_users_replies_or_to_the_streams_subjects(as_user) -> None:
    notifier = await as_user("notifier")
    for subject in ("_INBOX.>", "_INBOX_issues.>", NAMES.subject("lkg.issues.>"), ">"):
        await notifier.nc.subscribe(subject)
        await notifier.nc.flush()
        await eventually_refused(notifier, subject)


async def test_a_service_may_not_delete_purge_or_reconfigure_anothers_stream(as_user, operator: Bus) -> None:
    issues = await as_user("issues")
    registry_stream = NAMES.stream("registry")
    for call in (
        lambda: issues.js.delete_stream(registry_stream),
        lambda: issues.js.purge_stream(registry_stream),
        lambda: issues.js.update_stream(
            api.StreamConfig(name=registry_stream, subjects=[NAMES.producer_subjects("registry")], max_msgs=1)
        ),
    ):
        with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
            await call()
    assert (await operator.js.stream_info(registry_stream)).config.max_msgs in (None, -1)
    # Its own start-up (ensure_streams as its user) still works: it updates only its own stream.
    await ensure_streams(issues.js, NAMES, user="issues")


async def test_loading_a_calendar_year_is_the_operators(as_user, operator: Bus) -> None:
    registry = await as_user("registry")
    kv = await shared_time.calendar_bucket(registry.js, NAMES)
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await kv.put("year.2031", b"{}")
    await eventually_refused(registry, "LKG_CALENDAR.year.2031")
    operator_kv = await shared_time.calendar_bucket(operator.js, NAMES)
    await operator_kv.put("year.2031", b"{}")
    assert await shared_time.bucket_keys(kv) == ["year.2031"]


async def test_no_anonymous_or_wrong_password_connection(server: EmbeddedNats) -> None:
    for credentials in ({}, {"user": "scoring", "password": "guess"}):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(
                server.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=1, **credentials
            )


async def test_the_connect_function_uses_the_credentials_and_the_users_own_inbox(
    server: EmbeddedNats,
) -> None:
    nc = await connect(server.url, name="t", credentials=Credentials("platform", PASSWORDS[PLATFORM]))
    try:
        js = nc.jetstream()
        kv = await shared_time.clock_bucket(js, NAMES)
        await kv.put("now", b"2020-05-01T09:00:00+08:00")
        assert nc.new_inbox().startswith("_INBOX_platform.")
    finally:
        await nc.close()


def test_the_table_covers_every_installed_services_subscriptions() -> None:
    assert set(READS) == set(PRODUCERS)
    for name, spec in discover_specs().items():
        producers = {subscription.event.producer for subscription in spec.subscriptions}
        assert producers <= set(READS[name]), (name, producers - set(READS[name]))
    # Each service publishes under its own prefix only.
    for producer in PRODUCERS:
        published = [s for s in permissions(producer, NAMES).publish if s.startswith(f"{PREFIX}.lkg.")]
        assert all(
            s.startswith(
                (
                    f"{PREFIX}.lkg.{producer}.",
                    f"{PREFIX}.lkg.dlq.{producer}.",
                    f"{PREFIX}.lkg.outbox.wake.{producer}",
                    f"{PREFIX}.lkg.clock.settle",
                    *(f"{PREFIX}.{c}".removesuffix(">") for c in CORE_SUBJECTS.get(producer, ())),
                )
            )
            for s in published
        ), published


def test_the_config_holds_no_password_for_others_to_read(server: EmbeddedNats) -> None:
    assert Path(server.config_path).stat().st_mode & 0o077 == 0
