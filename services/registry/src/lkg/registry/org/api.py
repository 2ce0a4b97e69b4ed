"""HTTP routes of the org directory (``/api/v1/org/...``): read by any signed-in caller, changed by
重大项目办 or an administrator; every change versioned and published as ``org.changed``."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import CurrentPrincipal, Principal, Role, require_roles
from lkg.common.events.contracts import (
    LineSnapshot,
    PersonSnapshot,
    PostHoldingSnapshot,
    PostSnapshot,
    ProjectCategory,
    RoutingBasis,
    RoutingRuleSnapshot,
    UnitSnapshot,
)
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.problems import NotFound
from lkg.common.http.query import StrictQuery
from lkg.common.http.types import Instant, Text
from lkg.common.runtime.deps import runtime_for, session_for
from lkg.common.runtime.service import ServiceRuntime
from lkg.registry import service
from lkg.registry.org import service as org
from lkg.registry.org.document import OrgDocument
from lkg.registry.wire import IsoDate

Session = Annotated[AsyncSession, Depends(session_for("registry"))]
Runtime = Annotated[ServiceRuntime, Depends(runtime_for("registry"))]
Office = Annotated[Principal, Depends(require_roles(Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))]


class InForce(BaseModel):
    """The one query parameter of the directory lists; any other is refused (422), as a misspelt
    ``?no=2020-05-01`` would otherwise answer 200 with every entry ever held."""

    model_config = ConfigDict(extra="forbid")

    on: IsoDate | None = Field(
        default=None, description="某日在任/有效的条目（缺省为全部）/ entries in force on a day"
    )


OnDay = Annotated[InForce, Query()]


class ImportResult(BaseModel):
    changed_entries: int = Field(
        description="变更的条目数（重复导入为0）/ entries changed (0 when nothing differs)"
    )


class _Handover(BaseModel):
    """换届/交接: the successor holds the post from ``on``; matters stay with the post (§四(四)).

    The successor is either a person already in the directory or a new person named here, never both:
    two request shapes (``oneOf`` in the document) rather than two optional fields and a rule the
    document could not state."""

    model_config = ConfigDict(extra="forbid")

    on: IsoDate
    acting: StrictBool = Field(default=False, description="代理 / acting holder")
    reason: Text


class HandoverToPerson(_Handover):
    successor_person_id: uuid.UUID = Field(description="已在目录中的人员 / a known person")


class HandoverToNewPerson(_Handover):
    successor_name: Text = Field(description="新人员姓名 / a new person's name")


Handover = Annotated[HandoverToPerson | HandoverToNewPerson, Body()]


class _RuleSpec(BaseModel):
    """A routing rule as the office states it (分线规则, §一(一)); the id and revision are the directory's."""

    model_config = ConfigDict(extra="forbid")

    line_id: uuid.UUID
    valid_from: IsoDate
    valid_to: IsoDate | None = None
    note: Text | None = Field(default=None, description="规则来源 / where the rule comes from")


class ExplicitRule(_RuleSpec):
    """明确指定: this project goes to this line."""

    basis: Literal[RoutingBasis.EXPLICIT]
    project_id: uuid.UUID


class CategoryRule(_RuleSpec):
    """按项目类型: every project of this category goes to this line."""

    basis: Literal[RoutingBasis.CATEGORY]
    category: ProjectCategory


class ResponsibleUnitRule(_RuleSpec):
    """按责任单位: every project of this unit goes to this line."""

    basis: Literal[RoutingBasis.RESPONSIBLE_UNIT]
    responsible_unit_id: uuid.UUID


#: Each basis with its criterion, so a rule without one is refused by the schema (422), not by the handler.
RuleSpec = Annotated[ExplicitRule | CategoryRule | ResponsibleUnitRule, Field(discriminator="basis")]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: RuleSpec
    reason: Text


class RuleEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_to: IsoDate
    reason: Text


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    revision: int
    kind: str
    entry: dict
    changed_at: Instant
    actor: str
    reason: str


class HandoverOut(BaseModel):
    revision: int
    holdings: list[PostHoldingSnapshot]


