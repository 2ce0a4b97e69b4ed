"""The shared org read copy: who acts for which unit, line and post, built from ``org.changed``.

Every service needs the org directory at request time ("looked up in the org read copy at request time, so a
handover takes effect at once"), and approvals and issues need lines, their leader posts and service
departments, and the special units (重大项目办, 行政审批局, 督查室, 统计局) by role. The registry owns the
directory and publishes :class:`~lkg.common.events.contracts.OrgChanged` with every changed entry in full;
this module keeps a copy of those entries in the consuming service's own database, mirroring
:mod:`lkg.common.readcopy`:

* :func:`define_org_copy` declares the tables (``org_unit_copy``, ``org_post_copy``, ``org_person_copy``,
  ``org_holding_copy``, ``org_line_copy``, ``org_routing_rule_copy``): each keyed by the entry's id, with
  the entry's ``revision``, the entry itself as JSONB, and the columns queries need.
* :func:`create_org_copy_tables` / :func:`drop_org_copy_tables` for a service's Alembic migration.
* :func:`org_copy_subscriptions` applies ``OrgChanged`` entries, each only if newer (``upsert_if_newer``
  on the entry's own revision), so reordered or repeated events converge; its ``on_applied`` hook runs a
  service's own consequences in the same transaction, only when some entry was applied
  (:func:`apply_org_changes` returns the applied entries, :class:`OrgCopyChange`).
* :class:`OrgReachResolver` implements :class:`lkg.common.auth.ReachResolver` from the copy, on the shared
  clock's date, plus the look-ups services need (``line``, ``units_with_role``, ``holder_of``...).

Entries are end-dated, never deleted; every query here asks "in force on this day" (both ends inclusive).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import EMPTY_REACH, Principal, Reach
from lkg.common.events.base import Envelope
from lkg.common.events.contracts import (
    LineSnapshot,
    OrgChanged,
    PersonSnapshot,
    PostHoldingSnapshot,
    PostKind,
    PostSnapshot,
    RoutingRuleSnapshot,
    UnitRole,
    UnitSnapshot,
)
from lkg.common.events.inbox import Subscription, upsert_if_newer

if TYPE_CHECKING:
    from lkg.common.runtime.service import ServiceRuntime

E = TypeVar("E", bound=BaseModel)


@dataclass(frozen=True)
class OrgCopyTables:
    """The six tables of a service's org read copy."""

    units: sa.Table
    posts: sa.Table
    people: sa.Table
    holdings: sa.Table
    lines: sa.Table
    routing_rules: sa.Table

    @property
    def names(self) -> tuple[str, ...]:
        """For ``ServiceSpec.read_copy_tables`` (emptied by ``lkg replay --rebuild``)."""
        return tuple(t.name for t in self.all)

    @property
    def all(self) -> tuple[sa.Table, ...]:
        return (self.units, self.posts, self.people, self.holdings, self.lines, self.routing_rules)


