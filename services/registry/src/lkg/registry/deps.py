"""The registry's dependency aliases and the two edge helpers its route modules share.

``Session`` reads; ``UnitOfWork`` is a write route's session, committed when the route returns and rolled
back if it raises (:mod:`lkg.common.runtime.deps`), so no route commits; ``Runtime`` is the registry's
runtime, its settings typed as :class:`~lkg.registry.settings.RegistrySettings`. ``AnyCaller`` is the
:class:`~lkg.registry.access.Caller` of a route (the use cases decide with it what the caller may see and
change); ``OfficeCaller`` and ``StatisticsCaller`` first check the roles some routes require outright
(重大项目办, 统计局), 403 otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.access import caller_dependency
from lkg.common.auth import Role, require_roles
from lkg.common.http.idempotency import idempotent_create, request_hash
from lkg.common.runtime.deps import ServiceDeps
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry.access import Caller
from lkg.registry.settings import RegistrySettings

DEPS = ServiceDeps[RegistrySettings]("registry")
Runtime = Annotated[ServiceRuntime[RegistrySettings], DEPS.runtime]
Session = Annotated[AsyncSession, DEPS.session]
UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]
_OFFICE = (Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN)
_STATISTICS = (Role.STATISTICS_BUREAU, *_OFFICE)
#: 解约、销号 (§四(四)): 区商务局, or 重大项目办.
_COMMERCE = (Role.COMMERCE_BUREAU, *_OFFICE)
#: 诚信履约回头看 (§四(四)): 区政府督查室 with 区商务局.
_REVIEWERS = (Role.SUPERVISION_OFFICE, Role.COMMERCE_BUREAU)


_current_caller = caller_dependency(Caller.of)


def _caller(*roles: Role) -> Callable[[Request], Awaitable[Caller]]:
    """The request's :class:`Caller` (:func:`lkg.common.access.caller_dependency`; its reach from the
    registry's directory, cached per version), after checking that it holds one of ``roles`` (403)."""
    check = require_roles(*roles)

    async def caller(request: Request) -> Caller:
        await check(request)
        return await _current_caller(request)

    return caller


AnyCaller = Annotated[Caller, Depends(_current_caller)]
OfficeCaller = Annotated[Caller, Depends(_caller(*_OFFICE))]
StatisticsCaller = Annotated[Caller, Depends(_caller(*_STATISTICS))]
CommerceCaller = Annotated[Caller, Depends(_caller(*_COMMERCE))]
ReviewerCaller = Annotated[Caller, Depends(_caller(*_REVIEWERS))]


async def idempotent(
    request: Request | str,
    session: AsyncSession,
    caller: Caller,
    key: str | None,
    body: BaseModel | bytes,
    create: Callable[[], Awaitable[Response]],
) -> Response:
    """Run ``create`` (a POST) once per Idempotency-Key (mobile networks retry; docs/http-conventions.md):
    a repeat answers the stored response, kept in the unit of work's transaction with what ``create`` did.
    ``request`` is the request, or its path."""
    response = await idempotent_create(
        session,
        principal=caller.actor,
        key=key,
        method="POST",
        path=request if isinstance(request, str) else request.url.path,
        request_hash=request_hash(body),
        create=create,
    )
    return response


def created(model: BaseModel, location: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """201 with ``model`` as the body, and ``Location`` when given."""
    extra: dict[str, Any] = {"Location": location} if location else {}
    return JSONResponse(model.model_dump(mode="json"), status_code=201, headers={**extra, **(headers or {})})
