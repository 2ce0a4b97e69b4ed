"""The org configuration document (YAML or JSON): the 2020 directory ships as ``data/org_2020.yaml``.

A document names its entries by stable ``key``s (``street.jinyinhu``); ids are derived from the keys
(UUIDv5), so one document gives the same ids on every machine and loading it twice changes nothing.
"""

from __future__ import annotations

import uuid
from importlib import resources
from typing import Annotated, Any, Literal, TypeAlias

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from lkg.common.events.contracts import (
    LineSnapshot,
    PersonSnapshot,
    PostHoldingSnapshot,
    PostKind,
    PostSnapshot,
    ProjectCategory,
    RoutingBasis,
    RoutingRuleSnapshot,
    UnitKind,
    UnitRole,
    UnitSnapshot,
)
from lkg.common.http.types import JSON_INTEGER, IsoDate, Text

#: Namespace of the ids derived from document keys.
ORG_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000a0")

#: One entry of the directory, as its contract snapshot.
Snapshot: TypeAlias = (
    UnitSnapshot | PostSnapshot | PersonSnapshot | PostHoldingSnapshot | LineSnapshot | RoutingRuleSnapshot
)


def org_id(key: str) -> uuid.UUID:
    """The id of the entry named ``key`` in a configuration document (e.g. ``org_id("street.jinyinhu")``)."""
    return uuid.uuid5(ORG_NAMESPACE, key)


def line_key(number: int) -> str:
    return f"line.{number}"


#: A document key (``street.jinyinhu``): the stable name an entry's id is derived from.
Key = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]

#: A line's number (包保线 1..8 in 2020); a JSON integer, never a boolean or a string.
LineNumber = Annotated[int, Field(ge=1, le=999), JSON_INTEGER]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitDoc(_Doc):
    key: Key
    name: Text
    kind: UnitKind
    roles: list[UnitRole] = []
    parent: Key | None = None


class PostDoc(_Doc):
    key: Key
    title: Text
    unit: Key
    kind: PostKind


class PersonDoc(_Doc):
    key: Key
    name: Text


class HoldingDoc(_Doc):
    post: Key
    person: Key
    acting: StrictBool = False
    valid_from: IsoDate | None = None


class LineDoc(_Doc):
    number: LineNumber
    name: Text
    leader_post: Key
    service_unit: Key


class _RuleDoc(_Doc):
    line: LineNumber
    note: Text | None = None


class CategoryRuleDoc(_RuleDoc):
    """Every project of ``category`` goes to ``line``."""

    basis: Literal[RoutingBasis.CATEGORY]
    category: ProjectCategory


class ResponsibleUnitRuleDoc(_RuleDoc):
    """Every project of the unit named ``responsible_unit`` goes to ``line``."""

    basis: Literal[RoutingBasis.RESPONSIBLE_UNIT]
    responsible_unit: Key


#: A rule of a document with its criterion (explicit rules name a project: they are added through the API).
RuleDoc = Annotated[CategoryRuleDoc | ResponsibleUnitRuleDoc, Field(discriminator="basis")]


class OrgDocument(_Doc):
    """组织目录配置 / an org configuration document (the shape of ``data/org_2020.yaml``)."""

    valid_from: IsoDate
    units: list[UnitDoc] = []
    posts: list[PostDoc] = []
    people: list[PersonDoc] = []
    holdings: list[HoldingDoc] = []
    lines: list[LineDoc] = []
    routing_rules: list[RuleDoc] = []

    def entries(self) -> list[tuple[str, Snapshot]]:
        """Every entry as ``(key, snapshot)`` with revision 1 (the directory sets the real revision)."""
        start = self.valid_from
        out: list[tuple[str, Snapshot]] = []
        snap: Snapshot
        for u in self.units:
            parent = org_id(u.parent) if u.parent else None
            snap = UnitSnapshot(
                id=org_id(u.key),
                revision=1,
                valid_from=start,
                name=u.name,
                kind=u.kind,
                roles=tuple(u.roles),
                parent_id=parent,
            )
            out.append((u.key, snap))
        for p in self.posts:
            snap = PostSnapshot(
                id=org_id(p.key),
                revision=1,
                valid_from=start,
                title=p.title,
                unit_id=org_id(p.unit),
                kind=p.kind,
            )
            out.append((p.key, snap))
        for person in self.people:
            out.append((person.key, PersonSnapshot(id=org_id(person.key), revision=1, name=person.name)))
        for h in self.holdings:
            key = f"holding.{h.post}.{h.person}"
            snap = PostHoldingSnapshot(
                id=org_id(key),
                revision=1,
                valid_from=h.valid_from or start,
                post_id=org_id(h.post),
                person_id=org_id(h.person),
                acting=h.acting,
            )
            out.append((key, snap))
        for line in self.lines:
            key = line_key(line.number)
            snap = LineSnapshot(
                id=org_id(key),
                revision=1,
                valid_from=start,
                number=line.number,
                name=line.name,
                leader_post_id=org_id(line.leader_post),
                service_unit_id=org_id(line.service_unit),
            )
            out.append((key, snap))
        for r in self.routing_rules:
            if isinstance(r, CategoryRuleDoc):
                key = f"rule.{r.basis.value}.{r.category.value}"
                criterion: dict[str, Any] = {"category": r.category}
            else:
                key = f"rule.{r.basis.value}.{r.responsible_unit}"
                criterion = {"responsible_unit_id": org_id(r.responsible_unit)}
            snap = RoutingRuleSnapshot(
                id=org_id(key),
                revision=1,
                valid_from=start,
                basis=r.basis,
                line_id=org_id(line_key(r.line)),
                note=r.note or "",
                **criterion,
            )
            out.append((key, snap))
        return out


def parse_document(text: str) -> OrgDocument:
    """A document from YAML (JSON is YAML too)."""
    data: Any = yaml.safe_load(text)
    return OrgDocument.model_validate(data)


def default_document() -> OrgDocument:
    """The 2020 Linkonggang directory shipped with the registry (policy §二)."""
    text = (resources.files("lkg.registry") / "data" / "org_2020.yaml").read_text(encoding="utf-8")
    return parse_document(text)
