"""The approvals service's route dependencies, declared once: its session, runtime and caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.approvals.access import Caller
from lkg.common.auth import get_current_principal, get_current_reach
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime

Session = Annotated[AsyncSession, Depends(session_for("approvals"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("approvals"))]


async def current_caller(request: Request) -> Caller:
    """The caller with the units and lines it acts for, from the token and the org read copy."""
    return Caller(principal=await get_current_principal(request), reach=await get_current_reach(request))


CurrentCaller = Annotated[Caller, Depends(current_caller)]
