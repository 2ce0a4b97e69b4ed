"""The issues service's dependency aliases for its routes: its runtime, a read session, the unit of work
of a write (committed when the route succeeds, rolled back on any error), and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal, CurrentReach
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.issues.access import Caller
from lkg.issues.settings import IssuesRuntime

SERVICE = "issues"


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    runtime: IssuesRuntime = request.app.state.runtimes[SERVICE]
    async with runtime.db.transaction() as session:
        yield session


async def current_caller(principal: CurrentPrincipal, reach: CurrentReach) -> Caller:
    return Caller(principal=principal, reach=reach)


Runtime = Annotated[IssuesRuntime, Depends(runtime_for(SERVICE))]
Session = Annotated[AsyncSession, Depends(session_for(SERVICE))]
UnitOfWork = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]
CallerDep = Annotated[Caller, Depends(current_caller)]