def _on(entries, day: IsoDate | None):
    items = [e for e in entries if day is None or e.in_force(day)]
    return items


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/org", dependencies=[StrictQuery])

    @r.get("/units", response_model=list[UnitSnapshot], summary="单位 Units")
    async def units(session: Session, _: CurrentPrincipal, q: OnDay) -> list[UnitSnapshot]:
        d = await org.load_directory(session, kinds=["unit"])
        return sorted(_on(d.units.values(), q.on), key=lambda u: (u.kind, u.name))

    @r.get("/posts", response_model=list[PostSnapshot], summary="岗位 Posts")
    async def posts(session: Session, _: CurrentPrincipal, q: OnDay) -> list[PostSnapshot]:
        d = await org.load_directory(session, kinds=["post"])
        return sorted(_on(d.posts.values(), q.on), key=lambda p: p.title)

    @r.get("/people", response_model=list[PersonSnapshot], summary="人员 People")
    async def people(session: Session, _: CurrentPrincipal) -> list[PersonSnapshot]:
        d = await org.load_directory(session, kinds=["person"])
        return sorted(d.people.values(), key=lambda p: p.name)

    @r.get("/holdings", response_model=list[PostHoldingSnapshot], summary="任职 Post holdings")
    async def holdings(session: Session, _: CurrentPrincipal, q: OnDay) -> list[PostHoldingSnapshot]:
        d = await org.load_directory(session, kinds=["holding"])
        return sorted(_on(d.holdings.values(), q.on), key=lambda h: (str(h.post_id), h.valid_from))

    @r.get("/lines", response_model=list[LineSnapshot], summary="包保线 Lines")
    async def lines(session: Session, _: CurrentPrincipal, q: OnDay) -> list[LineSnapshot]:
        d = await org.load_directory(session, kinds=["line"])
        return sorted(_on(d.lines.values(), q.on), key=lambda line: line.number)

    @r.get("/routing-rules", response_model=list[RoutingRuleSnapshot], summary="分线规则 Routing rules")
    async def rules(session: Session, _: CurrentPrincipal, q: OnDay) -> list[RoutingRuleSnapshot]:
        d = await org.load_directory(session, kinds=["routing_rule"])
        return sorted(_on(d.routing_rules.values(), q.on), key=lambda x: (x.basis, str(x.id)))

    @r.get(
        "/entries/{entry_id}/history",
        response_model=list[VersionOut],
        summary="条目版本历史 Versions of an entry",
        responses={404: {"description": "条目不存在 / no such entry"}},
    )
    async def history(entry_id: uuid.UUID, session: Session, _: CurrentPrincipal) -> list[VersionOut]:
        versions = await org.entry_history(session, entry_id)
        if not versions:
            raise NotFound("组织目录中没有此条目", code="org_entry_not_found")
        return [VersionOut.model_validate(v, from_attributes=True) for v in versions]

    @r.post(
        "/imports",
        response_model=ImportResult,
        summary="导入组织目录配置 Load a configuration document",
        description="与 `data/org_2020.yaml` 同结构；只变更有差异的条目（每项留版本），发布 `org.changed`，"
        "分线规则或包保线变化时重新分线。",
        responses={
            404: {"description": "引用了不存在的条目 / refers to an entry nobody holds"},
            409: {"description": "同一条目出现两次 / names one entry twice"},
        },
    )
    async def import_document(
        body: OrgDocument, session: Session, runtime: Runtime, principal: Office
    ) -> ImportResult:
        changed = await service.load_org_document(
            session, runtime.clock, body, actor=principal.key, reason="导入组织目录配置"
        )
        await session.commit()
        return ImportResult(changed_entries=changed)

    @r.post(
        "/posts/{post_id}/handovers",
        response_model=HandoverOut,
        summary="岗位交接 Hand a post over (换届)",
        responses={404: {"description": "岗位或继任者不存在 / no such post or person"}},
    )
    async def handover(
        post_id: uuid.UUID, body: Handover, session: Session, runtime: Runtime, principal: Office
    ) -> HandoverOut:
        if isinstance(body, HandoverToPerson):
            d = await org.load_directory(session, kinds=["person"])
            successor = d.people.get(body.successor_person_id)
            if successor is None:
                raise NotFound("继任者不在组织目录中", code="person_not_found")
        else:
            successor = PersonSnapshot(id=uuid.uuid4(), revision=1, name=body.successor_name)
        event = await org.handover(
            session,
            runtime.clock,
            post_id=post_id,
            successor=successor,
            on=body.on,
            acting=body.acting,
            actor=principal.key,
            reason=body.reason,
        )
        await session.commit()
        return HandoverOut(revision=event.revision, holdings=list(event.holdings))

    @r.post(
        "/routing-rules",
        status_code=201,
        response_model=RoutingRuleSnapshot,
        summary="新增分线规则 Add a routing rule",
        responses={404: {"description": "包保线不存在 / no such line"}},
    )
    async def add_rule(
        body: RuleIn,
        session: Session,
        runtime: Runtime,
        principal: Office,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def create() -> Response:
            d = await org.load_directory(session, kinds=["line"])
            if body.rule.line_id not in d.lines:
                raise NotFound("包保线不存在", code="line_not_found")
            spec = body.rule.model_dump(exclude={"note"})
            rule = RoutingRuleSnapshot(id=uuid.uuid4(), revision=1, note=body.rule.note or "", **spec)
            await service.apply_org_changes(
                session, runtime.clock, [(None, rule)], actor=principal.key, reason=body.reason
            )
            stored = (await org.load_directory(session, kinds=["routing_rule"])).routing_rules[rule.id]
            return JSONResponse(stored.model_dump(mode="json"), status_code=201)

        response = await idempotent_create(
            session,
            principal=principal.key,
            key=idempotency_key,
            method="POST",
            path="/api/v1/org/routing-rules",
            request_hash=request_hash(body),
            create=create,
        )
        await session.commit()
        return response

    @r.post(
        "/routing-rules/{rule_id}/ends",
        response_model=RoutingRuleSnapshot,
        summary="停用分线规则 End a routing rule",
        responses={404: {"description": "规则不存在 / no such rule"}},
    )
    async def end_rule(
        rule_id: uuid.UUID, body: RuleEnd, session: Session, runtime: Runtime, principal: Office
    ) -> RoutingRuleSnapshot:
        d = await org.load_directory(session, kinds=["routing_rule"])
        rule = d.routing_rules.get(rule_id)
        if rule is None:
            raise NotFound("分线规则不存在", code="routing_rule_not_found")
        ended = rule.model_copy(update={"valid_to": body.valid_to})
        await service.apply_org_changes(
            session, runtime.clock, [(None, ended)], actor=principal.key, reason=body.reason
        )
        await session.commit()
        return (await org.load_directory(session, kinds=["routing_rule"])).routing_rules[rule_id]

    return r