def _common(dated: bool = True) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [
        sa.Column("id", PG_UUID(as_uuid=True), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
    ]
    if dated:
        columns += [
            sa.Column("valid_from", sa.Date, nullable=False),
            sa.Column("valid_to", sa.Date, nullable=True),
        ]
    return columns


def _tail() -> list[sa.Column]:
    return [
        sa.Column("entry", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def define_org_copy(metadata: sa.MetaData) -> OrgCopyTables:
    """Declare the org copy tables on a service's metadata."""
    uuid = PG_UUID(as_uuid=True)
    return OrgCopyTables(
        units=sa.Table(
            "org_unit_copy",
            metadata,
            *_common(),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("roles", ARRAY(sa.Text), nullable=False),
            *_tail(),
        ),
        posts=sa.Table(
            "org_post_copy",
            metadata,
            *_common(),
            sa.Column("unit_id", uuid, nullable=False, index=True),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            *_tail(),
        ),
        people=sa.Table(
            "org_person_copy",
            metadata,
            *_common(dated=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("active", sa.Boolean, nullable=False),
            *_tail(),
        ),
        holdings=sa.Table(
            "org_holding_copy",
            metadata,
            *_common(),
            sa.Column("post_id", uuid, nullable=False, index=True),
            sa.Column("person_id", uuid, nullable=False, index=True),
            *_tail(),
        ),
        lines=sa.Table(
            "org_line_copy",
            metadata,
            *_common(),
            sa.Column("number", sa.Integer, nullable=False),
            sa.Column("leader_post_id", uuid, nullable=False, index=True),
            sa.Column("service_unit_id", uuid, nullable=False, index=True),
            *_tail(),
        ),
        routing_rules=sa.Table(
            "org_routing_rule_copy",
            metadata,
            *_common(),
            sa.Column("basis", sa.Text, nullable=False),
            sa.Column("line_id", uuid, nullable=False),
            *_tail(),
        ),
    )


def create_org_copy_tables(op: Any) -> None:
    """Create the org copy tables in a service's Alembic migration (``create_org_copy_tables(op)``)."""
    tables = define_org_copy(sa.MetaData(naming_convention=_naming()))
    bind = op.get_bind()
    for table in tables.all:
        table.create(bind)


def drop_org_copy_tables(op: Any) -> None:
    tables = define_org_copy(sa.MetaData(naming_convention=_naming()))
    bind = op.get_bind()
    for table in reversed(tables.all):
        table.drop(bind)


def _naming() -> dict[str, str]:
    from lkg.common.db import NAMING_CONVENTION

    return dict(NAMING_CONVENTION)


# ---- applying events ------------------------------------------------------------------------------


def _dated(entry: Any) -> dict[str, Any]:
    return {"valid_from": entry.valid_from, "valid_to": entry.valid_to}


def _row(entry: BaseModel, **columns: Any) -> dict[str, Any]:
    return {
        "id": entry.id,  # type: ignore[attr-defined]
        "revision": entry.revision,  # type: ignore[attr-defined]
        **columns,
        "entry": entry.model_dump(mode="json"),
        "updated_at": sa.func.now(),
    }


@dataclass(frozen=True)
class OrgCopyChange:
    """The entries of one ``org.changed`` that the copy took (each newer than the one held); the rest were
    stale or repeated and changed nothing."""

    units: tuple[UnitSnapshot, ...] = ()
    posts: tuple[PostSnapshot, ...] = ()
    people: tuple[PersonSnapshot, ...] = ()
    holdings: tuple[PostHoldingSnapshot, ...] = ()
    lines: tuple[LineSnapshot, ...] = ()
    routing_rules: tuple[RoutingRuleSnapshot, ...] = ()

    @property
    def count(self) -> int:
        return sum(
            len(part)
            for part in (self.units, self.posts, self.people, self.holdings, self.lines, self.routing_rules)
        )


async def apply_org_changes(session: AsyncSession, tables: OrgCopyTables, event: OrgChanged) -> OrgCopyChange:
    """Upsert every entry of ``event`` that is newer than the copy's; the entries that were applied."""

    async def take(
        table: sa.Table, entries: Sequence[E], row: Callable[[E], dict[str, Any]]
    ) -> tuple[E, ...]:
        return tuple([entry for entry in entries if await upsert_if_newer(session, table, row(entry))])

    return OrgCopyChange(
        units=await take(
            tables.units,
            event.units,
            lambda u: _row(u, **_dated(u), name=u.name, kind=str(u.kind), roles=[str(r) for r in u.roles]),
        ),
        posts=await take(
            tables.posts,
            event.posts,
            lambda p: _row(p, **_dated(p), unit_id=p.unit_id, kind=str(p.kind), title=p.title),
        ),
        people=await take(tables.people, event.people, lambda p: _row(p, name=p.name, active=p.active)),
        holdings=await take(
            tables.holdings,
            event.holdings,
            lambda h: _row(h, **_dated(h), post_id=h.post_id, person_id=h.person_id),
        ),
        lines=await take(
            tables.lines,
            event.lines,
            lambda line: _row(
                line,
                **_dated(line),
                number=line.number,
                leader_post_id=line.leader_post_id,
                service_unit_id=line.service_unit_id,
            ),
        ),
        routing_rules=await take(
            tables.routing_rules,
            event.routing_rules,
            lambda r: _row(r, **_dated(r), basis=str(r.basis), line_id=r.line_id),
        ),
    )


async def apply_org_changed(session: AsyncSession, tables: OrgCopyTables, event: OrgChanged) -> int:
    """Upsert every entry of ``event`` that is newer than the copy's; returns how many were applied."""
    return (await apply_org_changes(session, tables, event)).count


#: ``on_applied(session, envelope, event, change)``: a service's consequences of org entries the copy took.
OnOrgApplied = Callable[[AsyncSession, Envelope, OrgChanged, OrgCopyChange], Awaitable[None]]


def org_copy_subscriptions(
    tables: OrgCopyTables, on_applied: OnOrgApplied | None = None
) -> list[Subscription]:
    """Handlers keeping ``tables`` in step with the registry's ``org.changed`` events; ``on_applied`` runs in
    the same transaction when at least one entry was applied, never for a wholly stale or repeated event."""

    async def apply(session: AsyncSession, envelope: Envelope, event: OrgChanged) -> None:
        change = await apply_org_changes(session, tables, event)
        if change.count and on_applied is not None:
            await on_applied(session, envelope, event, change)

    return [Subscription(OrgChanged, apply)]


# ---- queries --------------------------------------------------------------------------------------


def in_force(table: sa.Table, day: date) -> sa.ColumnElement[bool]:
    """Entries of ``table`` in force on ``day`` (both ends inclusive)."""
    return sa.and_(table.c.valid_from <= day, sa.or_(table.c.valid_to.is_(None), table.c.valid_to >= day))


def _parse_uuid(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _reach_statement(tables: OrgCopyTables, person_id: UUID, day: date) -> sa.CompoundSelect:
    """One statement for :func:`reach_of`: the posts (with their units) ``person_id`` holds on ``day``,
    then the lines in force whose leader post is one of them or whose service department one of their
    units, as ``(post_id, unit_id, line_id)`` rows (a post row has no line, a line row no post)."""
    h, p, ln = tables.holdings, tables.posts, tables.lines
    held = (
        sa.select(p.c.id.label("post_id"), p.c.unit_id.label("unit_id"))
        .select_from(h.join(p, p.c.id == h.c.post_id))
        .where(h.c.person_id == person_id, in_force(h, day), in_force(p, day))
        .cte("held")
    )
    posts = sa.select(held.c.post_id, held.c.unit_id, sa.null().label("line_id"))
    lines = sa.select(sa.null(), sa.null(), ln.c.id).where(
        in_force(ln, day),
        sa.or_(
            ln.c.leader_post_id.in_(sa.select(held.c.post_id)),
            ln.c.service_unit_id.in_(sa.select(held.c.unit_id)),
        ),
    )
    return sa.union_all(posts, lines)


def _reach_sql(tables: OrgCopyTables) -> str:
    """:func:`_reach_statement` as fixed SQL for the driver (``$1`` the person, ``$2`` the day), sent by
    :meth:`OrgReachResolver.resolve` on every request."""
    h, p, ln = tables.holdings.name, tables.posts.name, tables.lines.name

    def in_force_sql(alias: str) -> str:
        return f"{alias}.valid_from <= $2 AND ({alias}.valid_to IS NULL OR {alias}.valid_to >= $2)"

    return (
        f"WITH held AS (SELECT p.id AS post_id, p.unit_id AS unit_id FROM {h} AS h JOIN {p} AS p ON p.id = "
        f"h.post_id WHERE h.person_id = $1 AND {in_force_sql('h')} AND {in_force_sql('p')}) "
        "SELECT post_id, unit_id, NULL::uuid AS line_id FROM held "
        f"UNION ALL SELECT NULL::uuid, NULL::uuid, ln.id FROM {ln} AS ln WHERE {in_force_sql('ln')} AND "
        "(ln.leader_post_id IN (SELECT post_id FROM held) "
        "OR ln.service_unit_id IN (SELECT unit_id FROM held))"
    )


def _reach_from(rows: Sequence[Sequence[Any]]) -> Reach:
    """The reach from ``(post_id, unit_id, line_id)`` rows (:func:`_reach_statement`)."""
    posts = frozenset(post for post, _unit, _line in rows if post is not None)
    if not posts:
        return EMPTY_REACH
    return Reach(
        units=frozenset(unit for post, unit, _line in rows if post is not None),
        lines=frozenset(line for _post, _unit, line in rows if line is not None),
        posts=posts,
    )


async def reach_of(session: AsyncSession, tables: OrgCopyTables, person_id: UUID, day: date) -> Reach:
    """The units, lines and posts ``person_id`` acts for on ``day``: holdings in force → their posts → the
    posts' units; lines whose leader post is one of those posts or whose service department is one of
    those units (the service department acts for the line leader, §二(二)). One statement."""
    return _reach_from((await session.execute(_reach_statement(tables, person_id, day))).all())


async def _entries(session: AsyncSession, table: sa.Table, model: type[E], *where: Any) -> list[E]:
    result = await session.execute(sa.select(table.c.entry).where(*where))
    return [model.model_validate(entry) for entry in result.scalars()]


class OrgReachResolver:
    """:class:`lkg.common.auth.ReachResolver` from a service's org read copy, plus the look-ups services need.

    Every method reads "now" as the shared clock's date (``runtime.clock``), so a handover effective today
    takes effect at once. Each method opens its own session unless one is passed (a handler running inside
    the inbox transaction passes its own).
    """

    def __init__(self, runtime: ServiceRuntime, tables: OrgCopyTables) -> None:
        self.runtime = runtime
        self.tables = tables
        self._reach_sql = _reach_sql(tables)

    def today(self) -> date:
        return self.runtime.clock.now().date()

    async def _run(self, session: AsyncSession | None, query: Any) -> Any:
        if session is not None:
            return await query(session)
        async with self.runtime.db.sessions() as own:
            return await query(own)

    async def resolve(self, principal: Principal) -> Reach:
        person = _parse_uuid(principal.person_id)
        if person is None:
            return EMPTY_REACH
        # Resolved on every request, so that a handover takes effect at once (on every replica: nothing is
        # cached here). One fixed statement sent by the driver on a pooled connection, outside a
        # transaction: one round trip, where a session costs a BEGIN and a ROLLBACK around it and
        # SQLAlchemy builds, keys and compiles the statement again on every call.
        day = self.today()
        async with self.runtime.db.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            if not isinstance(driver, asyncpg.Connection):  # not on asyncpg: through SQLAlchemy
                return _reach_from(
                    (await connection.execute(_reach_statement(self.tables, person, day))).all()
                )
            return _reach_from(await driver.fetch(self._reach_sql, person, day))

    async def reach(
        self, person_id: UUID, *, day: date | None = None, session: AsyncSession | None = None
    ) -> Reach:
        on = day or self.today()
        return await self._run(session, lambda s: reach_of(s, self.tables, person_id, on))

    async def line(
        self, line_id: UUID, *, day: date | None = None, session: AsyncSession | None = None
    ) -> LineSnapshot | None:
        """The line (its ``leader_post_id`` and ``service_unit_id``) if it is in force on ``day``."""
        t, on = self.tables.lines, day or self.today()
        found = await self._run(
            session, lambda s: _entries(s, t, LineSnapshot, t.c.id == line_id, in_force(t, on))
        )
        return found[0] if found else None

    async def lines(
        self, *, day: date | None = None, session: AsyncSession | None = None
    ) -> list[LineSnapshot]:
        t, on = self.tables.lines, day or self.today()
        found = await self._run(session, lambda s: _entries(s, t, LineSnapshot, in_force(t, on)))
        return sorted(found, key=lambda line: line.number)

    async def unit(
        self, unit_id: UUID, *, day: date | None = None, session: AsyncSession | None = None
    ) -> UnitSnapshot | None:
        t, on = self.tables.units, day or self.today()
        found = await self._run(
            session, lambda s: _entries(s, t, UnitSnapshot, t.c.id == unit_id, in_force(t, on))
        )
        return found[0] if found else None

    async def units_with_role(
        self, role: UnitRole, *, day: date | None = None, session: AsyncSession | None = None
    ) -> list[UnitSnapshot]:
        """Units holding a role (区重大项目办, 行政审批局, 督查室, 统计局...): by role, not by name."""
        t, on = self.tables.units, day or self.today()
        found = await self._run(
            session,
            lambda s: _entries(
                s, t, UnitSnapshot, sa.literal(str(role)) == sa.any_(t.c.roles), in_force(t, on)
            ),
        )
        return sorted(found, key=lambda u: u.name)

    async def post(
        self, post_id: UUID, *, day: date | None = None, session: AsyncSession | None = None
    ) -> PostSnapshot | None:
        t, on = self.tables.posts, day or self.today()
        found = await self._run(
            session, lambda s: _entries(s, t, PostSnapshot, t.c.id == post_id, in_force(t, on))
        )
        return found[0] if found else None

    async def posts_of_unit(
        self,
        unit_id: UUID,
        *,
        kind: PostKind | None = None,
        day: date | None = None,
        session: AsyncSession | None = None,
    ) -> list[PostSnapshot]:
        t, on = self.tables.posts, day or self.today()
        where = [t.c.unit_id == unit_id, in_force(t, on)]
        if kind is not None:
            where.append(t.c.kind == str(kind))
        found = await self._run(session, lambda s: _entries(s, t, PostSnapshot, *where))
        return sorted(found, key=lambda p: p.title)

    async def holdings_of(
        self, post_id: UUID, *, day: date | None = None, session: AsyncSession | None = None
    ) -> list[PostHoldingSnapshot]:
        """Holdings of a post in force on ``day``: substantive holders first, then acting ones."""
        t, on = self.tables.holdings, day or self.today()
        found = await self._run(
            session, lambda s: _entries(s, t, PostHoldingSnapshot, t.c.post_id == post_id, in_force(t, on))
        )
        return sorted(found, key=lambda h: (h.acting, h.valid_from, str(h.person_id)))

    async def holder_of(
        self, post_id: UUID, *, day: date | None = None, session: AsyncSession | None = None
    ) -> UUID | None:
        """The person holding ``post_id`` on ``day`` (the substantive holder before an acting one)."""
        holdings = await self.holdings_of(post_id, day=day, session=session)
        return holdings[0].person_id if holdings else None

    async def person(self, person_id: UUID, *, session: AsyncSession | None = None) -> PersonSnapshot | None:
        t = self.tables.people
        found = await self._run(session, lambda s: _entries(s, t, PersonSnapshot, t.c.id == person_id))
        return found[0] if found else None

    async def routing_rules(
        self, *, day: date | None = None, session: AsyncSession | None = None
    ) -> list[RoutingRuleSnapshot]:
        t, on = self.tables.routing_rules, day or self.today()
        return await self._run(session, lambda s: _entries(s, t, RoutingRuleSnapshot, in_force(t, on)))


__all__: Sequence[str] = (
    "OrgCopyTables",
    "OrgReachResolver",
    "apply_org_changed",
    "create_org_copy_tables",
    "define_org_copy",
    "drop_org_copy_tables",
    "in_force",
    "org_copy_subscriptions",
    "reach_of",
)
