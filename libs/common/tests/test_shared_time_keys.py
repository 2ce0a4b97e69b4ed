"""The shared clock's registry of live services reads its bucket's keys reliably (nats-io/nats.py#842:
``KeyValue.keys()`` can miss keys that exist, which let a clock move return without waiting for anyone)."""

from __future__ import annotations

from lkg.common.events.bus import Names, connect
from lkg.common.runtime import shared_time


async def test_a_service_registered_a_moment_ago_is_live_every_time(nats_url, nats_prefix) -> None:
    nc = await connect(nats_url, name="test-keys")
    try:
        js = nc.jetstream()
        for n in range(40):
            names = Names(f"{nats_prefix}keys{n}")
            kv = await shared_time.clock_bucket(js, names)
            assert await shared_time.bucket_keys(kv) == []
            await shared_time.register_service(kv, "issues")
            await shared_time.register_service(kv, "registry")
            assert await shared_time.live_services(kv) == {"issues", "registry"}, n
            await shared_time.unregister_service(kv, "registry")
            assert await shared_time.live_services(kv) == {"issues"}, n
    finally:
        await nc.close()
