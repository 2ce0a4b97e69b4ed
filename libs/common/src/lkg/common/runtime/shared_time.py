"""Shared simulated time and shared calendar data over NATS key-value (docs/time.md).

Key-value bucket ``LKG_CLOCK``: key ``now`` holds the simulated time (ISO 8601); keys ``service.<name>``
register each running service that must settle when the clock moves (renewed every few seconds, so a
service that stopped running here is not waited for).

Moving the clock (:func:`move_clock`): write ``now``, then ask every registered service to *settle* up to
it — run its scans, publish its outbox, and wait for its consumers to catch up — in rounds, until a whole
round reports no activity. Only then does the call return, so a test can assert right after. One replica
per service answers (queue group), and the scans themselves are safe with several replicas.

A scan that *summarises* what the other services said (the notifier's morning digests) waits for the
**quiet round**: once a round reports no activity and some service said it held such a scan back
(``defers``), one more round is asked with ``quiet`` set, in which those scans run. Over a jump of the clock
every breach and warning due before 08:30 has then reached the notifier before it writes that morning's
digest, whichever service got to its scans first; on the real clock they run on every scan as usual.

Key-value bucket ``LKG_CALENDAR``: key ``year.<YYYY>`` holds an official year schedule loaded with
``lkg calendar load``; every process applies it to its calendar and recomputes provisional deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from lkg.common.clock import TZ, SimulatedClock, wall_clock_utc
from lkg.common.events.bus import Names
from lkg.common.log import get_logger
from lkg.common.tasks import stop_if_cancelled

log = get_logger(__name__)

NOW_KEY = "now"


async def clock_bucket(js: JetStreamContext, names: Names, replicas: int = 1) -> KeyValue:
    return await _bucket(js, names.bucket("clock"), history=1, replicas=replicas)


async def calendar_bucket(js: JetStreamContext, names: Names, replicas: int = 1) -> KeyValue:
    return await _bucket(js, names.bucket("calendar"), history=5, replicas=replicas)


async def _bucket(js: JetStreamContext, name: str, history: int, replicas: int) -> KeyValue:
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        return await js.create_key_value(
            api.KeyValueConfig(bucket=name, history=history, storage=api.StorageType.FILE, replicas=replicas)
        )


async def read_now(kv: KeyValue) -> datetime | None:
    try:
        entry = await kv.get(NOW_KEY)
    except KeyNotFoundError:
        return None
    return datetime.fromisoformat(entry.value.decode()) if entry.value else None


async def init_now(kv: KeyValue, start: datetime) -> datetime:
    """Set the shared time on first start only; an existing deployment keeps its time."""
    with contextlib.suppress(Exception):
        await kv.create(NOW_KEY, start.astimezone(TZ).isoformat().encode())
    now = await read_now(kv)
    assert now is not None
    return now


async def follow(kv: KeyValue, clock: SimulatedClock) -> None:
    """Keep a process's simulated clock in step with the shared entry (until cancelled)."""
    watcher = await kv.watch(NOW_KEY)
    try:
        async for entry in watcher:
            if entry is not None and entry.value:
                clock.move_to(datetime.fromisoformat(entry.value.decode()))
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated


def settle_subject(names: Names) -> str:
    return names.subject("lkg.clock.settle")


#: A running service renews its registration this often (wall clock); one silent for STALE_AFTER is
#: presumed gone, so a clock move does not wait for a service that no longer runs on this deployment.
HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 35.0


async def register_service(kv: KeyValue, service: str) -> None:
    await kv.put(f"service.{service}", wall_clock_utc().isoformat().encode())


async def keep_registered(kv: KeyValue, service: str) -> None:
    """Renew the registration until cancelled."""
    while True:
        stop_if_cancelled()
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            await register_service(kv, service)
        except Exception as exc:  # NATS away for a moment: the next beat will do
            log.warning("clock.heartbeat_failed", service=service, error=repr(exc))


async def unregister_service(kv: KeyValue, service: str) -> None:
    with contextlib.suppress(Exception):
        await kv.delete(f"service.{service}")


async def live_services(kv: KeyValue) -> set[str]:
    """Services whose registration was renewed recently."""
    now = wall_clock_utc()
    live = set()
    for key in await bucket_keys(kv):
        if not key.startswith("service."):
            continue
        try:
            entry = await kv.get(key)
            beat = datetime.fromisoformat((entry.value or b"").decode())
        except Exception:  # deleted meanwhile, or an unreadable value
            continue
        if (now - beat).total_seconds() < STALE_AFTER_SECONDS:
            live.add(key.removeprefix("service."))
    return live


