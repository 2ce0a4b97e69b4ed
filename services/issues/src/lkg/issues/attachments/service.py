"""Use cases of a matter's attachments: upload (by those who take part in the matter, while it is open),
list, read one and download, each on a matter the caller sees."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.base import new_event_id
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, NotFound
from lkg.issues.access import Caller, require
from lkg.issues.attachments.content import check_content
from lkg.issues.attachments.models import attachment, attachment_content
from lkg.issues.audit import record
from lkg.issues.models import OPEN_STATES
from lkg.issues.settings import IssuesRuntime


async def add_attachment(
    session: AsyncSession,
    runtime: IssuesRuntime,
    caller: Caller,
    m: Any,
    *,
    filename: str,
    declared_type: str | None,
    data: bytes,
) -> Any:
    """Store one uploaded file on matter ``m`` (which the caller sees) and note it in the audit trail."""
    require(caller.takes_part(m), "为该事项上传附件（反映、解决或所在层级单位）")
    if m.state not in OPEN_STATES:
        raise Conflict("事项已办结或已撤回，不能再上传附件", code="matter_closed")
    media_type = check_content(runtime.settings, declared_type, data)
    now = runtime.clock.now()
    digest = hashlib.sha256(data).hexdigest()
    await session.execute(
        pg_insert(attachment_content)
        .values(sha256=digest, size_bytes=len(data), content=data, created_at=now)
        .on_conflict_do_nothing(index_elements=[attachment_content.c.sha256])
    )
    row = (
        await session.execute(
            sa.insert(attachment)
            .values(
                # Time-ordered: two uploads in one instant of the simulated clock list in upload order.
                id=new_event_id(),
                matter_id=m.id,
                sha256=digest,
                filename=filename,
                media_type=media_type,
                declared_type=declared_type,
                size_bytes=len(data),
                layer=m.layer,
                uploaded_by=caller.actor,
                uploaded_by_name=caller.name,
                uploaded_at=now,
            )
            .returning(attachment)
        )
    ).one()
    await record(
        session,
        m,
        "attachment_added",
        actor=caller.actor,
        actor_name=caller.name,
        at=now,
        layer=m.layer,
        detail={
            "attachment_id": str(row.id),
            "filename": filename,
            "media_type": media_type,
            "size_bytes": len(data),
            "sha256": digest,
        },
    )
    return row


BY_UPLOADED = Keyset(sort=attachment.c.uploaded_at, id=attachment.c.id, name="uploaded")


async def list_attachments(
    session: AsyncSession, matter_id: UUID, page: PageParams
) -> tuple[list[Any], str | None]:
    """A matter's attachments, oldest first, one keyset page at a time."""
    stmt = sa.select(attachment).where(attachment.c.matter_id == matter_id)
    return await fetch_page(session, stmt, BY_UPLOADED, page, scalars=False)


async def get_attachment(session: AsyncSession, matter_id: UUID, attachment_id: UUID) -> Any:
    row = (
        await session.execute(
            sa.select(attachment).where(attachment.c.id == attachment_id, attachment.c.matter_id == matter_id)
        )
    ).first()
    if row is None:
        raise NotFound("附件不存在", code="attachment_not_found")
    return row


async def download(session: AsyncSession, matter_id: UUID, attachment_id: UUID) -> tuple[Any, bytes]:
    """One attachment of a matter the caller sees, with its bytes."""
    row = await get_attachment(session, matter_id, attachment_id)
    content = (
        await session.execute(
            sa.select(attachment_content.c.content).where(attachment_content.c.sha256 == row.sha256)
        )
    ).scalar_one()
    return row, content
