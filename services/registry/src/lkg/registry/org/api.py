"""HTTP routes of the org directory (``/api/v1/org/...``): read by any signed-in caller, changed by
重大项目办 or an administrator; every change versioned and published as ``org.changed``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Protocol, TypeVar

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from lkg.common.auth import CurrentPrincipal
from lkg.common.events.contracts import (
    PersonSnapshot,
    PostHoldingSnapshot,
    PostSnapshot,
    RoutingRuleSnapshot,
    UnitSnapshot,
)
from lkg.common.http.idempotency import IdempotencyKey
from lkg.common.http.problems import NotFound
from lkg.common.http.query import StrictQuery
from lkg.registry.deps import OfficeCaller, Runtime, Session, UnitOfWork, idempotent
from lkg.registry.org import service as org
from lkg.registry.org.document import OrgDocument
from lkg.registry.org.schemas import (
    Handover,
    HandoverOut,
    HandoverToPerson,
    ImportResult,
    LeaderOut,
    LineOut,
    OnDay,
    RuleEnd,
    RuleIn,
    VersionOut,
)
from lkg.registry.projects import lines as project_lines

router = APIRouter(prefix="/api/v1/org", dependencies=[StrictQuery])


class _Dated(Protocol):
    def in_force(self, day: date) -> bool: ...


E = TypeVar("E", bound=_Dated)


def _on(entries: Iterable[E], day: date | None) -> list[E]:
    """The entries in force on ``day`` (all of them without one)."""
    return [e for e in entries if day is None or e.in_force(day)]


@router.get("/units", response_model=list[UnitSnapshot], summary="单位 Units")
async def units(session: Session, _: CurrentPrincipal, q: OnDay) -> list[UnitSnapshot]:
    d = await org.load_directory(session, kinds=["unit"])
    return sorted(_on(d.units.values(), q.on), key=lambda u: (u.kind, u.name))


@router.get("/posts", response_model=list[PostSnapshot], summary="岗位 Posts")
async def posts(session: Session, _: CurrentPrincipal, q: OnDay) -> list[PostSnapshot]:
    d = await org.load_directory(session, kinds=["post"])
    return sorted(_on(d.posts.values(), q.on), key=lambda p: p.title)


@router.get("/people", response_model=list[PersonSnapshot], summary="人员 People")
async def people(session: Session, _: CurrentPrincipal) -> list[PersonSnapshot]:
    d = await org.load_directory(session, kinds=["person"])
    return sorted(d.people.values(), key=lambda p: p.name)


@router.get("/holdings", response_model=list[PostHoldingSnapshot], summary="任职 Post holdings")
async def holdings(session: Session, _: CurrentPrincipal, q: OnDay) -> list[PostHoldingSnapshot]:
    d = await org.load_directory(session, kinds=["holding"])
    return sorted(_on(d.holdings.values(), q.on), key=lambda h: (str(h.post_id), h.valid_from))


@router.get("/lines", response_model=list[LineOut], summary="包保线 Lines")
async def lines(session: Session, runtime: Runtime, _: CurrentPrincipal, q: OnDay) -> list[LineOut]:
    d = await org.load_directory(session, kinds=["line", "holding", "person"])
    day = q.on or runtime.clock.now().date()
    return [
        LineOut(
            **line.model_dump(),
            leaders=[
                LeaderOut(person_id=h.person_id, name=d.people[h.person_id].name, acting=h.acting)
                for h in org.holders(d, line.leader_post_id, day)
                if h.person_id in d.people
            ],
        )
        for line in sorted(_on(d.lines.values(), q.on), key=lambda line: line.number)
    ]


@router.get("/routing-rules", response_model=list[RoutingRuleSnapshot], summary="分线规则 Routing rules")
async def rules(session: Session, _: CurrentPrincipal, q: OnDay) -> list[RoutingRuleSnapshot]:
    d = await org.load_directory(session, kinds=["routing_rule"])
    return sorted(_on(d.routing_rules.values(), q.on), key=lambda x: (x.basis, str(x.id)))


@router.get(
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


@router.post(
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
    body: OrgDocument, session: UnitOfWork, runtime: Runtime, caller: OfficeCaller
) -> ImportResult:
    changed = await project_lines.load_org_document(
        session, runtime.clock, body, actor=caller.actor, reason="导入组织目录配置"
    )
    return ImportResult(changed_entries=changed)


@router.post(
    "/posts/{post_id}/handovers",
    response_model=HandoverOut,
    summary="岗位交接 Hand a post over (换届)",
    responses={404: {"description": "岗位或继任者不存在 / no such post or person"}},
)
async def handover(
    post_id: uuid.UUID, body: Handover, session: UnitOfWork, runtime: Runtime, caller: OfficeCaller
) -> HandoverOut:
    successor = (
        body.successor_person_id
        if isinstance(body, HandoverToPerson)
        else PersonSnapshot(id=uuid.uuid4(), revision=1, name=body.successor_name)
    )
    event = await org.handover(
        session,
        runtime.clock,
        post_id=post_id,
        successor=successor,
        on=body.on,
        acting=body.acting,
        actor=caller.actor,
        reason=body.reason,
    )
    return HandoverOut(revision=event.revision, holdings=list(event.holdings))


@router.post(
    "/routing-rules",
    status_code=201,
    response_model=RoutingRuleSnapshot,
    summary="新增分线规则 Add a routing rule",
    responses={404: {"description": "包保线不存在 / no such line"}},
)
async def add_rule(
    body: RuleIn,
    session: UnitOfWork,
    runtime: Runtime,
    caller: OfficeCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def create() -> Response:
        spec = body.rule.model_dump(exclude={"note"})
        rule = RoutingRuleSnapshot(id=uuid.uuid4(), revision=1, note=body.rule.note or "", **spec)
        stored = await project_lines.add_routing_rule(
            session, runtime.clock, rule, actor=caller.actor, reason=body.reason
        )
        return JSONResponse(stored.model_dump(mode="json"), status_code=201)

    return await idempotent("/api/v1/org/routing-rules", session, caller, idempotency_key, body, create)


@router.post(
    "/routing-rules/{rule_id}/ends",
    response_model=RoutingRuleSnapshot,
    summary="停用分线规则 End a routing rule",
    responses={404: {"description": "规则不存在 / no such rule"}},
)
async def end_rule(
    rule_id: uuid.UUID, body: RuleEnd, session: UnitOfWork, runtime: Runtime, caller: OfficeCaller
) -> RoutingRuleSnapshot:
    ended = await project_lines.end_routing_rule(
        session, runtime.clock, rule_id, valid_to=body.valid_to, actor=caller.actor, reason=body.reason
    )
    return ended
