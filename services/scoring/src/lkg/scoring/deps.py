"""The scoring service's dependency aliases for its routes: its runtime, a read session, the unit of work of
a write (committed when the route succeeds, rolled back on any error: no route commits by hand), and the
caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.access import caller_dependency
from lkg.common.runtime.deps import ServiceDeps
from lkg.common.runtime.service import ServiceRuntime
from lkg.scoring.access import Caller
from lkg.scoring.settings import ScoringSettings

DEPS = ServiceDeps[ScoringSettings]("scoring")


Runtime = Annotated[ServiceRuntime[ScoringSettings], DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
CallerDep = Annotated[Caller, Depends(caller_dependency(Caller.of))]
