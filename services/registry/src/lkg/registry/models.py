"""Tables of the registry service (its own database).

The walking skeleton's part of the project register: a project row whose columns map one to one onto
:class:`lkg.common.events.contracts.ProjectSnapshot`. The org directory, milestones, baselines, reports and
commitments come with the registry issue.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lkg.common.db import make_metadata
from lkg.common.events.contracts import ONE_HUNDRED_MILLION_YUAN

metadata = make_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Project(Base):
    """A major industrial project (重大产业项目) in the register. Never hard-deleted."""

    __tablename__ = "project"
    __table_args__ = (
        sa.Index("ix_project_updated_at_id", "updated_at", "id"),
        sa.Index("ix_project_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    project_code: Mapped[str | None] = mapped_column(sa.String(24), unique=True)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    enterprise: Mapped[str] = mapped_column(sa.Text, nullable=False)
    category: Mapped[str] = mapped_column(sa.Text, nullable=False)
    project_class: Mapped[str] = mapped_column(sa.Text, nullable=False)
    responsible_unit_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    responsible_unit_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    line_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    routing_basis: Mapped[str] = mapped_column(sa.Text, nullable=False)
    routing_reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    provincial_municipal: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    fast_track: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    approval_type: Mapped[str | None] = mapped_column(sa.Text)
    total_investment: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2), nullable=False)
    plan_year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    planned_annual_investment: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2), nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False, default="active")
    #: The shared clock's time of the last change (simulated in dev and tests).
    effective_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)

    @property
    def above_100m(self) -> bool:
        """亿元以上 is derived from total investment, never typed in (DESIGN §2)."""
        return self.total_investment >= ONE_HUNDRED_MILLION_YUAN
