"""The approvals service's route dependencies, declared once: its runtime, a read session, the unit of work
of a write (committed when the route returns, before the response is sent; rolled back on any error, so
no route commits by hand), and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.approvals.settings import ApprovalsRuntime, ApprovalsSettings
from lkg.common.access import caller_dependency
from lkg.common.runtime.deps import ServiceDeps

DEPS = ServiceDeps[ApprovalsSettings]("approvals")

Runtime = Annotated[ApprovalsRuntime, DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
#: The caller with the units and lines it acts for, from the token and the org read copy.
CurrentCaller = Annotated[Caller, Depends(caller_dependency(Caller.of))]
