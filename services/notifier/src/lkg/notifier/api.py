"""HTTP routes of the notifier service: thin — validate, call one use case, return a schema (a write's
unit of work commits when the route succeeds).

The signed-in person's own inbox (``/api/v1/inbox``)::

    GET  /api/v1/inbox/messages               list (newest first; ?unread=true|false; cursor pagination)
    GET  /api/v1/inbox/unread-count           unread count
    POST /api/v1/inbox/messages/{id}/read     mark read           POST /api/v1/inbox/read-all
    GET  /api/v1/inbox/messages/{id}/log      the delivery log of one's own message
    GET, PUT /api/v1/inbox/settings           own addresses, quiet hours, channels per kind
    POST /api/v1/inbox/stream-tickets         a single-use ticket for ...
    GET  /api/v1/inbox/stream?ticket=…        the live stream (SSE, Last-Event-ID)

Operators (``/api/v1/notifications``): routing rules, templates, webhook endpoints, dead letters (list,
resend), the undeliverable list, any message's delivery log, people's settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any
from uuid import UUID

import jwt
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from lkg.common.auth import PUBLIC_ROUTE, bearer_token
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.pagination import PageQuery
from lkg.common.http.problems import BadRequest
from lkg.common.http.query import StrictQuery
from lkg.common.readcopy import read_copy_router
from lkg.notifier import channels, inbox, operators, preferences, stream
from lkg.notifier.deps import CallerDep, OperatorDep, Runtime, Session, UnitOfWork
from lkg.notifier.models import project_copy
from lkg.notifier.schemas import (
    KIND_PATTERN,
    DeliveryOut,
    DeliveryPage,
    EndpointIn,
    EndpointList,
    EndpointOut,
    LogEntryOut,
    LogOut,
    MessageOut,
    MessagePage,
    ReadAllOut,
    RuleIn,
    RuleList,
    RuleOut,
    RulePatch,
    SettingsIn,
    SettingsOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TicketOut,
    UndeliverableOut,
    UndeliverablePage,
    UnreadOut,
)

_OWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "不存在或不是本人的消息 / not found or not one's own"}
}
_OPS: dict[int | str, dict[str, Any]] = {403: {"description": "仅运维人员 / operators only"}}


def _json(model: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


def inbox_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/inbox", tags=["inbox"], dependencies=[StrictQuery])

    @r.get("/messages", summary="我的消息 / my messages", response_model=MessagePage)
    async def list_messages(
        session: Session,
        caller: CallerDep,
        page: PageQuery,
        unread: Annotated[bool | None, Query(description="只看未读 true / 已读 false")] = None,
    ) -> MessagePage:
        rows, cursor = await inbox.list_inbox(session, person_id=caller.inbox_owner, page=page, unread=unread)
        return MessagePage(items=[MessageOut.model_validate(r) for r in rows], next_cursor=cursor)

    @r.get("/unread-count", summary="未读数 / unread count", response_model=UnreadOut)
    async def unread_count(session: Session, caller: CallerDep) -> UnreadOut:
        return UnreadOut(unread=await inbox.unread_count(session, person_id=caller.inbox_owner))

    @r.post(
        "/messages/{message_id}/read",
        summary="标为已读 / mark read",
        response_model=MessageOut,
        responses=_OWN,
    )
    async def mark_read(
        message_id: UUID, session: UnitOfWork, runtime: Runtime, caller: CallerDep
    ) -> MessageOut:
        row = await inbox.mark_read(
            session, person_id=caller.inbox_owner, message_id=message_id, at=runtime.clock.now()
        )
        return MessageOut.model_validate(row)

    @r.post("/read-all", summary="全部标为已读 / mark all read", response_model=ReadAllOut)
    async def read_all(session: UnitOfWork, runtime: Runtime, caller: CallerDep) -> ReadAllOut:
        marked = await inbox.mark_all_read(session, person_id=caller.inbox_owner, at=runtime.clock.now())
        return ReadAllOut(marked=marked)

    @r.get(
        "/messages/{message_id}/log", summary="投递记录 / delivery log", response_model=LogOut, responses=_OWN
    )
    async def own_log(message_id: UUID, session: Session, caller: CallerDep) -> LogOut:
        await inbox.get_message(session, person_id=caller.inbox_owner, message_id=message_id)
        rows = await inbox.message_log(session, message_id=message_id)
        return LogOut(items=[LogEntryOut.model_validate(r) for r in rows])

    @r.get("/settings", summary="我的通知设置 / my settings", response_model=SettingsOut)
    async def own_settings(session: Session, runtime: Runtime, caller: CallerDep) -> SettingsOut:
        found = await preferences.get_person_settings(
            session, person_id=caller.inbox_owner, settings=runtime.settings
        )
        return SettingsOut.model_validate(found)

    @r.put("/settings", summary="修改我的通知设置 / change my settings", response_model=SettingsOut)
    async def put_own_settings(
        body: SettingsIn, session: UnitOfWork, runtime: Runtime, caller: CallerDep
    ) -> SettingsOut:
        found = await preferences.put_person_settings(
            session,
            person_id=caller.inbox_owner,
            settings=runtime.settings,
            at=runtime.clock.now(),
            **_settings_values(body),
        )
        return SettingsOut.model_validate(found)

    @r.post(
        "/stream-tickets",
        status_code=201,
        summary="申请推送凭据 / a single-use stream ticket",
        response_model=TicketOut,
    )
    async def ticket(
        request: Request, session: UnitOfWork, runtime: Runtime, caller: CallerDep
    ) -> JSONResponse:
        token = bearer_token(request) or ""
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if exp is None:
            raise BadRequest("令牌无有效期，不能用于推送", code="token_without_expiry")
        value, expires = await stream.issue_ticket(
            session, runtime, person_id=caller.inbox_owner, token_expires_at=datetime.fromtimestamp(exp, UTC)
        )
        return _json(TicketOut(ticket=value, expires_at=expires), status=201)

    @r.get(
        "/stream",
        summary="实时推送（SSE）/ live stream",
        openapi_extra=PUBLIC_ROUTE,
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "SSE"},
            401: {"description": "凭据无效 / invalid ticket"},
        },
    )
    async def live(
        session: UnitOfWork,
        runtime: Runtime,
        ticket: Annotated[str, Query(max_length=100, description="一次性推送凭据 / stream ticket")],
        last_event_id: Annotated[
            str,
            Header(
                alias="Last-Event-ID",
                pattern=r"^[0-9]{0,18}$",
                description="断线重连时最后收到的 id / last id seen (none: new messages only)",
            ),
        ] = "",
    ) -> StreamingResponse:
        person_id, token_expires_at = await stream.redeem_ticket(session, ticket)
        return StreamingResponse(
            stream.events(
                runtime,
                person_id=person_id,
                token_expires_at=token_expires_at,
                last_event_id=int(last_event_id) if last_event_id else None,
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return r


def _settings_values(body: SettingsIn) -> dict[str, Any]:
    return {
        "email": body.email,
        "mobile": body.mobile,
        "quiet_from": time.fromisoformat(body.quiet_hours.start) if body.quiet_hours else None,
        "quiet_until": time.fromisoformat(body.quiet_hours.end) if body.quiet_hours else None,
        "preferences": [p.model_dump() for p in body.preferences],
    }


def operator_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], dependencies=[StrictQuery])

    @r.get("/routing-rules", summary="路由规则 / routing rules", response_model=RuleList, responses=_OPS)
    async def rules(
        session: Session,
        _op: OperatorDep,
        kind: Annotated[str | None, Query(pattern=KIND_PATTERN, max_length=64)] = None,
    ) -> RuleList:
        return RuleList(
            items=[RuleOut.model_validate(r) for r in await operators.list_rules(session, kind=kind)]
        )

    @r.post(
        "/routing-rules",
        status_code=201,
        summary="新增路由规则 / add a rule",
        response_model=RuleOut,
        responses=_OPS,
    )
    async def add_rule(body: RuleIn, session: UnitOfWork, runtime: Runtime, _op: OperatorDep) -> JSONResponse:
        row = await operators.add_rule(
            session,
            kind=body.kind,
            audience=str(body.audience),
            layer=body.layer,
            note=body.note,
            at=runtime.clock.now(),
        )
        out = RuleOut.model_validate(row)
        return _json(out, 201, etag_header(out.id, out.revision))

    @r.patch(
        "/routing-rules/{rule_id}",
        summary="启用或停用规则 / enable or disable a rule",
        response_model=RuleOut,
        responses={**_OPS, 404: {"description": "规则不存在"}, 412: {"description": "已被他人修改"}},
    )
    async def patch_rule(
        rule_id: UUID,
        body: RulePatch,
        session: UnitOfWork,
        runtime: Runtime,
        _op: OperatorDep,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        current = await operators.get_rule(session, rule_id)
        check_if_match(if_match, etag_for(current.id, current.revision))
        row = await operators.set_rule(
            session,
            rule_id=rule_id,
            expected_revision=current.revision,
            enabled=body.enabled,
            note=body.note,
            at=runtime.clock.now(),
        )
        out = RuleOut.model_validate(row)
        return _json(out, headers=etag_header(out.id, out.revision))

    @r.get("/templates", summary="消息模板 / templates", response_model=TemplateList, responses=_OPS)
    async def templates(session: Session, _op: OperatorDep) -> TemplateList:
        return TemplateList(
            items=[TemplateOut.model_validate(t) for t in await operators.list_templates(session)]
        )

    @r.put(
        "/templates/{kind}",
        summary="修改模板 / change a template",
        response_model=TemplateOut,
        responses={**_OPS, 404: {"description": "模板不存在"}, 412: {"description": "已被他人修改"}},
    )
    async def put_template(
        kind: str,
        body: TemplateIn,
        session: UnitOfWork,
        runtime: Runtime,
        _op: OperatorDep,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        current = await operators.get_template(session, kind)
        check_if_match(if_match, etag_for(current.kind, current.revision))
        row = await operators.set_template(
            session,
            kind=kind,
            expected_revision=current.revision,
            title=body.title,
            body=body.body,
            urgent=body.urgent,
            at=runtime.clock.now(),
        )
        out = TemplateOut.model_validate(row)
        return _json(out, headers=etag_header(out.kind, out.revision))

    @r.get(
        "/webhook-endpoints",
        summary="回调端点 / webhook endpoints",
        response_model=EndpointList,
        responses=_OPS,
    )
    async def endpoints(session: Session, _op: OperatorDep) -> EndpointList:
        return EndpointList(
            items=[EndpointOut.model_validate(e) for e in await operators.list_endpoints(session)]
        )

    @r.post(
        "/webhook-endpoints",
        status_code=201,
        summary="新增回调端点（允许清单、禁止内网地址）/ add a webhook endpoint",
        response_model=EndpointOut,
        responses={**_OPS, 409: {"description": "同名端点已存在"}, 422: {"description": "地址不被允许"}},
    )
    async def add_endpoint(
        body: EndpointIn, session: UnitOfWork, runtime: Runtime, _op: OperatorDep
    ) -> JSONResponse:
        row = await operators.add_endpoint(
            session,
            runtime.settings,
            name=body.name,
            format=body.format,
            url=body.url,
            secret=body.secret,
            kinds=body.kinds,
            at=runtime.clock.now(),
        )
        return _json(EndpointOut.model_validate(row), 201)

    @r.get("/dead-letters", summary="死信 / dead letters", response_model=DeliveryPage, responses=_OPS)
    async def dead_letters(session: Session, _op: OperatorDep, page: PageQuery) -> DeliveryPage:
        rows, cursor = await operators.list_dead(session, page=page)
        return DeliveryPage(items=[DeliveryOut.model_validate(r) for r in rows], next_cursor=cursor)

    @r.post(
        "/dead-letters/{delivery_id}/resend",
        summary="重发（投递 id 不变）/ resend under the same delivery id",
        response_model=DeliveryOut,
        responses={**_OPS, 404: {"description": "投递不存在"}, 409: {"description": "不是死信"}},
    )
    async def resend(
        delivery_id: UUID, session: UnitOfWork, runtime: Runtime, _op: OperatorDep
    ) -> DeliveryOut:
        row = await operators.resend(session, delivery_id=delivery_id, at=runtime.clock.now())
        return DeliveryOut.model_validate(row)

    @r.get(
        "/undeliverable",
        summary="无人可收的通知 / undeliverable",
        response_model=UndeliverablePage,
        responses=_OPS,
    )
    async def undeliverable(session: Session, _op: OperatorDep, page: PageQuery) -> UndeliverablePage:
        rows, cursor = await operators.list_undeliverable(session, page=page)
        return UndeliverablePage(items=[UndeliverableOut.model_validate(r) for r in rows], next_cursor=cursor)

    @r.get(
        "/messages/{message_id}/log",
        summary="消息投递记录 / a message's log",
        response_model=LogOut,
        responses=_OPS,
    )
    async def any_log(message_id: UUID, session: Session, _op: OperatorDep) -> LogOut:
        rows = await inbox.message_log(session, message_id=message_id)
        return LogOut(items=[LogEntryOut.model_validate(r) for r in rows])

    @r.get(
        "/people/{person_id}/settings",
        summary="某人的通知设置（手机号脱敏）/ a person's settings",
        response_model=SettingsOut,
        responses=_OPS,
    )
    async def person_settings(
        person_id: UUID, session: Session, runtime: Runtime, _op: OperatorDep
    ) -> SettingsOut:
        found = await preferences.get_person_settings(session, person_id=person_id, settings=runtime.settings)
        found["mobile"] = channels.mask_mobile(found["mobile"])
        return SettingsOut.model_validate(found)

    @r.put(
        "/people/{person_id}/settings",
        summary="设置某人的通知地址与偏好 / set a person's settings",
        response_model=SettingsOut,
        responses=_OPS,
    )
    async def put_person_settings(
        person_id: UUID, body: SettingsIn, session: UnitOfWork, runtime: Runtime, _op: OperatorDep
    ) -> SettingsOut:
        found = await preferences.put_person_settings(
            session,
            person_id=person_id,
            settings=runtime.settings,
            at=runtime.clock.now(),
            **_settings_values(body),
        )
        found["mobile"] = channels.mask_mobile(found["mobile"])
        return SettingsOut.model_validate(found)

    return r


def router() -> APIRouter:
    r = APIRouter()
    r.include_router(inbox_router())
    r.include_router(operator_router())
    r.include_router(read_copy_router("notifier", project_copy))
    return r
