"""The notifier's dependency aliases for its routes: its runtime, a read session, the unit of work of a
write (committed when the route succeeds, rolled back on any error: no route commits by hand), and the
caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.notifier.access import Caller
from lkg.notifier.settings import NotifierRuntime

SERVICE = "notifier"


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    runtime: NotifierRuntime = request.app.state.runtimes[SERVICE]
    async with runtime.db.transaction() as session:
        yield session


async def current_caller(principal: CurrentPrincipal) -> Caller:
    return Caller(principal)


async def current_operator(principal: CurrentPrincipal) -> Caller:
    caller = Caller(principal)
    caller.require_operator()
    return caller


Runtime = Annotated[NotifierRuntime, Depends(runtime_for(SERVICE))]
Session = Annotated[AsyncSession, Depends(session_for(SERVICE))]
UnitOfWork = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]
CallerDep = Annotated[Caller, Depends(current_caller)]
OperatorDep = Annotated[Caller, Depends(current_operator)]
