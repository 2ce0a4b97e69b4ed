"""Tables of the org directory.

One table holds every current entry (``org_entry``: a unit, post, person, post holding, line or routing
rule, as its contract snapshot in JSONB), one keeps every version of every entry (``org_entry_version``: who
changed it, when on the shared clock, why), and ``org_directory`` holds the directory's revision. The
directory is small (hundreds of entries) and read whole for routing, so one generic table with the snapshot
as the row is simpler than six tables that would mirror the contracts column by column.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from lkg.registry.models import Base

#: The one directory of this deployment (the ``aggregate_id`` of ``org.changed``).
DIRECTORY_ID = uuid.UUID("6c6b6700-0000-4000-8000-000000000001")


class OrgDirectory(Base):
    """The directory's revision: every change bumps it, and each changed entry takes it as its own."""

    __tablename__ = "org_directory"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class OrgEntry(Base):
    """The current version of one directory entry. End-dated, never deleted."""

    __tablename__ = "org_entry"
    __table_args__ = (sa.Index("ix_org_entry_kind", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: The stable name from the configuration file (``street.jinyinhu``); None for entries made over HTTP.
    key: Mapped[str | None] = mapped_column(sa.Text, unique=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    valid_from: Mapped[date | None] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    entry: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class OrgEntryVersion(Base):
    """Every version of every entry: the directory's history (who held a post when, who changed a rule)."""

    __tablename__ = "org_entry_version"

    entry_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    entry: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
