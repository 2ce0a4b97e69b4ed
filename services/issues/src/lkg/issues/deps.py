"""The issues service's dependency aliases for its routes (:class:`lkg.common.runtime.deps.ServiceDeps`):
its runtime, a read session, the unit of work of a write (committed when the route succeeds, rolled back
on any error: no route commits by hand), and the caller; and the create routes' ``Idempotency-Key``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.access import caller_dependency
from lkg.common.http.idempotency import idempotent_create
from lkg.common.runtime.deps import ServiceDeps
from lkg.issues.access import Caller
from lkg.issues.settings import IssuesRuntime, IssuesSettings

DEPS = ServiceDeps[IssuesSettings]("issues")


Runtime = Annotated[IssuesRuntime, DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
CallerDep = Annotated[Caller, Depends(caller_dependency(Caller.of))]


async def create_once(
    request: Request,
    session: AsyncSession,
    caller: Caller,
    key: str | None,
    body_hash: str,
    create: Callable[[], Awaitable[Response]],
) -> Response:
    """Run ``create`` once per ``Idempotency-Key`` of the caller: a retry with the same key and request gets
    the first answer again (:func:`lkg.common.http.idempotency.idempotent_create`), committed with it."""
    return await idempotent_create(
        session,
        principal=caller.principal.key,
        key=key,
        method="POST",
        path=request.url.path,
        request_hash=body_hash,
        create=create,
    )
