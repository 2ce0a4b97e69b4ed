"""HTTP routes of accounts and client systems (``/api/v1/auth/...``): thin — validate, call one use case,
answer; a write's unit of work commits when the route returns (``UnitOfWork``).

Login, refresh, logout and the client credentials token endpoint are public (``PUBLIC_ROUTE``): they are
how a caller gets a token. Their answers carry ``Cache-Control: no-store`` (RFC 6749 §5.1). A refused
login, refresh, token request or password change is audited (and counted towards the lockout): the use
case returns the refusal instead of raising it, the route answers it as a problem, and the unit of work
commits the audit line (a raise would roll it back with everything else).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import PUBLIC_ROUTE, CurrentPrincipal, Principal, Role, require_roles
from lkg.common.http.client_address import client_address, parse_networks
from lkg.common.http.concurrency import IfMatch, check_if_match, etag_for, etag_header
from lkg.common.http.idempotency import IdempotencyKey, idempotent_create, request_hash
from lkg.common.http.pagination import PageQuery
from lkg.common.http.problems import DomainError, domain_error_handler
from lkg.common.http.query import StrictQuery
from lkg.common.runtime.service import ServiceRuntime
from lkg.common.settings import ServiceSettings
from lkg.registry.accounts import audit, clients, passwords, service
from lkg.registry.accounts.models import Account, ClientSystem
from lkg.registry.accounts.schemas import (
    AccountIn,
    AccountOut,
    AccountPage,
    AccountStatus,
    ClientIn,
    ClientOut,
    ClientPage,
    ClientTokenOut,
    ClientTokenRequest,
    ClientWithSecret,
    LoginEventFilters,
    LoginEventOut,
    LoginEventPage,
    LoginIn,
    PasswordChange,
    RefreshIn,
    Rotation,
    TokenPair,
)
from lkg.registry.deps import Runtime, Session, UnitOfWork
from lkg.registry.settings import RegistrySettings

router = APIRouter(prefix="/api/v1/auth", dependencies=[StrictQuery])
AccountAdmin = Annotated[Principal, Depends(require_roles(Role.MAJOR_PROJECTS_OFFICE, Role.ADMIN))]
SystemAdmin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
AuditFilters = Annotated[LoginEventFilters, Query()]

#: RFC 6749 §5.1: token responses are never cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "请求体须为 application/x-www-form-urlencoded 或 application/json"


def _origin(request: Request) -> audit.Origin:
    settings: ServiceSettings = request.app.state.settings
    return audit.Origin(
        # The client's address, a forwarded one believed from LKG_TRUSTED_PROXIES only.
        address=client_address(request, parse_networks(settings.trusted_proxies)),
        user_agent=request.headers.get("user-agent"),
    )


async def _refused(request: Request, error: DomainError) -> Response:
    """A refusal the use case returned rather than raised, answered as that error: the unit of work still
    commits what the use case wrote (the audit line, the failure towards the lockout)."""
    return await domain_error_handler(request, error)


async def _tokens(request: Request, result: service.Issued | DomainError) -> Response:
    if isinstance(result, DomainError):
        return await _refused(request, result)
    body = TokenPair(
        access_token=result.access_token,
        expires_in=result.expires_in,
        refresh_token=result.refresh_token,
        refresh_expires_in=result.refresh_expires_in,
        account_id=result.account_id,
        roles=list(result.roles),
    )
    return JSONResponse(body.model_dump(mode="json"), headers=NO_STORE)


async def _account_out(
    session: AsyncSession, runtime: ServiceRuntime[RegistrySettings], accounts: list[Account]
) -> list[AccountOut]:
    powers = await service.powers(session, runtime.clock, accounts)
    out = []
    for a in accounts:
        name, roles, locked_until = powers[a.id]
        status: AccountStatus = "disabled" if a.status == "disabled" else "active"
        if status == "active" and locked_until is not None:
            status = "locked"
        out.append(
            AccountOut(
                id=a.id,
                person_id=a.person_id,
                person_name=name,
                username=a.username,
                system_admin=a.system_admin,
                status=status,
                locked_until=locked_until,
                roles=roles,
                revision=a.revision,
                created_at=a.created_at,
                updated_at=a.updated_at,
                password_changed_at=a.password_changed_at,
            )
        )
    return out


async def _one(
    session: AsyncSession, runtime: ServiceRuntime[RegistrySettings], account: Account, status: int = 200
) -> Response:
    (out,) = await _account_out(session, runtime, [account])
    return JSONResponse(
        out.model_dump(mode="json"), status_code=status, headers=etag_header(account.id, account.revision)
    )


def _client_out(client: ClientSystem) -> ClientOut:
    return ClientOut(
        client_id=client.client_id,
        name=client.name,
        scopes=list(client.scopes),
        status=client.status,
        revision=client.revision,
        created_at=client.created_at,
        updated_at=client.updated_at,
        rotated_at=client.rotated_at,
        revoked_at=client.revoked_at,
        previous_secret_valid_until=client.previous_valid_until,
    )


def _with_secret(client: ClientSystem, secret: str, status: int = 200) -> Response:
    body = ClientWithSecret(**_client_out(client).model_dump(), client_secret=secret)
    headers = {**NO_STORE, **etag_header(client.client_id, client.revision)}
    if status == 201:
        headers["Location"] = f"/api/v1/auth/clients/{client.client_id}"
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


# ---- the token endpoint's body (RFC 6749 §4.4.2, §2.3.1) --------------------------------------------

_PRINTABLE = re.compile(r"[\x21-\x7e]{1,256}")
_TOKEN_FIELDS = ("grant_type", "scope", "client_id", "client_secret")
_TOKEN_SCHEMA = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {
            "type": "string",
            "maxLength": 2000,
            "pattern": r"^[\x21\x23-\x5b\x5d-\x7e ]*$",
            "description": "空格分隔，缺省为全部 / space-separated; default all the client has",
        },
        "client_id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[\x21-\x7e]+$"},
        "client_secret": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": r"^[\x21-\x7e]+$"},
    },
}
TOKEN_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {"schema": _TOKEN_SCHEMA},
        "application/json": {"schema": _TOKEN_SCHEMA},
    },
}


async def _token_request(request: Request) -> tuple[ClientTokenRequest, str | None, str | None]:
    """The grant, and the client's id and secret from HTTP Basic or from the body (never both)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    data: dict[str, Any] = {}
    try:
        if media == "application/x-www-form-urlencoded":
            seen: set[str] = set()
            for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
                if key not in _TOKEN_FIELDS:
                    continue  # §3.2: unknown parameters are ignored
                if key in seen:
                    raise clients.OAuthError("invalid_request", f"参数 {key} 重复")  # §3.2
                seen.add(key)
                if value != "":  # §3.1: a parameter without a value is omitted
                    data[key] = value
        elif media == "application/json":
            parsed = json.loads(raw)
            if not isinstance(parsed, dict):
                raise clients.OAuthError("invalid_request", "请求体须为 JSON 对象")
            if any(parsed.get(k) is None for k in _TOKEN_FIELDS if k in parsed):
                raise clients.OAuthError("invalid_request", "参数不能为 null")
            data = parsed
        else:
            raise UnsupportedMediaType()
    except (UnicodeDecodeError, ValueError) as exc:
        raise clients.OAuthError("invalid_request", "请求体无法解析") from exc
    if "grant_type" in data and data["grant_type"] != "client_credentials":
        raise clients.OAuthError("unsupported_grant_type")
    try:
        grant = ClientTokenRequest.model_validate({k: data[k] for k in _TOKEN_FIELDS if k in data})
    except ValidationError as exc:
        raise clients.OAuthError("invalid_request") from exc
    client_id, secret = grant.client_id, grant.client_secret
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        if client_id is not None or secret is not None:
            raise clients.OAuthError("invalid_request", "客户端认证只能使用一种方式")  # §2.3
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise clients.OAuthError("invalid_client") from exc
        user, sep, password = decoded.partition(":")
        if not sep:
            raise clients.OAuthError("invalid_client")
        client_id, secret = unquote_plus(user), unquote_plus(password)
        if not (_PRINTABLE.fullmatch(client_id) and _PRINTABLE.fullmatch(secret)):
            raise clients.OAuthError("invalid_client")
    return grant, client_id, secret


