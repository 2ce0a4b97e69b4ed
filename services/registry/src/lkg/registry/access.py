"""Who sees and changes which projects, from the registry's own org directory (docs/accounts.md).

The registry owns the directory, so it resolves a caller's reach from its own tables (other services use
:class:`lkg.common.orgcopy.OrgReachResolver` over their read copy): holdings in force on the shared clock's
date → posts → units; lines led by those posts or served by those units. The one type the use cases take
is :class:`Caller`: the principal and that reach. A project outside it is a 404, the same 404 as a
project that does not exist (nobody learns what exists outside their reach); one they see but may not
change is a 403.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import EMPTY_REACH, Principal, Reach, Role
from lkg.common.http.problems import Forbidden
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry.connections import connection
from lkg.registry.org.models import DIRECTORY_ID
from lkg.registry.org.service import Directory, load_directory
from lkg.registry.settings import RegistrySettings

#: Roles that see every project: 重大项目办, top leaders, 督查室 (policy §二), and the bureaus whose work
#: spans the portfolio (审批局 for approvals, 统计局 for enrolment).
SEE_ALL = frozenset(
    {
        Role.MAJOR_PROJECTS_OFFICE,
        Role.TOP_LEADER,
        Role.SUPERVISION_OFFICE,
        Role.ADMIN,
        Role.APPROVAL_BUREAU,
        Role.STATISTICS_BUREAU,
    }
)
#: Roles that decide flags, line overrides and the baseline, and change every project's facts.
OFFICE = frozenset({Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})
#: The scope a client system needs to read the register, and to change it.
READ_SCOPE = "projects:read"
WRITE_SCOPE = "projects:write"


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of a use case: who (``principal``) and the units and lines they act for (``reach``,
    from the directory on the shared clock's date; empty for those who see every project)."""

    principal: Principal
    reach: Reach = EMPTY_REACH

    @property
    def sees_all(self) -> bool:
        """Every project: roles in :data:`SEE_ALL`, and client systems with the read scope."""
        return _sees_all(self.principal)

    @property
    def actor(self) -> str:
        """Who, as the history and the audit write it (``person:…`` / ``client:…``)."""
        return self.principal.key

    @property
    def units(self) -> frozenset[uuid.UUID]:
        return self.reach.units

    @property
    def lines(self) -> frozenset[uuid.UUID]:
        return self.reach.lines

    def sees(self, responsible_unit_id: uuid.UUID, line_id: uuid.UUID | None) -> bool:
        """Whether the caller sees a project of this responsible unit and line."""
        return self.sees_all or responsible_unit_id in self.reach.units or line_id in self.reach.lines

    @property
    def is_office(self) -> bool:
        return self.principal.has_role(*OFFICE)

    def may_edit(self, responsible_unit_id: uuid.UUID) -> bool:
        """Units change their own projects' facts and actual dates; 重大项目办 (and a client system with the
        write scope) every project's."""
        p = self.principal
        return (
            self.is_office
            or (p.client_id is not None and WRITE_SCOPE in p.scopes)
            or (Role.UNIT_USER in p.roles and responsible_unit_id in self.reach.units)
        )

    def ensure_may_edit(self, responsible_unit_id: uuid.UUID) -> None:
        if not self.may_edit(responsible_unit_id):
            raise Forbidden("只有项目责任单位或重大项目办可以修改此项目", code="forbidden")


def reach_in(directory: Directory, person_id: uuid.UUID, day: date) -> Reach:
    posts = {
        h.post_id for h in directory.holdings.values() if h.person_id == person_id and h.in_force(day)
    } & {p.id for p in directory.posts.values() if p.in_force(day)}
    if not posts:
        return EMPTY_REACH
    units = {directory.posts[p].unit_id for p in posts}
    lines = {
        line.id
        for line in directory.lines.values()
        if line.in_force(day) and (line.leader_post_id in posts or line.service_unit_id in units)
    }
    return Reach(units=frozenset(units), lines=frozenset(lines), posts=frozenset(posts))


