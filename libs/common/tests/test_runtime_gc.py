"""Start-up objects are frozen out of the garbage collector's walks once the services have started."""

from __future__ import annotations

import gc

from lkg.common.testing.system import running_system


async def test_the_heap_built_at_start_is_frozen_after_start(db_factory, nats_url, nats_prefix) -> None:
    gc.unfreeze()
    try:
        async with running_system(
            db_factory=db_factory,
            nats_url=nats_url,
            prefix=f"{nats_prefix}gc",
            specs=[],
            gc_freeze_after_start=True,
        ) as system:
            assert gc.get_freeze_count() > 0
            assert (await system.client.get("/healthz")).status_code == 200
    finally:
        gc.unfreeze()


async def test_a_process_that_builds_many_apps_can_keep_the_heap_walked(
    db_factory, nats_url, nats_prefix
) -> None:
    gc.unfreeze()
    async with running_system(
        db_factory=db_factory,
        nats_url=nats_url,
        prefix=f"{nats_prefix}gcoff",
        specs=[],
        gc_freeze_after_start=False,
    ):
        assert gc.get_freeze_count() == 0
