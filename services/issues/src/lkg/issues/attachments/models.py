"""Tables of attachments (附件), on the service's one metadata (:mod:`lkg.issues.models`): the bytes once per
content (SHA-256), one metadata row per upload (:mod:`lkg.issues.attachments` says why in the database)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.issues.models import metadata

_UUID = PG_UUID(as_uuid=True)
_AT = sa.DateTime(timezone=True)

attachment_content = sa.Table(
    "attachment_content",
    metadata,
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("created_at", _AT, nullable=False),
)

attachment = sa.Table(
    "attachment",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("matter_id", _UUID, sa.ForeignKey("matter.id"), nullable=False),
    sa.Column("sha256", sa.Text, sa.ForeignKey("attachment_content.sha256"), nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    #: The type sniffed from the content (magic bytes), not the one the client declared.
    sa.Column("media_type", sa.Text, nullable=False),
    sa.Column("declared_type", sa.Text),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("uploaded_by", sa.Text, nullable=False),
    sa.Column("uploaded_by_name", sa.Text),
    sa.Column("uploaded_at", _AT, nullable=False),
    sa.Index("ix_attachment_matter_id", "matter_id", "uploaded_at"),
)
