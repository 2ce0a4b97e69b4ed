"""Resolving an audience to people on the event's day, from the org read copy (docs/architecture.md: a
message's recipient follows the post through a handover).

* A **post** is told through its holder on that day (the substantive holder before an acting one). A
  vacant post falls back to the **head post of its unit**: the unit's ``unit_head`` post, or, in a
  leadership body (区委, 管委会) which has no such post, its ``district_leader`` post.
* A **unit** is told through everyone holding one of its posts on that day (its staff act for it).
* Nobody found is not an error: the caller records it as ``undeliverable`` for operators.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events import contracts as c
from lkg.common.events.contracts import PostKind, UnitRole
from lkg.common.orgcopy import in_force
from lkg.notifier.kinds import Facts
from lkg.notifier.models import matter_copy, org_copy, project_copy
from lkg.notifier.routing import Audience

_posts, _holdings, _lines, _units = org_copy.posts, org_copy.holdings, org_copy.lines, org_copy.units
_ROLE_NAMES = {
    UnitRole.MAJOR_PROJECTS_OFFICE: "区重大项目办",
    UnitRole.APPROVAL_BUREAU: "区行政审批局",
    UnitRole.STATISTICS_BUREAU: "区统计局",
    UnitRole.SUPERVISION_OFFICE: "区政府督查室",
    UnitRole.COMMERCE_BUREAU: "区商务局",
    UnitRole.DISCIPLINE_COMMISSION: "区纪委监委",
}
_HEAD_KINDS = (str(PostKind.UNIT_HEAD), str(PostKind.DISTRICT_LEADER))


@dataclass(frozen=True)
class Recipient:
    person_id: UUID
    audience: str
    #: The vacant post this person was told for, as the head of its unit.
    via_post_id: UUID | None = None


class Unresolved(Exception):
    """Nobody can receive this audience's message (the reason goes to the undeliverable list)."""


