"""The registry's dependency aliases and the two edge helpers its route modules share.

``Session`` reads; ``UnitOfWork`` is a write route's session (:mod:`lkg.common.runtime.deps`); ``Runtime``
is the registry's runtime; ``Office`` and ``Statistics`` are the roles some routes require outright.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Principal, Role, require_roles
from lkg.common.http.idempotency import idempotent_create, request_hash
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime

Session = Annotated[AsyncSession, Depends(session_for("registry"))]
UnitOfWork = Annotated[AsyncSession, Depends(session_for("registry"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("registry"))]
Office = Annotated[Principal, Depends(require_roles(Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))]
Statistics = Annotated[
    Principal, Depends(require_roles(Role.STATISTICS_BUREAU, Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))
]


async def idempotent(
    request: Request | str,
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    body: object,
    create: Callable[[], Awaitable[Response]],
) -> Response:
    """Run ``create`` (a POST) once per Idempotency-Key (mobile networks retry; docs/http-conventions.md):
    a repeat answers the stored response. ``request`` is the request, or its path."""
    response = await idempotent_create(
        session,
        principal=principal.key,
        key=key,
        method="POST",
        path=request if isinstance(request, str) else request.url.path,
        request_hash=request_hash(body),
        create=create,
    )
    await session.commit()
    return response


def created(model: BaseModel, location: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """201 with ``model`` as the body, and ``Location`` when given."""
    extra: dict[str, Any] = {"Location": location} if location else {}
    return JSONResponse(model.model_dump(mode="json"), status_code=201, headers={**extra, **(headers or {})})
