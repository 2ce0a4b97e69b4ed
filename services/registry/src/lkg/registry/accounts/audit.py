"""The login audit (登录审计): one line per login, failed login, lockout, refresh, refresh reuse, logout,
password change and client token request, with the time on the shared clock and where it came from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import uuid6
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.registry.accounts.models import LoginEvent
from lkg.registry.accounts.passwords import normalise_username


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, for the audit (the address as the ASGI server reports it)."""

    address: str | None = None
    user_agent: str | None = None


def record(
    session: AsyncSession,
    now: datetime,
    origin: Origin,
    *,
    action: str,
    outcome: str,
    username: str | None = None,
    account_id: uuid.UUID | None = None,
    client_id: str | None = None,
) -> None:
    session.add(
        LoginEvent(
            id=uuid.UUID(str(uuid6.uuid7())),
            at=now,
            action=action,
            outcome=outcome,
            username=username,
            account_id=account_id,
            client_id=client_id,
            client_address=origin.address,
            user_agent=(origin.user_agent or None) and origin.user_agent[:300],
        )
    )


BY_NEWEST = Keyset(sort=LoginEvent.at, id=LoginEvent.id, name="login_event_at", descending=True)


async def list_login_events(
    session: AsyncSession,
    page: PageParams,
    *,
    username: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    client_id: str | None = None,
) -> tuple[list[LoginEvent], str | None]:
    stmt = sa.select(LoginEvent)
    if username is not None:
        stmt = stmt.where(LoginEvent.username == normalise_username(username))
    if action is not None:
        stmt = stmt.where(LoginEvent.action == action)
    if outcome is not None:
        stmt = stmt.where(LoginEvent.outcome == outcome)
    if client_id is not None:
        stmt = stmt.where(LoginEvent.client_id == client_id)
    return await fetch_page(session, stmt, BY_NEWEST, page)