# ---- sign in ----


@router.post(
    "/login",
    response_model=TokenPair,
    openapi_extra=PUBLIC_ROUTE,
    summary="登录 Log in",
    description="用户名与密码换取访问令牌（短时效 JWT）与刷新令牌。用户名不存在与密码错误的回答相同"
    "（401 `invalid_credentials`）；15分钟内失败5次锁定15分钟（429 `account_locked`，`Retry-After`）。",
)
async def login(body: LoginIn, request: Request, session: UnitOfWork, runtime: Runtime) -> Response:
    result = await service.login(
        session,
        runtime.settings,
        runtime.clock,
        username=body.username,
        password=body.password,
        origin=_origin(request),
    )
    return await _tokens(request, result)


@router.post(
    "/refresh",
    response_model=TokenPair,
    openapi_extra=PUBLIC_ROUTE,
    summary="刷新令牌 Refresh",
    description="刷新令牌只能用一次：每次换回新的访问令牌和新的刷新令牌（角色按今日任职重新推导）。"
    "已用过的刷新令牌再次出现，即视为被盗用，该次登录的全部令牌作废（401 `refresh_token_reused`）。",
)
async def refresh(body: RefreshIn, request: Request, session: UnitOfWork, runtime: Runtime) -> Response:
    result = await service.refresh(
        session,
        runtime.settings,
        runtime.clock,
        refresh_token=body.refresh_token,
        origin=_origin(request),
    )
    return await _tokens(request, result)


