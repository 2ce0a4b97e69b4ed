"""Who sees and edits which projects (DESIGN §3 Access), from the registry's own org directory.

The registry owns the directory, so it resolves a caller's reach from its own tables (other services use
:class:`lkg.common.orgcopy.OrgReachResolver` over their read copy): holdings in force on the shared clock's
date → posts → units; lines led by those posts or served by those units. A project outside the caller's
reach is a 404; one they see but may not change is a 403.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import EMPTY_REACH, Principal, Reach, Role
from lkg.common.http.problems import Forbidden, NotFound
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry import reads
from lkg.registry.models import Project
from lkg.registry.org.models import DIRECTORY_ID
from lkg.registry.org.service import Directory, load_directory
from lkg.registry.service import Visibility

#: Roles that see every project: 重大项目办, top leaders, 督查室 (DESIGN §3), and the bureaus whose work
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
#: Roles that decide flags, line overrides and the baseline.
OFFICE = frozenset({Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN})
#: The scope a client system needs to read the register.
READ_SCOPE = "projects:read"
WRITE_SCOPE = "projects:write"


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

_VERSION = sa.text(
    "SELECT current_database() AS db, xmin::text AS xmin, revision FROM org_directory WHERE id = :id"
)


async def reach_of(session: AsyncSession, person: uuid.UUID, day: date) -> Reach:
    """The reach of ``person`` on ``day`` from the directory as this session sees it (cached per version)."""
    version = (await session.execute(_VERSION, {"id": DIRECTORY_ID})).first()
    if version is None:
        return EMPTY_REACH  # no directory loaded yet: nobody holds a post
    key = (version.db, version.xmin, version.revision, person, day)
    reach = _REACHES.get(key)
    if reach is None:
        reach = reach_in(await load_directory(session, kinds=["post", "holding", "line"]), person, day)
        _REACHES[key] = reach
        if len(_REACHES) > _REACHES_KEPT:
            _REACHES.popitem(last=False)
    else:
        _REACHES.move_to_end(key)
    return reach


class DirectoryReachResolver:
    """:class:`lkg.common.auth.ReachResolver` over the registry's own directory."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def resolve(self, principal: Principal) -> Reach:
        try:
            person = uuid.UUID(principal.person_id or "")
        except ValueError:
            return EMPTY_REACH
        async with self.runtime.db.sessions() as session:
            return await reach_of(session, person, self.runtime.clock.now().date())


_SEES_ALL = Visibility(all=True)
_SEES_NOTHING = Visibility(all=False)


def _without_reach(principal: Principal) -> Visibility | uuid.UUID:
    """The visibility that needs no directory (clients with the read scope, roles that see everything,
    no person), or else the person whose reach decides it."""
    is_client = principal.kind == "client" or principal.client_id is not None
    if is_client and (READ_SCOPE in principal.scopes or Role.ADMIN in principal.roles):
        return _SEES_ALL
    if not principal.roles.isdisjoint(SEE_ALL):
        return _SEES_ALL
    try:
        return uuid.UUID(principal.person_id or "")
    except ValueError:
        return _SEES_NOTHING


async def visibility(session: AsyncSession, principal: Principal, day: date) -> Visibility:
    person = _without_reach(principal)
    if isinstance(person, Visibility):
        return person
    reach = await reach_of(session, person, day)
    return Visibility(all=False, units=reach.units, lines=reach.lines)


_VERSION_SQL = (
    "SELECT current_database() AS db, xmin::text AS xmin, revision FROM org_directory WHERE id = $1"
)


async def read_visibility(runtime: ServiceRuntime, principal: Principal, day: date) -> Visibility:
    """:func:`visibility` for the read path (:mod:`lkg.registry.reads`): the directory's version is read on
    a pooled connection without a transaction, and an ORM session is opened only when the reach of that
    version is not cached yet."""
    person = _without_reach(principal)
    if isinstance(person, Visibility):
        return person
    async with reads.connection(runtime.db.engine) as conn:
        version = await conn.fetchrow(_VERSION_SQL, DIRECTORY_ID)
    if version is None:
        return _SEES_NOTHING  # no directory loaded yet: nobody holds a post
    key = (version["db"], version["xmin"], version["revision"], person, day)
    reach = _REACHES.get(key)
    if reach is None:
        async with runtime.db.sessions() as session:
            directory = await load_directory(session, kinds=["post", "holding", "line"])
        reach = reach_in(directory, person, day)
        _REACHES[key] = reach
        if len(_REACHES) > _REACHES_KEPT:
            _REACHES.popitem(last=False)
    else:
        _REACHES.move_to_end(key)
    return Visibility(all=False, units=reach.units, lines=reach.lines)


def ensure_visible(project: Project, seen: Visibility) -> None:
    if not seen.sees(project):
        raise NotFound("项目不存在", code="project_not_found")


def ensure_unit_editor(project: Project, principal: Principal, seen: Visibility) -> None:
    """Units edit their own projects' facts and actual dates; 重大项目办 edits every project's."""
    if not principal.roles.isdisjoint(OFFICE):
        return
    if principal.client_id is not None and WRITE_SCOPE in principal.scopes:
        return
    if Role.UNIT_USER in principal.roles and project.responsible_unit_id in seen.units:
        return
    raise Forbidden("只有项目责任单位或重大项目办可以修改此项目", code="forbidden")


def ensure_office(principal: Principal) -> None:
    if principal.roles.isdisjoint(OFFICE):
        raise Forbidden("此操作由重大项目办执行", code="forbidden")
