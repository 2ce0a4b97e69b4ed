"""The org configuration document (YAML or JSON): the 2020 directory ships as ``data/org_2020.yaml``.

A document names its entries by stable ``key``s (``street.jinyinhu``); ids are derived from the keys
(UUIDv5), so one document gives the same ids on every machine and loading it twice changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import date
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

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

#: Namespace of the ids derived from document keys.
ORG_NAMESPACE = uuid.UUID("6c6b6700-0000-4000-8000-0000000000a0")

Snapshot = (
    UnitSnapshot | PostSnapshot | PersonSnapshot | PostHoldingSnapshot | LineSnapshot | RoutingRuleSnapshot
)


def org_id(key: str) -> uuid.UUID:
    """The id of the entry named ``key`` in a configuration document (e.g. ``org_id("street.jinyinhu")``)."""
    return uuid.uuid5(ORG_NAMESPACE, key)


def line_key(number: int) -> str:
    return f"line.{number}"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitDoc(_Doc):
    key: str
    name: str
    kind: UnitKind
    roles: list[UnitRole] = []
    parent: str | None = None


class PostDoc(_Doc):
    key: str
    title: str
    unit: str
    kind: PostKind


class PersonDoc(_Doc):
    key: str
    name: str


class HoldingDoc(_Doc):
    post: str
    person: str
    acting: bool = False
    valid_from: date | None = None


class LineDoc(_Doc):
    number: int = Field(ge=1)
    name: str
    leader_post: str
    service_unit: str


class RuleDoc(_Doc):
    basis: RoutingBasis
    line: int
    category: ProjectCategory | None = None
    responsible_unit: str | None = None
    note: str = ""


class OrgDocument(_Doc):
    """组织目录配置 / an org configuration document (the shape of ``data/org_2020.yaml``)."""

    valid_from: date
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
            criterion = r.category.value if r.category else r.responsible_unit
            key = f"rule.{r.basis.value}.{criterion}"
            snap = RoutingRuleSnapshot(
                id=org_id(key),
                revision=1,
                valid_from=start,
                basis=r.basis,
                line_id=org_id(line_key(r.line)),
                category=r.category,
                responsible_unit_id=org_id(r.responsible_unit) if r.responsible_unit else None,
                note=r.note,
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
