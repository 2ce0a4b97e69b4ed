"""FastAPI dependencies that reach a service's runtime, its database, and the unit of work of a write.

Several services can share one FastAPI app (the one-process shape), each with its own database, so a
route asks for *its* service's runtime by name instead of a single ``app.state`` slot. A service declares
its aliases once, in its ``deps`` module, from one :class:`ServiceDeps`::

    DEPS = ServiceDeps[IssuesSettings]("issues")
    Runtime = Annotated[ServiceRuntime[IssuesSettings], DEPS.runtime]
    Session = Annotated[AsyncSession, DEPS.session]          # reads: nothing is committed
    UnitOfWork = Annotated[AsyncSession, DEPS.unit_of_work]  # writes: committed before the response

The aliases are written out (``Annotated[...]``) rather than returned by a function so that a type checker
reads them as types: mypy accepts any expression as ``Annotated`` metadata, but not a call as a type.

**The unit of work.** A write route takes ``session: UnitOfWork`` and never commits: when the route
function returns, the transaction is committed, and only then is the response sent; if the route raises
(a :class:`~lkg.common.http.problems.DomainError`, a 412 from
:func:`~lkg.common.http.concurrency.update_if_revision`, anything), it is rolled back and the error answers.
A commit that fails (a deferred constraint, a serialization failure, a lost connection) answers with the
error (500 problem+json), never with the 200 the route had prepared. This is FastAPI's dependency scope
``"function"``: its exit runs after the route function has returned its response object and before that
response is sent (a ``"request"``-scoped dependency exits only after the response has gone out, too late to
report a failed commit). Everything the response carries is computed inside the transaction, which is what
the two edge conventions need:

* ETag: the use case's conditional UPDATE returns the new revision inside the transaction, so
  ``etag_header(id, revision)`` is set on the response before the commit; a failed commit discards it.
* Idempotency-Key: :func:`~lkg.common.http.idempotency.idempotent_create` stores the rendered response in
  the same transaction as the create, so the create, the stored replay and the answer commit together or
  not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypeVar

from lkg.common.runtime.service import ServiceRuntime
from lkg.common.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings, default=ServiceSettings)


def runtime_for(service: str) -> Callable[[Request], Awaitable[ServiceRuntime[Any]]]:
    """The service's runtime. ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency
    in its thread pool, a thread hop on every request (measured by bench/registry.py)."""

    async def dependency(request: Request) -> ServiceRuntime[Any]:
        runtime: ServiceRuntime[Any] = request.app.state.runtimes[service]
        return runtime

    dependency.__name__ = f"{service}_runtime"
    return dependency


def session_for(service: str) -> Callable[[Request], AsyncIterator[AsyncSession]]:
    """A session per request for reads: closed (its transaction rolled back) when the request is done.
    A route that writes takes :func:`unit_of_work_for` instead."""

    async def dependency(request: Request) -> AsyncIterator[AsyncSession]:
        runtime: ServiceRuntime[Any] = request.app.state.runtimes[service]
        async with runtime.db.sessions() as session:
            yield session

    dependency.__name__ = f"{service}_session"
    return dependency


def unit_of_work_for(service: str) -> Callable[[Request], AsyncIterator[AsyncSession]]:
    """A write route's session: committed when the route returns, rolled back if it raises. Use it with
    ``Depends(..., scope="function")`` (as :attr:`ServiceDeps.unit_of_work` does), so that the commit runs
    before the response is sent."""

    async def dependency(request: Request) -> AsyncIterator[AsyncSession]:
        runtime: ServiceRuntime[Any] = request.app.state.runtimes[service]
        async with runtime.db.transaction() as session:
            yield session

    dependency.__name__ = f"{service}_unit_of_work"
    return dependency


class ServiceDeps(Generic[S]):
    """The dependency markers of one service, for its ``Annotated`` aliases (see the module docstring).

    ``S`` is the service's settings class: ``Annotated[ServiceRuntime[S], deps.runtime]`` gives routes
    ``runtime.settings`` typed as the service's own settings.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        #: ``Annotated[ServiceRuntime[S], deps.runtime]``
        self.runtime: Any = Depends(runtime_for(service))
        #: ``Annotated[AsyncSession, deps.session]``: reads, nothing committed.
        self.session: Any = Depends(session_for(service))
        #: ``Annotated[AsyncSession, deps.unit_of_work]``: a write's one transaction, committed before the
        #: response is sent, rolled back on any error.
        self.unit_of_work: Any = Depends(unit_of_work_for(service), scope="function")