@router.post(
    "/logout",
    status_code=204,
    openapi_extra=PUBLIC_ROUTE,
    summary="退出登录 Log out",
    description="作废该刷新令牌所属的整次登录（RFC 7009：未知令牌同样回答204）。",
)
async def logout(body: RefreshIn, request: Request, session: UnitOfWork, runtime: Runtime) -> Response:
    await service.logout(session, runtime.clock, refresh_token=body.refresh_token, origin=_origin(request))
    return Response(status_code=204)


@router.post(
    "/token",
    response_model=ClientTokenOut,
    openapi_extra={**PUBLIC_ROUTE, "requestBody": TOKEN_REQUEST_BODY},
    summary="对接系统取令牌 Client credentials token (RFC 6749 §4.4)",
    description="`grant_type=client_credentials`；客户端以 HTTP Basic 或请求体中的 `client_id`/"
    "`client_secret` 认证。错误按 RFC 6749 §5.2，`code` 与 `error` 相同。",
)
async def token(request: Request, session: UnitOfWork, runtime: Runtime) -> Response:
    grant, client_id, secret = await _token_request(request)
    if client_id is None or secret is None or len(client_id) > 64:
        raise clients.OAuthError("invalid_client")
    result = await clients.issue_client_token(
        session,
        runtime.settings,
        runtime.clock,
        client_id=client_id,
        client_secret=secret,
        scope=grant.scope,
        origin=_origin(request),
    )
    if isinstance(result, DomainError):
        return await _refused(request, result)
    body = ClientTokenOut(
        access_token=result.access_token, expires_in=result.expires_in, scope=" ".join(result.scopes)
    )
    return JSONResponse(body.model_dump(mode="json"), headers=NO_STORE)


