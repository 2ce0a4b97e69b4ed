"""The approvals service's route dependencies, declared once: its runtime, a read session, the unit of work
of a write (committed when the route returns, before the response is sent; rolled back on any error, so
no route commits by hand), and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.common.auth import get_current_principal, get_current_reach
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime

SERVICE = "approvals"


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    runtime: ServiceRuntime = request.app.state.runtimes[SERVICE]
    async with runtime.db.transaction() as session:
        yield session


async def current_caller(request: Request) -> Caller:
    """The caller with the units and lines it acts for, from the token and the org read copy."""
    return Caller(principal=await get_current_principal(request), reach=await get_current_reach(request))


Runtime = Annotated[ServiceRuntime, Depends(runtime_for(SERVICE))]
Session = Annotated[AsyncSession, Depends(session_for(SERVICE))]
UnitOfWork = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
