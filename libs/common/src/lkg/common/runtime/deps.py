"""FastAPI dependencies that reach a service's runtime.

Several services can share one FastAPI app (the one-process shape), each with its own database, so a
route asks for *its* service's runtime by name instead of a single ``app.state`` slot::

    SessionDep = Annotated[AsyncSession, Depends(session_for("registry"))]
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.runtime.service import ServiceRuntime


def runtime_for(service: str) -> Callable[[Request], Awaitable[ServiceRuntime]]:
    """The service's runtime. ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency
    in its thread pool, a thread hop on every request (measured by bench/registry.py)."""

    async def dependency(request: Request) -> ServiceRuntime:
        return request.app.state.runtimes[service]

    dependency.__name__ = f"{service}_runtime"
    return dependency


def session_for(service: str) -> Callable[[Request], AsyncIterator[AsyncSession]]:
    """A session per request; the route commits once (use cases never commit)."""

    async def dependency(request: Request) -> AsyncIterator[AsyncSession]:
        runtime: ServiceRuntime = request.app.state.runtimes[service]
        async with runtime.db.sessions() as session:
            yield session

    dependency.__name__ = f"{service}_session"
    return dependency
