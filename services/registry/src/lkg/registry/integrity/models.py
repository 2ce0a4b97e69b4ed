"""The integrity reviews (on the registry's metadata)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from lkg.registry.models import Base


class IntegrityReview(Base):
    """One 回头看 review of a project's contract performance: who, when, what it found, on what evidence.
    Never changed or deleted: a later review supersedes the project's findings, not this row."""

    __tablename__ = "integrity_review"
    __table_args__ = (sa.Index("ix_integrity_review_project_id_reviewed_on", "project_id", "reviewed_on"),)

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("project.id"), nullable=False)
    reviewed_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    #: The reviewers as they sign (督查室、商务局 staff), and the units the recording caller acts for.
    reviewers: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reviewer_unit_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(PG_UUID(as_uuid=True)), nullable=False)
    #: ``IntegrityFlag`` values; empty = the contract is being performed.
    findings: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False)
    evidence: Mapped[str] = mapped_column(sa.Text, nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class IntegrityRound(Base):
    """One round of 回头看 (定期, §四(四)): every active project reviewed between ``starts_on`` and ``due_on``
    (the round's last month's last working day). A deadline row like the statistics duties: ``next_at`` is
    the warning, then the due time; ``outcome`` ``met`` or ``missed`` (recorded against 督查室)."""

    __tablename__ = "integrity_round"
    __table_args__ = (
        sa.UniqueConstraint("due_on"),
        sa.Index("ix_integrity_round_next_at", "next_at", postgresql_where=sa.text("next_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    due_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    due_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    warn_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    next_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    unit_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    unit_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    warned_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(sa.Text)
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    unreviewed_project_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(PG_UUID(as_uuid=True)), nullable=False, default=list
    )
