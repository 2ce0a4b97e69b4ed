"""The approvals service's route dependencies, declared once: its runtime, a read session, the unit of work
of a write (committed when the route returns, before the response is sent; rolled back on any error, so
no route commits by hand), and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.approvals.settings import ApprovalsRuntime, ApprovalsSettings
from lkg.common.auth import get_current_principal, get_current_reach
from lkg.common.runtime.deps import ServiceDeps

DEPS = ServiceDeps[ApprovalsSettings]("approvals")


async def current_caller(request: Request) -> Caller:
    """The caller with the units and lines it acts for, from the token and the org read copy."""
    return Caller(principal=await get_current_principal(request), reach=await get_current_reach(request))


Runtime = Annotated[ApprovalsRuntime, DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
