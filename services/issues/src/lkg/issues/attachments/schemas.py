"""API models of attachments."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from lkg.common.http.types import Instant


class AttachmentOut(BaseModel):
    """附件 / one attachment of a matter (its bytes at ``…/content``)."""

    id: UUID
    matter_id: UUID
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    layer: int
    uploaded_by: str
    uploaded_by_name: str | None
    uploaded_at: Instant


class AttachmentPage(BaseModel):
    items: list[AttachmentOut]
    next_cursor: str | None = None
