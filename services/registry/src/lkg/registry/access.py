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
from typing import ClassVar, Self

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.access import BaseCaller, permitted
from lkg.common.auth import EMPTY_REACH, Principal, Reach, Role
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry.connections import connection
from lkg.registry.org.models import DIRECTORY_ID
from lkg.registry.org.service import Directory, load_directory
from lkg.registry.settings import RegistrySettings

#: Roles that see every project: 重大项目办, top leaders, 督查室 (policy §二), and the bureaus whose work
#: spans the portfolio (审批局 for approvals, 统计局 for enrolment, 商务局 for integrity reviews and
#: termination, §四(四)).
SEE_ALL = frozenset(
    {
        Role.MAJOR_PROJECTS_OFFICE,
        Role.TOP_LEADER,
        Role.SUPERVISION_OFFICE,
        Role.ADMIN,
        Role.APPROVAL_BUREAU,
        Role.STATISTICS_BUREAU,
        Role.COMMERCE_BUREAU,
    }
)
#: Roles that decide flags, line overrides and the baseline, and change every project's facts.
OFFICE = frozenset({Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})
#: The scope a client system needs to read the register, and to change it.
READ_SCOPE = "projects:read"
WRITE_SCOPE = "projects:write"


@dataclass(frozen=True, slots=True)
class Caller(BaseCaller):
    """The caller of a use case (:class:`lkg.common.access.BaseCaller`): who (``principal``) and the units
    and lines they act for (``reach``, from the directory on the shared clock's date). ``sees_all``: every
    project (roles in :data:`SEE_ALL`, and client systems with the read scope)."""

    SEE_ALL: ClassVar[frozenset[Role]] = SEE_ALL

    @classmethod
    def of(cls, principal: Principal, reach: Reach) -> Self:
        return cls(principal=principal, reach=reach, sees_all=_sees_all(principal))

    def sees(self, responsible_unit_id: uuid.UUID, line_id: uuid.UUID | None) -> bool:
        """Whether the caller sees a project of this responsible unit and line."""
        return self.sees_all or self.acts_for(units=[responsible_unit_id], lines=[line_id])

    @property
    def is_office(self) -> bool:
        return self.has_role(*OFFICE)

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
        permitted(self.may_edit(responsible_unit_id), "只有项目责任单位或重大项目办可以修改此项目")

    @property
    def records_for_any_unit(self) -> bool:
        """重大项目办 and a client system with the write scope record on any unit's behalf."""
        p = self.principal
        return self.is_office or (p.client_id is not None and WRITE_SCOPE in p.scopes)


async def ensure_acts_for(session: AsyncSession, caller: Caller, unit_id: uuid.UUID, day: date) -> None:
    """A body field naming the unit on whose behalf something is done (``reported_by_unit_id``) must be a
    unit the caller acts for on ``day`` (issue 11 item 1: a street posted an investment report as another
    street's), unless the caller records for any unit. A caller who sees every project carries no reach
    (none is needed to read), so theirs is read here."""
    if caller.records_for_any_unit:
        return
    units = caller.reach.units
    if caller.sees_all and caller.person_id is not None:
        units = (await reach_of(session, caller.person_id, day)).units
    permitted(unit_id in units, "只能以本人所在单位的名义报送", code="not_acting_for_unit")


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
    """:class:`lkg.common.auth.ReachResolver` over the registry's own directory, through the read path's
    plain connection (:func:`reach_on`): the dependency every route's caller comes from
    (:func:`lkg.common.access.caller_dependency`)."""

    def __init__(self, runtime: ServiceRuntime[RegistrySettings]) -> None:
        self.runtime = runtime

    async def resolve(self, principal: Principal) -> Reach:
        return await _reach(self.runtime, principal, self.runtime.clock.now().date())


def _is_client(principal: Principal) -> bool:
    return principal.kind == "client" or principal.client_id is not None


def _sees_all(principal: Principal) -> bool:
    if _is_client(principal) and (READ_SCOPE in principal.scopes or Role.ADMIN in principal.roles):
        return True
    return not principal.roles.isdisjoint(SEE_ALL)


async def caller_of(session: AsyncSession, principal: Principal, day: date) -> Caller:
    """The :class:`Caller` of ``principal`` on ``day``, its reach read in ``session``."""
    if _sees_all(principal):
        return Caller.of(principal, EMPTY_REACH)
    try:
        person = uuid.UUID(principal.person_id or "")
    except ValueError:
        return Caller.of(principal, EMPTY_REACH)
    return Caller.of(principal, await reach_of(session, person, day))


async def reach_on(runtime: ServiceRuntime[RegistrySettings], person: uuid.UUID, day: date) -> Reach:
    """:func:`reach_of` for the read path (:mod:`lkg.registry.projects.reads`): the directory's version is
    read on a pooled connection without a transaction, and an ORM session is opened only when the reach of
    that version is not cached yet."""
    async with connection(runtime.db.engine) as conn:
        version = await conn.fetchrow(_VERSION, DIRECTORY_ID)
    if version is None:
        return EMPTY_REACH  # no directory loaded yet: nobody holds a post
    key = (version["db"], version["xmin"], version["revision"], person, day)
    reach = _cached(key)
    if reach is None:
        async with runtime.db.sessions() as session:
            directory = await load_directory(session, kinds=["post", "holding", "line"])
        reach = _keep(key, reach_in(directory, person, day))
    return reach


async def _reach(runtime: ServiceRuntime[RegistrySettings], principal: Principal, day: date) -> Reach:
    if _sees_all(principal):
        return EMPTY_REACH  # sees every project: no directory needed
    try:
        person = uuid.UUID(principal.person_id or "")
    except ValueError:
        return EMPTY_REACH
    return await reach_on(runtime, person, day)


async def read_caller(runtime: ServiceRuntime[RegistrySettings], principal: Principal, day: date) -> Caller:
    """:func:`caller_of` for the read path, its reach from :func:`reach_on`."""
    return Caller.of(principal, await _reach(runtime, principal, day))
