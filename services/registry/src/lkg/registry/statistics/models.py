"""Tables of the statistics work (on the registry's metadata): the contacts' visits to projects, the
bureau's monthly lists, and the monthly duties the scan watches."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from lkg.registry.models import Base


class StatisticsVisit(Base):
    """A statistics contact's on-site guidance visit to a project (每月定期上门服务, §三(四)二)."""

    __tablename__ = "statistics_visit"
    __table_args__ = (sa.Index("ix_statistics_visit_project_month", "project_id", "year", "month"),)

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("project.id"), nullable=False)
    year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    month: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    visited_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    #: The statistics contact who visited (the project's contact on that day).
    person_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    person_name: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str] = mapped_column(sa.Text, nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class EnrolmentList(Base):
    """The statistics bureau's list of one month's projects that failed enrolment, as submitted (the first
    submission's time decides whether the 28th was met; later ones add failures)."""

    __tablename__ = "enrolment_list"
    __table_args__ = (sa.UniqueConstraint("year", "month"),)

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    #: The month the list reports on.
    year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    month: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    failures: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)


class StatisticsDuty(Base):
    """One monthly duty (a deadline row, docs/time.md): ``enrolment_list`` (统计局's list by the 28th, subject
    the bureau) or ``visits`` (a contact's visits to their projects within the month, subject the person).

    ``next_at`` is the next time the scan acts (the warning, then the due time), indexed; None once the duty
    is met or missed. ``outcome`` is ``met`` or ``missed`` once known."""

    __tablename__ = "statistics_duty"
    __table_args__ = (
        sa.UniqueConstraint("kind", "year", "month", "subject_id"),
        sa.Index("ix_statistics_duty_next_at", "next_at", postgresql_where=sa.text("next_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    year: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    month: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    subject_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    unit_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    due_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    due_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    warn_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    next_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    warned_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(sa.Text)
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    #: For a missed ``visits`` duty: the projects not visited.
    missed_project_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(PG_UUID(as_uuid=True)), nullable=False, default=list
    )
