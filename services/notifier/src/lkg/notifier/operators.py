"""Operators' use cases (消息运维): routing rules, templates, webhook endpoints, dead letters resent
under the same delivery id, and the undeliverable list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, NotFound, ValidationFailed
from lkg.common.log import get_logger
from lkg.notifier import channels
from lkg.notifier.kinds import known_kinds
from lkg.notifier.models import (
    delivery,
    routing_rule,
    template,
    undeliverable,
    webhook_endpoint,
)
from lkg.notifier.notices import log_delivery, template_of
from lkg.notifier.settings import NotifierSettings

log = get_logger(__name__)


# ---- operators: routing, templates, endpoints, dead letters, undeliverable ------------------------------


async def list_rules(session: AsyncSession, *, kind: str | None = None) -> list[Any]:
    stmt = sa.select(routing_rule).order_by(
        routing_rule.c.kind, routing_rule.c.layer, routing_rule.c.audience
    )
    if kind is not None:
        stmt = stmt.where(routing_rule.c.kind == kind)
    return list((await session.execute(stmt)).all())


def check_kind(kind: str) -> None:
    known = known_kinds()
    if kind not in known:
        raise ValidationFailed(
            f"不支持的通知类型 {kind}",
            code="unknown_kind",
            errors=[{"loc": ["body", "kind"], "msg": f"可选：{'、'.join(sorted(known))}", "type": "enum"}],
        )


async def add_rule(
    session: AsyncSession, *, kind: str, audience: str, layer: int | None, note: str, at: datetime
) -> Any:
    check_kind(kind)
    rule_id = uuid.uuid4()
    inserted = (
        await session.execute(
            pg_insert(routing_rule)
            .values(
                id=rule_id, kind=kind, audience=audience, layer=layer, note=note, enabled=True, updated_at=at
            )
            .on_conflict_do_nothing()
            .returning(routing_rule.c.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise Conflict("该通知类型已有相同受众的规则", code="rule_exists")
    return await get_rule(session, rule_id)


async def get_rule(session: AsyncSession, rule_id: UUID) -> Any:
    row = (await session.execute(sa.select(routing_rule).where(routing_rule.c.id == rule_id))).one_or_none()
    if row is None:
        raise NotFound("路由规则不存在", code="rule_not_found")
    return row


async def set_rule(
    session: AsyncSession,
    *,
    rule_id: UUID,
    expected_revision: int,
    enabled: bool,
    note: str | None,
    at: datetime,
) -> Any:
    values: dict[str, Any] = {"enabled": enabled, "revision": routing_rule.c.revision + 1, "updated_at": at}
    if note is not None:
        values["note"] = note
    updated = (
        await session.execute(
            sa.update(routing_rule)
            .where(routing_rule.c.id == rule_id, routing_rule.c.revision == expected_revision)
            .values(**values)
            .returning(routing_rule.c.id)
        )
    ).scalar_one_or_none()
    if updated is None:
        await get_rule(session, rule_id)
        from lkg.common.http.problems import PreconditionFailed

        raise PreconditionFailed()
    return await get_rule(session, rule_id)


async def list_templates(session: AsyncSession) -> list[Any]:
    return list((await session.execute(sa.select(template).order_by(template.c.kind))).all())


async def get_template(session: AsyncSession, kind: str) -> Any:
    row = await template_of(session, kind)
    if row is None:
        raise NotFound("模板不存在", code="template_not_found")
    return row


async def set_template(
    session: AsyncSession,
    *,
    kind: str,
    expected_revision: int,
    title: str,
    body: str,
    urgent: bool,
    at: datetime,
) -> Any:
    current = await get_template(session, kind)
    if current.revision != expected_revision:
        from lkg.common.http.problems import PreconditionFailed

        raise PreconditionFailed()
    await session.execute(
        sa.update(template)
        .where(template.c.kind == kind)
        .values(title=title, body=body, urgent=urgent, revision=template.c.revision + 1, updated_at=at)
    )
    return await get_template(session, kind)


async def add_endpoint(
    session: AsyncSession,
    settings: NotifierSettings,
    *,
    name: str,
    format: str,
    url: str,
    secret: str,
    kinds: Sequence[str],
    at: datetime,
) -> Any:
    for kind in kinds:
        check_kind(kind)
    try:
        await channels.resolve_target(url, settings)
    except channels.TargetRefused as exc:
        raise ValidationFailed(
            exc.detail, code=exc.code, errors=[{"loc": ["body", "url"], "msg": exc.detail, "type": exc.code}]
        ) from exc
    endpoint_id = uuid.uuid4()
    inserted = (
        await session.execute(
            pg_insert(webhook_endpoint)
            .values(
                id=endpoint_id,
                name=name,
                format=format,
                url=url,
                secret=secret,
                kinds=list(kinds),
                enabled=True,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing()
            .returning(webhook_endpoint.c.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise Conflict("同名回调端点已存在", code="endpoint_exists")
    return await get_endpoint(session, endpoint_id)


async def get_endpoint(session: AsyncSession, endpoint_id: UUID) -> Any:
    row = (
        await session.execute(sa.select(webhook_endpoint).where(webhook_endpoint.c.id == endpoint_id))
    ).one_or_none()
    if row is None:
        raise NotFound("回调端点不存在", code="endpoint_not_found")
    return row


async def list_endpoints(session: AsyncSession) -> list[Any]:
    return list((await session.execute(sa.select(webhook_endpoint).order_by(webhook_endpoint.c.name))).all())


async def list_dead(session: AsyncSession, *, page: PageParams) -> tuple[list[Any], str | None]:
    stmt = sa.select(delivery).where(delivery.c.state == "dead")
    return await fetch_page(
        session, stmt, Keyset(sort=delivery.c.created_at, id=delivery.c.id, name="dead"), page, scalars=False
    )


async def resend(session: AsyncSession, *, delivery_id: UUID, at: datetime) -> Any:
    """Queue a dead delivery again under the same delivery id (receivers still recognise a duplicate)."""
    row = (await session.execute(sa.select(delivery).where(delivery.c.id == delivery_id))).one_or_none()
    if row is None:
        raise NotFound("投递记录不存在", code="delivery_not_found")
    if row.state != "dead":
        raise Conflict("只能重发已进入死信的投递", code="delivery_not_dead")
    await session.execute(
        sa.update(delivery)
        .where(delivery.c.id == delivery_id)
        .values(state="queued", attempts=0, next_attempt_at=at)
    )
    await log_delivery(
        session, message_id=row.message_id, delivery_id=delivery_id, channel=row.channel, step="resent", at=at
    )
    return (await session.execute(sa.select(delivery).where(delivery.c.id == delivery_id))).one()


async def list_undeliverable(session: AsyncSession, *, page: PageParams) -> tuple[list[Any], str | None]:
    stmt = sa.select(undeliverable)
    return await fetch_page(
        session,
        stmt,
        Keyset(sort=undeliverable.c.id, id=undeliverable.c.id, name="undeliverable", descending=True),
        page,
        scalars=False,
    )
