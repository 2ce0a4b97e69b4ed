"""Use cases of the org directory: change entries (versioned), hand a post over, load a document.

Like every use case they change rows and stage ``org.changed`` in the caller's transaction and never commit.
Re-routing projects after a rule or line changed is the caller's next step
(:mod:`lkg.registry.projects.lines`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.clock import Clock
from lkg.common.events.contracts import (
    LineSnapshot,
    OrgChanged,
    PersonSnapshot,
    PostHoldingSnapshot,
    PostSnapshot,
    RoutingRuleSnapshot,
    UnitSnapshot,
)
from lkg.common.events.outbox import stage
from lkg.common.http.problems import Conflict, NotFound
from lkg.registry.org.document import OrgDocument, Snapshot
from lkg.registry.org.models import DIRECTORY_ID, OrgDirectory, OrgEntry, OrgEntryVersion

KINDS: dict[type[Snapshot], str] = {
    UnitSnapshot: "unit",
    PostSnapshot: "post",
    PersonSnapshot: "person",
    PostHoldingSnapshot: "holding",
    LineSnapshot: "line",
    RoutingRuleSnapshot: "routing_rule",
}
MODELS: dict[str, type[Snapshot]] = {v: k for k, v in KINDS.items()}


#: Each kind's field in ``org.changed``.
_FIELDS = {
    "unit": "units",
    "post": "posts",
    "person": "people",
    "holding": "holdings",
    "line": "lines",
    "routing_rule": "routing_rules",
}


@dataclass
class Directory:
    """The whole directory as it stands (current version of every entry)."""

    revision: int = 0
    units: dict[uuid.UUID, UnitSnapshot] = field(default_factory=dict)
    posts: dict[uuid.UUID, PostSnapshot] = field(default_factory=dict)
    people: dict[uuid.UUID, PersonSnapshot] = field(default_factory=dict)
    holdings: dict[uuid.UUID, PostHoldingSnapshot] = field(default_factory=dict)
    lines: dict[uuid.UUID, LineSnapshot] = field(default_factory=dict)
    routing_rules: dict[uuid.UUID, RoutingRuleSnapshot] = field(default_factory=dict)

    def bucket(self, kind: str) -> dict[uuid.UUID, Any]:
        buckets: dict[str, dict[uuid.UUID, Any]] = {
            "unit": self.units,
            "post": self.posts,
            "person": self.people,
            "holding": self.holdings,
            "line": self.lines,
            "routing_rule": self.routing_rules,
        }
        return buckets[kind]

    def get(self, entry_id: uuid.UUID) -> Snapshot | None:
        for kind in MODELS:
            found = self.bucket(kind).get(entry_id)
            if found is not None:
                return found
        return None


async def load_directory(session: AsyncSession, *, kinds: Iterable[str] | None = None) -> Directory:
    directory = Directory()
    head = await session.get(OrgDirectory, DIRECTORY_ID)
    directory.revision = head.revision if head else 0
    stmt = sa.select(OrgEntry.kind, OrgEntry.entry)
    if kinds is not None:
        stmt = stmt.where(OrgEntry.kind.in_(list(kinds)))
    for kind, entry in (await session.execute(stmt)).all():
        snap = MODELS[kind].model_validate(entry)
        directory.bucket(kind)[snap.id] = snap
    return directory


def holders(directory: Directory, post_id: uuid.UUID, day: date) -> list[PostHoldingSnapshot]:
    """Who holds the post on ``day`` (several for a staff post), earliest first. The directory must hold
    the ``holding`` kind."""
    found = [h for h in directory.holdings.values() if h.post_id == post_id and h.in_force(day)]
    return sorted(found, key=lambda h: (h.valid_from, str(h.person_id)))


def _same(a: Snapshot, b: Snapshot) -> bool:
    return a.model_dump(exclude={"revision"}) == b.model_dump(exclude={"revision"})


async def apply_changes(
    session: AsyncSession,
    clock: Clock,
    entries: Sequence[tuple[str | None, Snapshot]],
    *,
    actor: str,
    reason: str,
) -> OrgChanged | None:
    """Store the entries that differ from the current ones under a new directory revision, keep each
    version, and stage one ``org.changed`` with them. None (and no event) when nothing differs; 409 when
    an entry's id already belongs to an entry of another kind."""
    now = clock.now()
    head = await session.get(OrgDirectory, DIRECTORY_ID, with_for_update=True)
    if head is None:
        head = OrgDirectory(id=DIRECTORY_ID, revision=0, updated_at=now)
        session.add(head)
        await session.flush()
    ids = [snap.id for _, snap in entries]
    current = {
        row.id: row
        for row in (await session.execute(sa.select(OrgEntry).where(OrgEntry.id.in_(ids)))).scalars()
    }
    changed: list[tuple[str | None, Snapshot]] = []
    for key, snap in entries:
        row = current.get(snap.id)
        if row is not None and row.kind != KINDS[type(snap)]:
            # Ids come from document keys: a key already naming a unit cannot now name a post.
            raise Conflict(
                f"条目 {key or snap.id} 已是另一类条目（{row.kind}）", code="org_entry_kind_conflict"
            )
        if row is not None and _same(MODELS[row.kind].model_validate(row.entry), snap):
            continue
        changed.append((key, snap))
    if not changed:
        return None
    revision = head.revision + 1
    head.revision, head.updated_at = revision, now
    grouped: dict[str, list[Snapshot]] = {kind: [] for kind in MODELS}
    for key, snap in changed:
        kind = KINDS[type(snap)]
        snap = snap.model_copy(update={"revision": revision})
        grouped[kind].append(snap)
        body = snap.model_dump(mode="json")
        row = current.get(snap.id)
        valid_from = getattr(snap, "valid_from", None)
        valid_to = getattr(snap, "valid_to", None)
        if row is None:
            session.add(
                OrgEntry(
                    id=snap.id,
                    kind=kind,
                    key=key,
                    revision=revision,
                    valid_from=valid_from,
                    valid_to=valid_to,
                    entry=body,
                    updated_at=now,
                )
            )
        else:
            row.revision, row.entry, row.updated_at = revision, body, now
            row.valid_from, row.valid_to = valid_from, valid_to
        session.add(
            OrgEntryVersion(
                entry_id=snap.id,
                revision=revision,
                kind=kind,
                entry=body,
                changed_at=now,
                actor=actor,
                reason=reason,
            )
        )
    await session.flush()
    event = OrgChanged.model_validate(
        {
            "aggregate_id": DIRECTORY_ID,
            "revision": revision,
            "effective_at": now,
            **{field: tuple(grouped[kind]) for kind, field in _FIELDS.items()},
        }
    )
    await stage(session, event)
    return event


