"""Use cases of client systems (对接的其他政府系统): registration, secret rotation, revocation, and the
client credentials token (RFC 6749 §4.4). Like every use case they change rows and never commit; a refused
token request returns its error (see :mod:`lkg.registry.accounts.service`)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.auth import Principal, Role, mint_token
from lkg.common.clock import Clock, wall_clock_utc
from lkg.common.http.concurrency import update_if_revision
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import (
    Conflict,
    DomainError,
    NotFound,
)
from lkg.registry.accounts import audit, service
from lkg.registry.accounts.audit import Origin
from lkg.registry.accounts.models import ClientSystem
from lkg.registry.accounts.passwords import SECRET_PREFIX, digest
from lkg.registry.settings import RegistrySettings


class ClientNotFound(NotFound):
    code = "client_not_found"
    title = "对接系统不存在"


class OAuthError(DomainError):
    """An error of the token endpoint (RFC 6749 §5.2): the problem's ``code`` is the OAuth ``error``, and
    ``error`` / ``error_description`` are added so OAuth client libraries read it too."""

    status = 400
    title = "令牌请求无效"
    TITLES: ClassVar[dict[str, str]] = {
        "invalid_request": "令牌请求缺少参数或参数无效",
        "invalid_client": "客户端认证失败",
        "unsupported_grant_type": "不支持的授权类型，仅支持 client_credentials",
        "invalid_scope": "请求的权限范围超出该客户端的授权",
    }

    def __init__(self, error: str, detail: str | None = None) -> None:
        text = detail or self.TITLES.get(error, self.title)
        super().__init__(text, code=error, extra={"error": error, "error_description": text})
        if error == "invalid_client":
            self.status = 401  # type: ignore[misc]  # RFC 6749 §5.2
            self.headers = {"WWW-Authenticate": 'Basic realm="lkg"'}  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class ClientToken:
    access_token: str
    expires_in: int
    scopes: tuple[str, ...]


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def register_client(
    session: AsyncSession,
    clock: Clock,
    *,
    client_id: str,
    name: str,
    scopes: Iterable[str],
    by: Principal,
) -> tuple[ClientSystem, str]:
    """A client system and its secret (shown once, kept as a digest). A retry answers 409 client_exists:
    the secret is never kept anywhere a replay could show it again; rotate to get a new one."""
    if await session.get(ClientSystem, client_id) is not None:
        raise Conflict("对接系统编号已被使用", code="client_exists")
    now = clock.now()
    secret = _new_secret()
    client = ClientSystem(
        client_id=client_id,
        revision=1,
        name=name,
        scopes=sorted(set(scopes)),
        secret_hash=digest(secret),
        status="active",
        created_by=by.key,
        created_at=now,
        updated_at=now,
    )
    session.add(client)
    await session.flush()
    return client, secret


async def get_client(session: AsyncSession, client_id: str) -> ClientSystem:
    client = await session.get(ClientSystem, client_id)
    if client is None:
        raise ClientNotFound()
    return client


BY_CREATED = Keyset(sort=ClientSystem.created_at, id=ClientSystem.client_id, name="client_created_at")


async def list_clients(session: AsyncSession, page: PageParams) -> tuple[list[ClientSystem], str | None]:
    return await fetch_page(session, sa.select(ClientSystem), BY_CREATED, page)


async def rotate_client_secret(
    session: AsyncSession,
    clock: Clock,
    client: ClientSystem,
    *,
    expected_revision: int,
    grace_seconds: int,
) -> tuple[ClientSystem, str]:
    """A new secret; the old one stays valid for ``grace_seconds`` (0: invalid at once)."""
    if client.status != "active":
        raise Conflict("对接系统已被吊销，不能轮换密钥", code="client_revoked")
    now = clock.now()
    secret = _new_secret()
    await update_if_revision(
        session,
        ClientSystem,
        client.client_id,
        expected_revision,
        {
            "secret_hash": digest(secret),
            "previous_secret_hash": client.secret_hash if grace_seconds > 0 else None,
            "previous_valid_until": now + timedelta(seconds=grace_seconds) if grace_seconds > 0 else None,
            "rotated_at": now,
            "updated_at": now,
        },
        id_column="client_id",
    )
    return client, secret


async def revoke_client(
    session: AsyncSession, clock: Clock, client: ClientSystem, *, expected_revision: int
) -> ClientSystem:
    """吊销: no secret of the client is accepted any more. Tokens already issued live out their short
    life (``accounts_client_token_ttl_seconds``)."""
    if client.status != "active":
        raise Conflict("对接系统已被吊销", code="client_revoked")
    now = clock.now()
    await update_if_revision(
        session,
        ClientSystem,
        client.client_id,
        expected_revision,
        {
            "status": "revoked",
            "previous_secret_hash": None,
            "previous_valid_until": None,
            "revoked_at": now,
            "updated_at": now,
        },
        id_column="client_id",
    )
    return client


def _secret_matches(client: ClientSystem, secret: str, now: datetime) -> bool:
    given = digest(secret)
    if hmac.compare_digest(given, client.secret_hash):
        return True
    return (
        client.previous_secret_hash is not None
        and client.previous_valid_until is not None
        and now < client.previous_valid_until
        and hmac.compare_digest(given, client.previous_secret_hash)
    )


async def issue_client_token(
    session: AsyncSession,
    settings: RegistrySettings,
    clock: Clock,
    *,
    client_id: str,
    client_secret: str,
    scope: str | None,
    origin: Origin,
) -> ClientToken | DomainError:
    """The client credentials grant (RFC 6749 §4.4): a token naming the client and the scopes granted
    (all of the client's when none are asked for; asking for more than it has is ``invalid_scope``)."""
    service.refuse_with_identity_provider(settings)
    now = clock.now()
    client = await session.get(ClientSystem, client_id)
    if client is None or client.status != "active" or not _secret_matches(client, client_secret, now):
        audit.record(session, now, origin, action="client_token", outcome="failure", client_id=client_id)
        return OAuthError("invalid_client")
    granted = set(client.scopes)
    asked = set(scope.split()) if scope else granted
    if not asked <= granted:
        audit.record(
            session, now, origin, action="client_token", outcome="invalid_scope", client_id=client_id
        )
        return OAuthError("invalid_scope")
    token = mint_token(
        settings,
        client=client.client_id,
        roles=[Role.CLIENT_SYSTEM],
        scopes=asked,
        name=client.name,
        ttl_seconds=settings.accounts_client_token_ttl_seconds,
        now=wall_clock_utc(),
    )
    audit.record(session, now, origin, action="client_token", outcome="success", client_id=client_id)
    return ClientToken(
        access_token=token, expires_in=settings.accounts_client_token_ttl_seconds, scopes=tuple(sorted(asked))
    )