class Directory:
    """The org read copy as it stood on ``day``, for one batch of notices: every look-up is remembered
    for the batch (the notices of one batch mostly name the same few units and lines)."""

    def __init__(self, session: AsyncSession, day: date) -> None:
        self.session = session
        self.day = day
        self._memo: dict[tuple[Any, ...], Any] = {}

    async def _once(self, key: tuple[Any, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._memo:
            self._memo[key] = await load()
        return self._memo[key]

    async def holders(self, post_id: UUID) -> list[UUID]:
        """Who holds ``post_id``: substantive holders first, then acting ones."""
        return await self._once(("holders", post_id), lambda: self._holders(post_id))

    async def _holders(self, post_id: UUID) -> list[UUID]:
        h = _holdings
        rows = await self.session.execute(
            sa.select(h.c.person_id, h.c.entry["acting"].astext.label("acting"))
            .where(h.c.post_id == post_id, in_force(h, self.day))
            .order_by(sa.text("acting"), h.c.valid_from, h.c.person_id)
        )
        return [r.person_id for r in rows]

    async def head_post(self, unit_id: UUID) -> UUID | None:
        return await self._once(("head_post", unit_id), lambda: self._head_post(unit_id))

    async def _head_post(self, unit_id: UUID) -> UUID | None:
        p = _posts
        kind_order = sa.case({k: i for i, k in enumerate(_HEAD_KINDS)}, value=p.c.kind)
        return (
            await self.session.execute(
                sa.select(p.c.id)
                .where(p.c.unit_id == unit_id, p.c.kind.in_(_HEAD_KINDS), in_force(p, self.day))
                .order_by(kind_order, p.c.title, p.c.id)
                .limit(1)
            )
        ).scalar_one_or_none()

    async def post_unit(self, post_id: UUID) -> UUID | None:
        return await self._once(("post_unit", post_id), lambda: self._post_unit(post_id))

    async def _post_unit(self, post_id: UUID) -> UUID | None:
        p = _posts
        return (
            await self.session.execute(sa.select(p.c.unit_id).where(p.c.id == post_id, in_force(p, self.day)))
        ).scalar_one_or_none()

    async def post(self, post_id: UUID, audience: str) -> list[Recipient]:
        """The holder of a post; a vacant post → the holder of its unit's head post."""
        holders = await self.holders(post_id)
        if holders:
            return [Recipient(holders[0], audience)]
        unit = await self.post_unit(post_id)
        head = await self.head_post(unit) if unit else None
        if head is None or head == post_id:
            raise Unresolved(f"岗位空缺且所在单位无主要负责同志岗位 (post {post_id})")
        head_holders = await self.holders(head)
        if not head_holders:
            raise Unresolved(f"岗位空缺，所在单位主要负责同志岗位亦空缺 (post {post_id})")
        return [Recipient(head_holders[0], audience, via_post_id=post_id)]

    async def unit_head(self, unit_id: UUID, audience: str) -> list[Recipient]:
        head = await self.head_post(unit_id)
        if head is None:
            raise Unresolved(f"单位无主要负责同志岗位 (unit {unit_id})")
        holders = await self.holders(head)
        if not holders:
            raise Unresolved(f"单位主要负责同志岗位空缺 (unit {unit_id})")
        return [Recipient(holders[0], audience)]

    async def unit(self, unit_id: UUID | None, audience: str) -> list[Recipient]:
        """Everyone holding a post of ``unit_id`` on the day."""
        if unit_id is None:
            raise Unresolved("事件未指明单位")
        people = await self._once(("members", unit_id), lambda: self._members(unit_id))
        found = [Recipient(person, audience) for person in people]
        if not found:
            raise Unresolved(f"单位无在岗人员 (unit {unit_id})")
        return found

    async def _members(self, unit_id: UUID) -> list[UUID]:
        h, p = _holdings, _posts
        return list(
            (
                await self.session.execute(
                    sa.select(h.c.person_id)
                    .select_from(h.join(p, p.c.id == h.c.post_id))
                    .where(p.c.unit_id == unit_id, in_force(p, self.day), in_force(h, self.day))
                    .distinct()
                    .order_by(h.c.person_id)
                )
            ).scalars()
        )

    async def units_with_role(self, role: UnitRole, audience: str) -> list[Recipient]:
        ids = await self._once(("role", role), lambda: self._role_units(role))
        found: list[Recipient] = []
        for unit_id in ids:
            try:
                found += await self.unit(unit_id, audience)
            except Unresolved:
                continue
        if not found:
            raise Unresolved(f"{_ROLE_NAMES.get(role, str(role))}无在岗人员")
        return found

    async def _role_units(self, role: UnitRole) -> list[UUID]:
        u = _units
        where = (sa.literal(str(role)) == sa.any_(u.c.roles), in_force(u, self.day))
        return list((await self.session.execute(sa.select(u.c.id).where(*where).order_by(u.c.id))).scalars())

    async def line(self, line_id: UUID | None) -> sa.Row | None:
        if line_id is None:
            return None
        return await self._once(("line", line_id), lambda: self._line(line_id))

    async def _line(self, line_id: UUID) -> sa.Row | None:
        ln = _lines
        return (
            await self.session.execute(sa.select(ln).where(ln.c.id == line_id, in_force(ln, self.day)))
        ).one_or_none()

    async def district_leaders(self, audience: str) -> list[Recipient]:
        posts = await self._once(("district_posts",), self._district_posts)
        found: list[Recipient] = []
        for post_id in posts:
            holders = await self.holders(post_id)
            if holders:
                found.append(Recipient(holders[0], audience))
        if not found:
            raise Unresolved("区委、区政府主要领导岗位均空缺")
        return found

    async def _district_posts(self) -> list[UUID]:
        p = _posts
        where = (p.c.kind == str(PostKind.DISTRICT_LEADER), in_force(p, self.day))
        return list(
            (
                await self.session.execute(sa.select(p.c.id).where(*where).order_by(p.c.title, p.c.id))
            ).scalars()
        )

    async def posts_of_kind(self, kind: PostKind) -> list[UUID]:
        p = _posts
        where = (p.c.kind == str(kind), in_force(p, self.day))
        return list(
            (
                await self.session.execute(sa.select(p.c.id).where(*where).order_by(p.c.title, p.c.id))
            ).scalars()
        )

    async def everyone(self) -> list[UUID]:
        """Everyone holding a post that day (a document circulated to every unit)."""
        h, p = _holdings, _posts
        rows = await self.session.execute(
            sa.select(h.c.person_id)
            .select_from(h.join(p, p.c.id == h.c.post_id))
            .where(in_force(p, self.day), in_force(h, self.day))
            .distinct()
            .order_by(h.c.person_id)
        )
        return list(rows.scalars())

    async def document(self, audience: c.Audience, name: str) -> list[Recipient]:
        """The readers of a document's audience (发送范围): the union of its parts; empty tells nobody."""
        people: dict[UUID, Recipient] = {}

        def add(found: list[Recipient]) -> None:
            for r in found:
                people.setdefault(r.person_id, r)

        if audience.all_units:
            add([Recipient(person, name) for person in await self.everyone()])
        for role in audience.unit_roles:
            with contextlib.suppress(Unresolved):
                add(await self.units_with_role(role, name))
        for kind in audience.post_kinds:
            for post_id in await self.posts_of_kind(kind):
                holders = await self.holders(post_id)
                add([Recipient(holders[0], name)] if holders else [])
        for unit_id in audience.unit_ids:
            with contextlib.suppress(Unresolved):
                add(await self.unit(unit_id, name))
        for line_id in audience.line_ids:
            line = await self.line(line_id)
            if line is not None:
                with contextlib.suppress(Unresolved):
                    add(await self.post(line.leader_post_id, name))
        add([Recipient(person, name) for person in audience.person_ids])
        if not people and not audience.is_empty:
            raise Unresolved("发送范围内无在岗人员")
        return list(people.values())

    async def project(self, project_id: UUID | None) -> sa.Row | None:
        if project_id is None:
            return None
        return await self._once(("project", project_id), lambda: _project(self.session, project_id))

    async def line_of_unit(self, unit_id: UUID) -> UUID | None:
        """The line a responsible unit's projects go to by the routing rules (分线规则, §一(一))."""
        r = org_copy.routing_rules
        return (
            await self.session.execute(
                sa.select(r.c.line_id)
                .where(r.c.entry["responsible_unit_id"].astext == str(unit_id), in_force(r, self.day))
                .limit(1)
            )
        ).scalar_one_or_none()


async def _project(session: AsyncSession, project_id: UUID) -> sa.Row | None:
    pc = project_copy
    return (
        await session.execute(
            sa.select(
                pc.c.line_id, pc.c.responsible_unit_id, pc.c.snapshot["agent_id"].astext.label("agent_id")
            ).where(pc.c.id == project_id)
        )
    ).one_or_none()


#: The facts each audience resolves from (:func:`_resolve`) besides the day; the line audiences are
#: keyed in :func:`_memo_key`.
_MEMO_FACTS: dict[Audience, Callable[[Facts], Any]] = {
    Audience.RESOLVING_UNIT: attrgetter("resolving_unit_id"),
    Audience.CHARGED_UNIT: attrgetter("charged_unit_id"),
    Audience.NAMED_PERSON: attrgetter("named_person_id"),
    Audience.CARDED_UNIT_HEAD: attrgetter("target_unit_id"),
    Audience.CARDED_UNIT_LINE_LEADER: attrgetter("project_id", "target_unit_id"),
    Audience.HANDLING_DEPARTMENT: attrgetter("handling_unit_id"),
    Audience.RESPONSIBLE_UNIT: attrgetter("project_id"),
    Audience.PROJECT_AGENT: attrgetter("project_id"),
    Audience.SUBJECT_HEAD: attrgetter("subject_kind", "subject_id"),
    Audience.CONSENTING_LEADER: attrgetter("post_id"),
}
_LINE_AUDIENCES = (Audience.ACCEPTOR, Audience.LINE_SERVICE_DEPARTMENT, Audience.LINE_LEADER)


def _memo_key(a: Audience, facts: Facts) -> tuple[Any, ...] | None:
    """The facts ``a`` resolves from, as a key; None for the audiences looked up each time (the matter's
    reporter, a document's own audience)."""
    if a is Audience.REPORTER or a is Audience.DOCUMENT_AUDIENCE:
        return None
    if a in _LINE_AUDIENCES:
        # The event's line, else (not for the acceptor) its project's line.
        line_id = facts.line_id
        return ("resolve", a, line_id, None if line_id or a is Audience.ACCEPTOR else facts.project_id)
    of = _MEMO_FACTS.get(a)
    # The rest (district leaders, units by role) depend on the day alone.
    return ("resolve", a) if of is None else ("resolve", a, of(facts))


async def resolve(d: Directory, audience: str, facts: Facts) -> list[Recipient]:
    """The people ``audience`` means for ``facts`` on the directory's day; raises :class:`Unresolved` for
    nobody.

    Remembered for the directory's batch: apart from the reporter and a document's audience, what an
    audience resolves to depends only on a few of the facts (:func:`_memo_key`), and the notices of one
    batch mostly name the same lines and units, so a batch resolves each of them once. The list is shared:
    callers read it, never change it."""
    a = Audience(audience)
    key = _memo_key(a, facts)
    if key is None:
        return await _resolve(d, a, facts)
    memo = d._memo
    found = memo.get(key)
    if found is None:
        try:
            found = await _resolve(d, a, facts)
        except Unresolved as exc:
            found = exc
        memo[key] = found
    if isinstance(found, Unresolved):
        raise Unresolved(*found.args)
    result: list[Recipient] = found
    return result


async def _resolve(d: Directory, a: Audience, facts: Facts) -> list[Recipient]:
    session = d.session
    if a is Audience.ACCEPTOR:
        line = await d.line(facts.line_id)
        if line is not None:
            return await d.unit(line.service_unit_id, a)
        return await d.units_with_role(UnitRole.MAJOR_PROJECTS_OFFICE, a)  # unrouted: 重大项目办 settles it
    if a is Audience.REPORTER:
        reporter = None
        if facts.matter_id is not None:
            reporter = (
                await session.execute(sa.select(matter_copy).where(matter_copy.c.id == facts.matter_id))
            ).one_or_none()
        if reporter is None:
            raise Unresolved("未收到该事项的上报事件，无法确定反映人")
        if reporter.reported_by_person_id is not None:
            return [Recipient(reporter.reported_by_person_id, a)]
        return await d.unit(reporter.reported_by_unit_id, a)
    if a is Audience.RESOLVING_UNIT:
        return await d.unit(facts.resolving_unit_id, a)
    if a is Audience.CHARGED_UNIT:
        return await d.unit(facts.charged_unit_id, a)
    if a in (Audience.LINE_SERVICE_DEPARTMENT, Audience.LINE_LEADER):
        line_id = facts.line_id
        if line_id is None:
            project = await d.project(facts.project_id)
            line_id = project.line_id if project else None
        line = await d.line(line_id)
        if line is None:
            raise Unresolved("事项无包保线（待分线）")
        if a is Audience.LINE_LEADER:
            return await d.post(line.leader_post_id, a)
        return await d.unit(line.service_unit_id, a)
    if a is Audience.DISTRICT_LEADERS:
        return await d.district_leaders(a)
    if a is Audience.MAJOR_PROJECTS_OFFICE:
        return await d.units_with_role(UnitRole.MAJOR_PROJECTS_OFFICE, a)
    if a is Audience.SUPERVISION_OFFICE:
        return await d.units_with_role(UnitRole.SUPERVISION_OFFICE, a)
    if a is Audience.COMMERCE_BUREAU:
        return await d.units_with_role(UnitRole.COMMERCE_BUREAU, a)
    if a is Audience.STATISTICS_BUREAU:
        return await d.units_with_role(UnitRole.STATISTICS_BUREAU, a)
    if a is Audience.NAMED_PERSON:
        if facts.named_person_id is None:
            raise Unresolved("事件未指明承办人")
        return [Recipient(facts.named_person_id, a)]
    if a is Audience.APPROVAL_BUREAU:
        return await d.units_with_role(UnitRole.APPROVAL_BUREAU, a)
    if a is Audience.CARDED_UNIT_HEAD:
        if facts.target_unit_id is None:
            raise Unresolved("事件未指明红牌对象")
        return await d.unit_head(facts.target_unit_id, a)
    if a is Audience.CARDED_UNIT_LINE_LEADER:
        project = await d.project(facts.project_id)
        line_id = project.line_id if project else None
        if line_id is None and facts.target_unit_id is not None:
            line_id = await d.line_of_unit(facts.target_unit_id)
        line = await d.line(line_id)
        if line is None:
            raise Unresolved("红牌对象无包保线")
        return await d.post(line.leader_post_id, a)
    if a is Audience.HANDLING_DEPARTMENT:
        return await d.unit(facts.handling_unit_id, a)
    if a is Audience.RESPONSIBLE_UNIT:
        project = await d.project(facts.project_id)
        if project is None or project.responsible_unit_id is None:
            raise Unresolved("项目不在读副本中，无法确定责任单位")
        return await d.unit(project.responsible_unit_id, a)
    if a is Audience.PROJECT_AGENT:
        project = await d.project(facts.project_id)
        if project is None:
            raise Unresolved("项目不在读副本中，无法确定代办员")
        return [Recipient(UUID(project.agent_id), a)] if project.agent_id else []
    if a is Audience.SUBJECT_HEAD:
        if facts.subject_id is None:
            raise Unresolved("事件未指明评价对象")
        if facts.subject_kind == "line_leader":
            line = await d.line(facts.subject_id)
            if line is None:
                raise Unresolved("评价对象的包保线不存在")
            return await d.post(line.leader_post_id, a)
        return await d.unit_head(facts.subject_id, a)
    if a is Audience.CONSENTING_LEADER:
        if facts.post_id is None:
            raise Unresolved("事件未指明待同意的岗位")
        return await d.post(facts.post_id, a)
    if a is Audience.DOCUMENT_AUDIENCE:
        return await d.document(facts.document_audience or c.Audience(), a)
    raise Unresolved(f"未知受众 {a}")  # pragma: no cover - the enum above is exhaustive