async def serve_settle(
    nc: NATS,
    names: Names,
    service: str,
    clock: SimulatedClock,
    settle: Callable[[datetime, bool], Awaitable[int]],
    *,
    defers: bool = False,
) -> Subscription:
    """Answer settle requests for ``service`` (one replica per request: queue group). ``defers``: the
    service holds summarising scans back until the quiet round, and says so in each other round's reply."""

    async def handle(msg: Msg) -> None:
        request = json.loads(msg.data)
        target = datetime.fromisoformat(request["until"])
        quiet = bool(request.get("quiet", False))
        clock.move_to(target)
        started = time.perf_counter()
        try:
            activity = await settle(target, quiet)
            reply: dict = {"service": service, "activity": activity, "defers": defers and not quiet}
        except Exception as exc:
            log.error("clock.settle_failed", service=service, error=repr(exc))
            reply = {"service": service, "activity": 0, "error": f"{type(exc).__name__}: {exc}"}
        reply["seconds"] = round(time.perf_counter() - started, 3)
        await msg.respond(json.dumps(reply).encode())

    return await nc.subscribe(settle_subject(names), queue=f"settle.{service}", cb=handle)


#: A settle round slower than this is logged (``clock.slow_settle_round``) with who answered in what order.
SLOW_ROUND_SECONDS = 10.0


@dataclass
class SettleReport:
    now: datetime
    rounds: int
    activity: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"now": self.now.isoformat(), "rounds": self.rounds, "activity": self.activity}


class SettleError(RuntimeError):
    pass


async def move_clock(
    nc: NATS,
    js: JetStreamContext,
    names: Names,
    target: datetime,
    *,
    timeout: float = 120.0,
    max_rounds: int = 50,
) -> SettleReport:
    """Set the shared time to ``target`` and return once every service has settled up to it."""
    kv = await clock_bucket(js, names)
    current = await read_now(kv)
    target = target.astimezone(TZ)
    if current is not None and target < current:
        raise SettleError(f"the shared clock only moves forward (now {current.isoformat()})")
    await kv.put(NOW_KEY, target.isoformat().encode())
    expected = await live_services(kv)
    report = SettleReport(now=target, rounds=0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = False
    while report.rounds < max_rounds:
        report.rounds += 1
        started = loop.time()
        replies = await _gather(nc, names, target, expected, deadline, quiet=quiet)
        took = loop.time() - started
        if took > SLOW_ROUND_SECONDS:
            # How long each service took to settle, for whoever reads the logs of a slow clock move (a
            # service that answered quickly points at the bus or the machine, not at its own work).
            log.warning(
                "clock.slow_settle_round",
                round=report.rounds,
                seconds=round(took, 2),
                settled_in={r["service"]: r.get("seconds") for r in replies},
                activity={r["service"]: r["activity"] for r in replies},
            )
        errors = {r["service"]: r["error"] for r in replies if r.get("error")}
        if errors:
            raise SettleError(f"services failed to settle: {errors}")
        round_activity = sum(r["activity"] for r in replies)
        for r in replies:
            report.activity[r["service"]] = report.activity.get(r["service"], 0) + r["activity"]
        if round_activity == 0:
            if quiet or not any(r.get("defers") for r in replies):
                return report
            # Everything up to ``target`` has been said: now the scans that summarise it (and, from here
            # on, every round: they act once per due time, so asking again does nothing more).
            quiet = True
    raise SettleError(f"not settled after {max_rounds} rounds")


async def bucket_keys(kv: KeyValue) -> list[str]:
    """The bucket's keys, read from its stream's subjects rather than with ``kv.keys()``: nats-py's
    ``keys()`` runs a watcher that can signal "no more" before the entries it already holds are counted
    (nats-io/nats.py#842), so a key that exists is sometimes missing. Here that made ``live_services``
    come back empty, and a clock move returned without waiting for anyone (one CI run in four: a test's
    first request after settling found nothing applied). Deleted keys keep their subject (a tombstone);
    reading them fails, and callers skip what they cannot read."""
    info = await kv._js.stream_info(kv._stream, subjects_filter=f"{kv._pre}>")
    return sorted(subject.removeprefix(kv._pre) for subject in (info.state.subjects or {}))


async def _gather(
    nc: NATS, names: Names, target: datetime, expected: set[str], deadline: float, *, quiet: bool = False
) -> list[dict]:
    inbox = nc.new_inbox()
    replies: list[dict] = []
    done = asyncio.Event()

    async def collect(msg: Msg) -> None:
        replies.append(json.loads(msg.data))
        if {r["service"] for r in replies} >= expected:
            done.set()

    sub = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(
            settle_subject(names),
            json.dumps({"until": target.isoformat(), "quiet": quiet}).encode(),
            reply=inbox,
        )
        if not expected:
            return []
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(done.wait(), timeout=max(remaining, 0.1))
        except TimeoutError:
            missing = expected - {r["service"] for r in replies}
            raise SettleError(f"no answer from {sorted(missing)} (are they running?)") from None
        return replies
    finally:
        await sub.unsubscribe()