# ---- accounts ----


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountOut,
    summary="开设账号 Create an account",
    description="为组织目录中的人员开设账号（每人一个），密码以 argon2id 保存。支持 `Idempotency-Key`。",
    responses={404: {"description": "人员不存在"}, 409: {"description": "用户名已被使用或此人已有账号"}},
)
async def create_account(
    request: Request,
    body: AccountIn,
    session: UnitOfWork,
    runtime: Runtime,
    principal: AccountAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    settings = runtime.settings

    async def create() -> Response:
        account = await service.create_account(
            session,
            settings,
            runtime.clock,
            person_id=body.person_id,
            username=body.username,
            password=body.password,
            system_admin=body.system_admin,
            by=principal,
        )
        response = await _one(session, runtime, account, status=201)
        response.headers["Location"] = f"/api/v1/auth/accounts/{account.id}"
        return response

    fingerprint = {
        **body.model_dump(mode="json"),
        "password": passwords.password_fingerprint(settings, body.password),
    }
    response = await idempotent_create(
        session,
        principal=principal.key,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        request_hash=request_hash(fingerprint),
        create=create,
    )
    return response


@router.get("/accounts", response_model=AccountPage, summary="账号列表 List accounts")
async def list_accounts(session: Session, runtime: Runtime, _: AccountAdmin, page: PageQuery) -> AccountPage:
    rows, next_cursor = await service.list_accounts(session, page)
    return AccountPage(items=await _account_out(session, runtime, rows), next_cursor=next_cursor)


@router.get(
    "/accounts/{account_id}",
    response_model=AccountOut,
    summary="账号 An account",
    description="本人或账号管理员可见；其他人得到404。",
)
async def get_account(
    account_id: uuid.UUID, session: Session, runtime: Runtime, principal: CurrentPrincipal
) -> Response:
    account = await service.get_account(session, account_id, by=principal)
    return await _one(session, runtime, account)


@router.post(
    "/accounts/{account_id}/password-changes",
    response_model=AccountOut,
    summary="修改或重置密码 Change or reset a password",
    description="本人须给出当前密码；重大项目办或系统管理员可重置。该账号的全部刷新令牌作废。需 `If-Match`。",
)
async def change_password(
    account_id: uuid.UUID,
    body: PasswordChange,
    request: Request,
    session: UnitOfWork,
    runtime: Runtime,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
) -> Response:
    account = await service.get_account(session, account_id, by=principal)
    check_if_match(if_match, etag_for(account.id, account.revision))
    result = await service.change_password(
        session,
        runtime.settings,
        runtime.clock,
        account,
        expected_revision=account.revision,
        current_password=body.current_password,
        new_password=body.new_password,
        by=principal,
        origin=_origin(request),
    )
    if isinstance(result, DomainError):
        return await _refused(request, result)
    return await _one(session, runtime, result)


def _status_action(path: str, status: str, summary: str, description: str) -> None:
    @router.post(
        f"/accounts/{{account_id}}/{path}",
        response_model=AccountOut,
        summary=summary,
        description=description,
    )
    async def action(
        account_id: uuid.UUID,
        session: UnitOfWork,
        runtime: Runtime,
        principal: AccountAdmin,
        if_match: IfMatch = None,
    ) -> Response:
        account = await service.get_account(session, account_id, by=principal)
        check_if_match(if_match, etag_for(account.id, account.revision))
        if status == "unlocked":
            await service.unlock(
                session, runtime.clock, account, expected_revision=account.revision, by=principal
            )
        else:
            await service.set_status(
                session,
                runtime.clock,
                account,
                status=status,
                expected_revision=account.revision,
                by=principal,
            )
        return await _one(session, runtime, account)

    action.__name__ = f"account_{path.replace('-', '_')}"


_status_action(
    "disablements",
    "disabled",
    "停用账号 Disable an account",
    "不能再登录，全部刷新令牌作废。需 `If-Match`。",
)
_status_action("enablements", "active", "启用账号 Enable an account", "恢复登录。需 `If-Match`。")
_status_action("unlocks", "unlocked", "解除锁定 Lift a lockout", "在锁定期满前解除。需 `If-Match`。")

# ---- the login audit ----


@router.get(
    "/login-events",
    response_model=LoginEventPage,
    summary="登录审计 Login audit",
    description="登录、登录失败、锁定、刷新、刷新令牌重用、退出、改密、对接系统取令牌；新的在前。",
)
async def login_events(
    session: Session, _: AccountAdmin, page: PageQuery, filters: AuditFilters
) -> LoginEventPage:
    rows, next_cursor = await audit.list_login_events(session, page, **filters.model_dump())
    return LoginEventPage(
        items=[LoginEventOut.model_validate(e, from_attributes=True) for e in rows],
        next_cursor=next_cursor,
    )


# ---- client systems ----


@router.post(
    "/clients",
    status_code=201,
    response_model=ClientWithSecret,
    summary="登记对接系统 Register a client system",
    description="返回的 `client_secret` 只显示这一次（仅保存其摘要）。重试得到409 `client_exists`："
    "密钥不保存在任何可重放之处；遗失时请轮换。仅系统管理员。",
    responses={409: {"description": "编号已被使用 / client id taken"}},
)
async def register_client(
    body: ClientIn, session: UnitOfWork, runtime: Runtime, principal: SystemAdmin
) -> Response:
    client, secret = await clients.register_client(
        session, runtime.clock, client_id=body.client_id, name=body.name, scopes=body.scopes, by=principal
    )
    return _with_secret(client, secret, status=201)


@router.get("/clients", response_model=ClientPage, summary="对接系统列表 List client systems")
async def list_clients(session: Session, _: SystemAdmin, page: PageQuery) -> ClientPage:
    rows, next_cursor = await clients.list_clients(session, page)
    return ClientPage(items=[_client_out(c) for c in rows], next_cursor=next_cursor)


@router.get("/clients/{client_id}", response_model=ClientOut, summary="对接系统 A client system")
async def get_client(client_id: str, session: Session, _: SystemAdmin) -> Response:
    client = await clients.get_client(session, client_id)
    return JSONResponse(
        _client_out(client).model_dump(mode="json"),
        headers=etag_header(client.client_id, client.revision),
    )


@router.post(
    "/clients/{client_id}/rotations",
    response_model=ClientWithSecret,
    summary="轮换密钥 Rotate the secret",
    description="新密钥只显示这一次；旧密钥在 `grace_seconds` 内仍可用（缺省立即失效）。需 `If-Match`。",
)
async def rotate(
    client_id: str,
    session: UnitOfWork,
    runtime: Runtime,
    _: SystemAdmin,
    body: Rotation | None = None,
    if_match: IfMatch = None,
) -> Response:
    client = await clients.get_client(session, client_id)
    check_if_match(if_match, etag_for(client.client_id, client.revision))
    client, secret = await clients.rotate_client_secret(
        session,
        runtime.clock,
        client,
        expected_revision=client.revision,
        grace_seconds=(body or Rotation()).grace_seconds,
    )
    return _with_secret(client, secret)


@router.post(
    "/clients/{client_id}/revocations",
    response_model=ClientOut,
    summary="吊销对接系统 Revoke a client system",
    description="此后不再签发令牌；已签发的令牌在其短时效内到期。需 `If-Match`。",
)
async def revoke(
    client_id: str, session: UnitOfWork, runtime: Runtime, _: SystemAdmin, if_match: IfMatch = None
) -> Response:
    client = await clients.get_client(session, client_id)
    check_if_match(if_match, etag_for(client.client_id, client.revision))
    client = await clients.revoke_client(session, runtime.clock, client, expected_revision=client.revision)
    return JSONResponse(
        _client_out(client).model_dump(mode="json"),
        headers=etag_header(client.client_id, client.revision),
    )
