"""Tables of the project register (on the registry's metadata, :mod:`lkg.registry.models`).

A project row whose columns map onto :class:`lkg.common.events.contracts.ProjectSnapshot`, its milestones
(planned, frozen baseline, actual), monthly investment reports, statistical enrolment failures,
commitments, and the change history.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from lkg.common.events.contracts import ONE_HUNDRED_MILLION_YUAN
from lkg.registry.models import Base


class Project(Base):
    """A major industrial project (重大产业项目) in the register. Never hard-deleted."""

    __tablename__ = "project"
    __table_args__ = (
        sa.Index("ix_project_updated_at_id", "updated_at", "id"),
        sa.Index("ix_project_created_at_id", "created_at", "id"),
        # The list's other orderings (``sort=name``, ``sort=total_investment``, either direction): keyset
        # pages walk these indexes from the cursor.
        sa.Index("ix_project_name_id", "name", "id"),
        sa.Index("ix_project_total_investment_id", "total_investment", "id"),
        sa.Index("ix_project_line_id", "line_id"),
        # ``stage=`` with the default order (registration): the filtered page walks (stage, created_at, id).
        sa.Index("ix_project_stage_created_at_id", "stage", "created_at", "id"),
        sa.Index("ix_project_responsible_unit_id", "responsible_unit_id"),
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
    routing_rule_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    routing_reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    provincial_municipal: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    fast_track: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    approval_type: Mapped[str | None] = mapped_column(sa.Text)
    total_investment: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2), nullable=False)
    plan_year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    planned_annual_investment: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2), nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False, default="active")
    #: 阶段, derived from the milestones and investment reports (:mod:`lkg.registry.projects.stage`), never
    #: typed in.
    stage: Mapped[str] = mapped_column(
        sa.Text, nullable=False, default="preliminary", server_default="preliminary"
    )
    enrolment_status: Mapped[str] = mapped_column(sa.Text, nullable=False, default="pending")
    statistics_contact_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    statistics_contact_name: Mapped[str | None] = mapped_column(sa.Text)
    #: 项目选址: the street (a directory unit) and, where known, the park and plot (§四(一) 区域评估).
    site_street_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    site_street_name: Mapped[str | None] = mapped_column(sa.Text)
    site_park: Mapped[str | None] = mapped_column(sa.Text)
    site_plot: Mapped[str | None] = mapped_column(sa.Text)
    #: 对口服务 (§三(一)) and 代办员 (§四(三)): directory people, their names as recorded when named.
    service_contact_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    service_contact_name: Mapped[str | None] = mapped_column(sa.Text)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True), index=True)
    agent_name: Mapped[str | None] = mapped_column(sa.Text)
    integrity_flags: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False, default=list)
    enterprise_credit_code: Mapped[str | None] = mapped_column(sa.Text)
    #: Which structure the project code has (``hyphenated`` / ``gbt40058``) and what the check warned of.
    project_code_warnings: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), nullable=False, default=list)
    terminated_on: Mapped[date | None] = mapped_column(sa.Date)
    deregistered_on: Mapped[date | None] = mapped_column(sa.Date)
    #: The shared clock's time of the last change (simulated in dev and tests).
    effective_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)

    @property
    def above_100m(self) -> bool:
        """亿元以上 is derived from total investment, never typed in (docs/registry.md)."""
        return self.total_investment >= ONE_HUNDRED_MILLION_YUAN

    @property
    def site(self) -> dict[str, Any] | None:
        """项目选址 as the API and the snapshot write it (None until a street is recorded)."""
        if self.site_street_id is None:
            return None
        return {
            "street_id": self.site_street_id,
            "street_name": self.site_street_name,
            "park": self.site_park,
            "plot": self.site_plot,
        }

    def _person(self, role: str) -> dict[str, Any] | None:
        person_id = getattr(self, f"{role}_id")
        return None if person_id is None else {"id": person_id, "name": getattr(self, f"{role}_name")}

    @property
    def service_contact(self) -> dict[str, Any] | None:
        return self._person("service_contact")

    @property
    def agent(self) -> dict[str, Any] | None:
        return self._person("agent")

    @property
    def statistics_contact(self) -> dict[str, Any] | None:
        return self._person("statistics_contact")


class Milestone(Base):
    """A milestone (节点) of a project: planned date, the frozen baseline of the year's plan, actual date.

    ``missed_due_at`` is when the planned date will have passed (the start of the next day), indexed for the
    deadline scan; it is cleared once ``milestone.missed`` is emitted or the actual date is recorded, so the
    event goes out once. Re-planning sets it again from the new date.
    """

    __tablename__ = "milestone"
    __table_args__ = (
        sa.Index("ix_milestone_project_id", "project_id"),
        sa.Index(
            "ix_milestone_missed_due_at",
            "missed_due_at",
            postgresql_where=sa.text("missed_due_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("project.id"), nullable=False)
    type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    label: Mapped[str] = mapped_column(sa.Text, nullable=False)
    planned_date: Mapped[date] = mapped_column(sa.Date, nullable=False)
    baseline_date: Mapped[date | None] = mapped_column(sa.Date)
    actual_date: Mapped[date | None] = mapped_column(sa.Date)
    missed_due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    missed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)


class ProjectChange(Base):
    """The change history of a project (who changed what, when on the shared clock, why)."""

    __tablename__ = "project_change"
    __table_args__ = (sa.Index("ix_project_change_project_id_revision", "project_id", "revision"),)

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("project.id"), nullable=False)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    #: ``{field: [before, after]}`` in JSON form.
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class InvestmentReport(Base):
    """A monthly investment report (投资完成情况); a later report for the same month supersedes one."""

    __tablename__ = "investment_report"
    __table_args__ = (sa.Index("ix_investment_report_project_month", "project_id", "year", "month"),)

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("project.id"), nullable=False)
    year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    month: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2), nullable=False)
    year_to_date: Mapped[Decimal] = mapped_column(sa.Numeric(18, 2), nullable=False)
    reported_by_unit_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    supersedes: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    superseded: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    reported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class EnrolmentFailure(Base):
    """A project the statistics bureau reported as failing enrolment (未通过审核入库) in a month, and why."""

    __tablename__ = "enrolment_failure"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("project.id"), nullable=False, index=True)
    year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    month: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reported_by_unit_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class Commitment(Base):
    """A commitment (承诺事项, §四(四)): the government's to the investor (bound to a post, so it binds
    the successor: 新官理旧账) or the enterprise's contract term.
    ``overdue_due_at`` drives the overdue scan (once)."""

    __tablename__ = "commitment"
    __table_args__ = (
        sa.Index(
            "ix_commitment_overdue_due_at",
            "overdue_due_at",
            postgresql_where=sa.text("overdue_due_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("project.id"), nullable=False, index=True)
    side: Mapped[str] = mapped_column(sa.Text, nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    due_date: Mapped[date] = mapped_column(sa.Date, nullable=False)
    obligor_unit_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    obligor_unit_name: Mapped[str | None] = mapped_column(sa.Text)
    obligor_post_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    obligor_post_title: Mapped[str | None] = mapped_column(sa.Text)
    fulfilled_on: Mapped[date | None] = mapped_column(sa.Date)
    overdue_due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
