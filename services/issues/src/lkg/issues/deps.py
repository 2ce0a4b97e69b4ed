"""The issues service's dependency aliases for its routes (:class:`lkg.common.runtime.deps.ServiceDeps`):
its runtime, a read session, the unit of work of a write (committed when the route succeeds, rolled back
on any error: no route commits by hand), and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal, CurrentReach
from lkg.common.runtime.deps import ServiceDeps
from lkg.issues.access import Caller
from lkg.issues.settings import IssuesRuntime, IssuesSettings

DEPS = ServiceDeps[IssuesSettings]("issues")


async def current_caller(principal: CurrentPrincipal, reach: CurrentReach) -> Caller:
    return Caller(principal=principal, reach=reach)


Runtime = Annotated[IssuesRuntime, DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
CallerDep = Annotated[Caller, Depends(current_caller)]
