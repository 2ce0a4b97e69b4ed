"""The building block of every service's ``Caller``: who calls (the verified token's :class:`Principal`) and
what they act for today (the :class:`Reach` from the org read copy, or the registry's own directory), and
the one rule of access: **decide what the caller may see before anything reveals whether a thing exists**.

Each service that checks access defines its one ``Caller`` in its ``access.py`` on this base, with its own
rules (which roles see everything, a query clause for what the caller sees, what the caller may do)::

    @dataclass(frozen=True, slots=True)
    class Caller(BaseCaller):
        SEE_ALL: ClassVar[frozenset[Role]] = frozenset({Role.TOP_LEADER, Role.MAJOR_PROJECTS_OFFICE, ...})

        def visibility(self) -> sa.ColumnElement[bool]: ...   # what it sees, as a WHERE clause

and builds it per request with :func:`caller_dependency` (``deps.py``)::

    CallerDep = Annotated[Caller, Depends(caller_dependency(Caller.of))]

A use case then loads a thing *through* the caller's visibility, and only then checks what the caller may
do (403), the state (409) and the revision (412): :func:`visible` turns "missing" and "hidden" into the
same 404, :func:`permitted` answers the 403 of a visible thing the caller may not touch.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Self, TypeVar

from fastapi import Request

from lkg.common.auth import EMPTY_REACH, Principal, Reach, Role, get_current_principal, get_current_reach
from lkg.common.http.problems import DomainError, Forbidden, NotFound

C = TypeVar("C", bound="BaseCaller")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BaseCaller:
    """The caller of one request: ``principal`` (who, with which roles and scopes) and ``reach`` (the
    units, lines and posts they act for today); ``sees_all`` when a role lets them see everything."""

    #: Roles whose holders see everything the service has (each service names its own).
    SEE_ALL: ClassVar[frozenset[Role]] = frozenset()

    principal: Principal
    reach: Reach = EMPTY_REACH
    sees_all: bool = False

    @classmethod
    def of(cls, principal: Principal, reach: Reach) -> Self:
        """The caller of ``principal`` with ``reach``; ``sees_all`` from :attr:`SEE_ALL`."""
        return cls(principal=principal, reach=reach, sees_all=principal.has_role(*cls.SEE_ALL))

    @property
    def actor(self) -> str:
        """Who, as the history and the audit write it (``person:…`` / ``client:…``)."""
        return self.principal.key

    @property
    def person_id(self) -> uuid.UUID | None:
        """The registry person behind the token, if it names one."""
        try:
            return uuid.UUID(self.principal.person_id or "")
        except ValueError:
            return None

    @property
    def units(self) -> frozenset[uuid.UUID]:
        return self.reach.units

    @property
    def lines(self) -> frozenset[uuid.UUID]:
        return self.reach.lines

    @property
    def posts(self) -> frozenset[uuid.UUID]:
        return self.reach.posts

    def has_role(self, *roles: Role) -> bool:
        return self.principal.has_role(*roles)

    def acts_for(
        self,
        *,
        units: Iterable[uuid.UUID | None] = (),
        lines: Iterable[uuid.UUID | None] = (),
        posts: Iterable[uuid.UUID | None] = (),
    ) -> bool:
        """Whether the caller acts for any of these units, lines or posts (``None`` entries never match)."""
        return (
            any(u in self.reach.units for u in units if u is not None)
            or any(line in self.reach.lines for line in lines if line is not None)
            or any(p in self.reach.posts for p in posts if p is not None)
        )


def caller_dependency(
    build: Callable[[Principal, Reach], C] | Callable[[Principal, Reach], Awaitable[C]],
) -> Callable[[Request], Awaitable[C]]:
    """A FastAPI dependency giving the request's caller: the verified principal and its reach, resolved by
    the reach resolver of the service whose route matched (:func:`lkg.common.auth.get_current_reach`),
    handed to ``build`` (e.g. ``Caller.of``). ``async`` so FastAPI does not run it in a thread."""

    async def dependency(request: Request) -> C:
        principal = await get_current_principal(request)
        reach = await get_current_reach(request)
        built = build(principal, reach)
        if isinstance(built, Awaitable):
            return await built
        return built

    dependency.__name__ = "current_caller"
    return dependency


def visible(found: T | None, sees: bool | Callable[[T], bool], not_found: DomainError | None = None) -> T:
    """``found`` if it exists and the caller sees it; else the same 404 for both cases, so that a caller
    never learns that a thing outside their reach exists. ``sees`` is the caller's verdict on the thing
    (or, when the thing was loaded through the caller's visibility clause, ``True``)."""
    if found is None or not (sees(found) if callable(sees) else sees):
        raise not_found if not_found is not None else NotFound()
    return found


def permitted(allowed: bool, message: str, *, code: str = "forbidden") -> None:
    """403 when a caller who sees a thing may not do this to it (checked after :func:`visible`)."""
    if not allowed:
        raise Forbidden(message, code=code)