async def load_document(
    session: AsyncSession, clock: Clock, document: OrgDocument, *, actor: str, reason: str
) -> OrgChanged | None:
    """Apply a configuration document: entries that differ are changed (loading twice changes nothing).

    A document that names one entry twice (the same key, line number or rule criterion) contradicts
    itself: 409, nothing changes. One that refers to an entry neither it nor the directory holds: 404."""
    entries = document.entries()
    ids: dict[uuid.UUID, str] = {}
    for key, snap in entries:
        if snap.id in ids:
            raise Conflict(f"配置文档中条目 {key} 出现了不止一次", code="org_document_duplicate_entry")
        ids[snap.id] = key
    directory = await load_directory(session)
    known = set(directory.units) | set(directory.posts) | set(directory.people) | set(directory.lines)
    for key, snap in entries:
        for ref in ("unit_id", "post_id", "person_id", "leader_post_id", "service_unit_id", "line_id"):
            target = getattr(snap, ref, None)
            if target is not None and target not in known and target not in ids:
                raise NotFound(f"配置项 {key} 引用了不存在的条目", code="org_reference_unknown")
    return await apply_changes(session, clock, entries, actor=actor, reason=reason)


async def handover(
    session: AsyncSession,
    clock: Clock,
    *,
    post_id: uuid.UUID,
    successor: PersonSnapshot | uuid.UUID,
    on: date,
    acting: bool,
    actor: str,
    reason: str,
) -> OrgChanged:
    """换届/交接: the post's holdings in force on ``on`` end the day before; the successor's starts on ``on``.

    Matters, lines and government commitments belong to the post, not the person (新官要理旧账, §四(四)),
    so nothing else moves: whoever holds the post from ``on`` has them. History keeps who held it when.
    The successor is a person of the directory (by id) or a new person.
    """
    directory = await load_directory(session, kinds=["post", "holding", "person"])
    if isinstance(successor, uuid.UUID):
        known = directory.people.get(successor)
        if known is None:
            raise NotFound("继任者不在组织目录中", code="person_not_found")
        successor = known
    post = directory.posts.get(post_id)
    if post is None or not post.in_force(on):
        raise NotFound("岗位不存在或在交接日不在任", code="post_not_found")
    changes: list[tuple[str | None, Snapshot]] = []
    for holding in directory.holdings.values():
        if holding.post_id == post_id and holding.in_force(on):
            changes.append((None, holding.model_copy(update={"valid_to": on - timedelta(days=1)})))
    if successor.id not in directory.people:
        changes.append((None, successor))
    changes.append(
        (
            None,
            PostHoldingSnapshot(
                id=uuid.uuid4(),
                revision=1,
                valid_from=on,
                post_id=post_id,
                person_id=successor.id,
                acting=acting,
            ),
        )
    )
    event = await apply_changes(session, clock, changes, actor=actor, reason=reason)
    assert event is not None  # a new holding always changes the directory
    return event


async def entry_history(session: AsyncSession, entry_id: uuid.UUID) -> list[OrgEntryVersion]:
    rows = await session.execute(
        sa.select(OrgEntryVersion)
        .where(OrgEntryVersion.entry_id == entry_id)
        .order_by(OrgEntryVersion.revision)
    )
    return list(rows.scalars())
