"""JetStream plumbing: connections that never give up, one stream per producer, the dead-letter stream.

Streams keep everything (limits retention, no age limit) so that a new or rebuilt consumer can replay from
the start (docs/events.md). Every name carries the deployment prefix (one per test run, empty in production).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError

from lkg.common.events.base import PRODUCERS, prefixed
from lkg.common.log import get_logger

log = get_logger(__name__)

#: JetStream drops a re-published message with the same Nats-Msg-Id inside this window (the relay's
#: retry after a crash between publish and commit). The inbox is the guarantee beyond it.
DUPLICATE_WINDOW_SECONDS = 20 * 60


@dataclass(frozen=True)
class Names:
    """Stream, subject and bucket names under one deployment prefix."""

    prefix: str = ""

    @property
    def _upper(self) -> str:
        return f"{self.prefix.upper()}_" if self.prefix else ""

    def stream(self, producer: str) -> str:
        return f"{self._upper}LKG_{producer.upper()}"

    def producer_subjects(self, producer: str) -> str:
        return prefixed(self.prefix, f"lkg.{producer}.>")

    @property
    def dlq_stream(self) -> str:
        return f"{self._upper}LKG_DLQ"

    def dlq_subject(self, consumer: str, original_subject: str) -> str:
        return prefixed(self.prefix, f"lkg.dlq.{consumer}.{self.strip(original_subject)}")

    @property
    def retry_stream(self) -> str:
        return f"{self._upper}LKG_RETRY"

    def retry_subject(self, consumer: str) -> str:
        """Dead letters replayed by an operator come back to their consumer on this subject."""
        return prefixed(self.prefix, f"lkg.retry.{consumer}")

    def bucket(self, name: str) -> str:
        return f"{self._upper}LKG_{name.upper()}"

    def subject(self, subject: str) -> str:
        return prefixed(self.prefix, subject)

    def strip(self, subject: str) -> str:
        """The canonical subject without the deployment prefix."""
        if self.prefix and subject.startswith(self.prefix + "."):
            return subject[len(self.prefix) + 1 :]
        return subject


@dataclass(frozen=True)
class Credentials:
    """A bus user (:mod:`lkg.common.events.permissions`); its replies come to its own inbox prefix."""

    user: str
    password: str


async def connect(
    url: str, *, name: str, first_attempt_timeout: float = 2.0, credentials: Credentials | None = None
) -> NATS:
    """Connect, retrying the first connection until it succeeds; reconnect forever afterwards.

    nats-py does not retry the first ``connect`` on its own (NOTES.md), and a pod that starts before NATS
    must wait for it rather than crash-loop.
    """
    delay = 0.2
    options: dict[str, Any] = {
        "name": name,
        "connect_timeout": first_attempt_timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1,
        "error_cb": _log_error,
        "reconnected_cb": _log_reconnected,
    }
    if credentials is not None:
        options |= {
            "user": credentials.user,
            "password": credentials.password,
            "inbox_prefix": f"_INBOX_{credentials.user}",
        }
    while True:
        nc = NATS()

        async def disconnected(nc: NATS = nc) -> None:
            # nats-py calls this on a deliberate close too, after marking the client closed: say nothing
            # then. A lasting outage shows as reconnect attempts and readiness.
            if not nc.is_closed:
                log.info("nats.disconnected")

        try:
            await nc.connect(url, disconnected_cb=disconnected, **options)
            return nc
        except (OSError, TimeoutError, nats.errors.NoServersError) as exc:
            log.warning("nats.connect_retry", url=url, error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _log_error(exc: Exception) -> None:
    log.warning("nats.error", error=str(exc))


async def _log_reconnected() -> None:
    log.info("nats.reconnected")


async def ensure_streams(
    js: JetStreamContext, names: Names, replicas: int = 1, *, user: str | None = None
) -> None:
    """Create (or bring up to date) every producer's stream, the dead-letter and the retry stream.

    Every service ensures all of them, so start order does not matter: a consumer can bind to a producer's
    stream before that producer has started. A service's bus ``user`` may update only its own stream
    (lkg.common.events.permissions): another producer's that differs is left for that producer to update.
    """
    for producer in PRODUCERS:
        updatable = user is None or user not in PRODUCERS or user == producer
        await _ensure_stream(
            js, names.stream(producer), [names.producer_subjects(producer)], replicas, update=updatable
        )
    await _ensure_stream(js, names.dlq_stream, [names.subject("lkg.dlq.>")], replicas)
    await _ensure_stream(js, names.retry_stream, [names.subject("lkg.retry.>")], replicas)


async def _ensure_stream(
    js: JetStreamContext, name: str, subjects: list[str], replicas: int, *, update: bool = True
) -> None:
    config = api.StreamConfig(
        name=name,
        subjects=subjects,
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        max_age=0,  # keep for replay
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        discard=api.DiscardPolicy.OLD,
        allow_direct=True,
        # The outbox relay publishes a run of rows as one atomic batch: one ack and one sync for all.
        allow_atomic=True,
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        # Already exists with a different config (e.g. an older version of this code): update it.
        if exc.err_code != 10058:
            raise
        if not update:
            log.info("nats.stream_left_to_its_producer", stream=name)
            return
        await js.update_stream(config)


async def stream_exists(js: JetStreamContext, name: str) -> bool:
    try:
        await js.stream_info(name)
    except NotFoundError:
        return False
    return True
