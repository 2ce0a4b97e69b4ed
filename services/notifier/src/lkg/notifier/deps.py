"""The notifier's dependency aliases for its routes (:class:`lkg.common.runtime.deps.ServiceDeps`): its
runtime, a read session, the unit of work of a write (committed when the route succeeds, rolled back on any
error: no route commits by hand), and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.access import caller_dependency
from lkg.common.runtime.deps import ServiceDeps
from lkg.common.runtime.service import ServiceRuntime
from lkg.notifier.access import Caller
from lkg.notifier.settings import NotifierSettings

DEPS = ServiceDeps[NotifierSettings]("notifier")


current_caller = caller_dependency(Caller.of)


async def current_operator(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    caller.require_operator()
    return caller


Runtime = Annotated[ServiceRuntime[NotifierSettings], DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
CallerDep = Annotated[Caller, Depends(current_caller)]
OperatorDep = Annotated[Caller, Depends(current_operator)]
