"""The approvals service's route dependencies, declared once: its runtime, a read session, the unit of work
of a write (committed when the route returns, before the response is sent; rolled back on any error, so
no route commits by hand), a driver connection for the hot item read, and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.approvals.settings import ApprovalsRuntime, ApprovalsSettings
from lkg.common.access import caller_dependency
from lkg.common.runtime.deps import ServiceDeps

DEPS = ServiceDeps[ApprovalsSettings]("approvals")


async def _reads(request: Request) -> AsyncIterator[asyncpg.Connection]:
    runtime: ApprovalsRuntime = request.app.state.runtimes[DEPS.service]
    async with runtime.db.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        if not isinstance(driver, asyncpg.Connection):
            raise TypeError("the approvals service runs on asyncpg")
        yield driver


Runtime = Annotated[ApprovalsRuntime, DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
#: A pooled connection's driver, outside any transaction, for a hot read of fixed statements (the item read,
#: half the service's calls): no BEGIN and ROLLBACK round trips around it, no ORM objects.
Reads = Annotated[asyncpg.Connection, Depends(_reads)]
#: The caller with the units and lines it acts for, from the token and the org read copy.
CurrentCaller = Annotated[Caller, Depends(caller_dependency(Caller.of))]
