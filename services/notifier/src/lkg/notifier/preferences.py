"""People's own settings (个人消息设置): contact channels, quiet hours, digests and per-kind preferences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.problems import ValidationFailed
from lkg.common.log import get_logger
from lkg.notifier import channels
from lkg.notifier.models import (
    person_setting,
    preference,
)
from lkg.notifier.notices import person_settings_row
from lkg.notifier.operators import check_kind
from lkg.notifier.settings import NotifierSettings

log = get_logger(__name__)


# ---- people's own settings ------------------------------------------------------------------------------


async def get_person_settings(
    session: AsyncSession, *, person_id: UUID, settings: NotifierSettings
) -> dict[str, Any]:
    row = await person_settings_row(session, person_id)
    prefs = (
        await session.execute(
            sa.select(preference).where(preference.c.person_id == person_id).order_by(preference.c.kind)
        )
    ).all()
    return {
        "person_id": person_id,
        "email": row.email if row else None,
        "mobile": row.mobile if row else None,
        "quiet_from": row.quiet_from if row else settings.default_quiet_from,
        "quiet_until": row.quiet_until if row else settings.default_quiet_until,
        "revision": row.revision if row else 0,
        "preferences": [{"kind": p.kind, "channels": list(p.channels), "digest": p.digest} for p in prefs]
        or [{"kind": "*", "channels": list(settings.default_channels), "digest": False}],
    }


async def put_person_settings(
    session: AsyncSession,
    *,
    person_id: UUID,
    settings: NotifierSettings,
    email: str | None,
    mobile: str | None,
    quiet_from: time | None,
    quiet_until: time | None,
    preferences: Sequence[dict[str, Any]],
    at: datetime,
) -> dict[str, Any]:
    if (quiet_from is None) != (quiet_until is None):
        raise ValidationFailed(
            "静默时段须同时给出开始和结束时间",
            code="quiet_hours_incomplete",
            errors=[{"loc": ["body", "quiet_until"], "msg": "须与 quiet_from 同时给出", "type": "missing"}],
        )
    for p in preferences:
        if p["kind"] != "*":
            check_kind(p["kind"])
    stmt = pg_insert(person_setting).values(
        person_id=person_id,
        email=email,
        mobile=mobile,
        quiet_from=quiet_from,
        quiet_until=quiet_until,
        updated_at=at,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["person_id"],
            set_={
                "email": email,
                "mobile": mobile,
                "quiet_from": quiet_from,
                "quiet_until": quiet_until,
                "revision": person_setting.c.revision + 1,
                "updated_at": at,
            },
        )
    )
    await session.execute(sa.delete(preference).where(preference.c.person_id == person_id))
    if preferences:
        await session.execute(
            sa.insert(preference),
            [
                {
                    "person_id": person_id,
                    "kind": p["kind"],
                    "channels": list(p["channels"]),
                    "digest": p["digest"],
                    "updated_at": at,
                }
                for p in preferences
            ],
        )
    log.info("notifier.settings_changed", person_id=str(person_id), mobile=channels.mask_mobile(mobile))
    return await get_person_settings(session, person_id=person_id, settings=settings)