#: Reaches computed from a directory version: (database, xmin, revision, person, day) → reach.
_REACHES: OrderedDict[tuple[str, str, int, uuid.UUID, date], Reach] = OrderedDict()
_REACHES_KEPT = 4096
_VERSION = "SELECT current_database() AS db, xmin::text AS xmin, revision FROM org_directory WHERE id = $1"
_VERSION_ORM = sa.text(_VERSION.replace("$1", ":id"))


def _cached(key: tuple[str, str, int, uuid.UUID, date]) -> Reach | None:
    reach = _REACHES.get(key)
    if reach is not None:
        _REACHES.move_to_end(key)
    return reach


def _keep(key: tuple[str, str, int, uuid.UUID, date], reach: Reach) -> Reach:
    _REACHES[key] = reach
    if len(_REACHES) > _REACHES_KEPT:
        _REACHES.popitem(last=False)
    return reach


async def reach_of(session: AsyncSession, person: uuid.UUID, day: date) -> Reach:
    """The reach of ``person`` on ``day`` from the directory as this session sees it (cached per version)."""
    version = (await session.execute(_VERSION_ORM, {"id": DIRECTORY_ID})).first()
    if version is None:
        return EMPTY_REACH  # no directory loaded yet: nobody holds a post
    key = (version.db, version.xmin, version.revision, person, day)
    found = _cached(key)
    if found is not None:
        return found
    return _keep(key, reach_in(await load_directory(session, kinds=["post", "holding", "line"]), person, day))


class DirectoryReachResolver:
    """:class:`lkg.common.auth.ReachResolver` over the registry's own directory."""

    def __init__(self, runtime: ServiceRuntime[RegistrySettings]) -> None:
        self.runtime = runtime

    async def resolve(self, principal: Principal) -> Reach:
        try:
            person = uuid.UUID(principal.person_id or "")
        except ValueError:
            return EMPTY_REACH
        async with self.runtime.db.sessions() as session:
            return await reach_of(session, person, self.runtime.clock.now().date())


def _is_client(principal: Principal) -> bool:
    return principal.kind == "client" or principal.client_id is not None


def _sees_all(principal: Principal) -> bool:
    if _is_client(principal) and (READ_SCOPE in principal.scopes or Role.ADMIN in principal.roles):
        return True
    return not principal.roles.isdisjoint(SEE_ALL)


def _without_reach(principal: Principal) -> Caller | uuid.UUID:
    """The caller that needs no directory (clients with the read scope, roles that see everything, no
    person), or else the person whose reach decides it."""
    if _sees_all(principal):
        return Caller(principal)
    try:
        return uuid.UUID(principal.person_id or "")
    except ValueError:
        return Caller(principal)


async def caller_of(session: AsyncSession, principal: Principal, day: date) -> Caller:
    """The :class:`Caller` of ``principal`` on ``day``, its reach read in ``session``."""
    person = _without_reach(principal)
    if isinstance(person, Caller):
        return person
    return Caller(principal, await reach_of(session, person, day))


async def read_caller(runtime: ServiceRuntime[RegistrySettings], principal: Principal, day: date) -> Caller:
    """:func:`caller_of` for the read path (:mod:`lkg.registry.projects.reads`): the directory's version is
    read on a pooled connection without a transaction, and an ORM session is opened only when the reach of
    that version is not cached yet."""
    person = _without_reach(principal)
    if isinstance(person, Caller):
        return person
    async with connection(runtime.db.engine) as conn:
        version = await conn.fetchrow(_VERSION, DIRECTORY_ID)
    if version is None:
        return Caller(principal)  # no directory loaded yet: nobody holds a post
    key = (version["db"], version["xmin"], version["revision"], person, day)
    reach = _cached(key)
    if reach is None:
        async with runtime.db.sessions() as session:
            directory = await load_directory(session, kinds=["post", "holding", "line"])
        reach = _keep(key, reach_in(directory, person, day))
    return Caller(principal, reach)
