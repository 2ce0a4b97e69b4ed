"""Tables of the approvals service (its own database).

- ``catalogue_item``: the approval catalogue (审批事项目录), data loaded from ``data/catalogue.yaml`` and
  edited through the API.
- ``approval_plan`` / ``approval_item``: a project's parallel approval plan (并联审批计划) and its items.
- ``approval_clock``: every deadline that runs on an item (its time limit from acceptance, the verification
  of a commitment, the inspection after building first), indexed by the next instant a scan must look at
  it (the scan's cost grows with what is due, not with what exists: docs/approvals.md).
- ``approval_item_change``: the history of every change to an item, append-only; the weekly report reads
  an item's state *as at* its report time from it, so a week rendered twice gives the same content.
- ``regional_assessment``: area-wide assessments (区域评估, policy §四(一)) and the catalogue items they waive
  or shorten for projects sited in their area (:mod:`lkg.approvals.assessments`).
- ``agent_training``: the approval bureau's periodic training of its agents (代办业务培训, policy §四(三));
  the agents' team itself is the directory's ``approval_agent`` posts (:mod:`lkg.approvals.agents`).
- ``project_copy`` and the ``org_*_copy`` tables: read copies of the registry's projects and org directory
  (docs/architecture.md "Read copies").
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lkg.common.db import make_metadata
from lkg.common.orgcopy import define_org_copy
from lkg.common.readcopy import define_project_copy

metadata = make_metadata()
project_copy = define_project_copy(metadata)
#: The shared org read copy (units by role and name resolve handling departments; reach for access).
org = define_org_copy(metadata)

Instant = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = metadata


class CatalogueItem(Base):
    """One kind of approval (审批事项) with its handling department, time limit and prerequisites."""

    __tablename__ = "catalogue_item"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    code: Mapped[str] = mapped_column(sa.Text, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: The registry unit handling the item, when set explicitly or resolved from the org read copy.
    handling_unit_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    #: How the default catalogue names the unit: by role (UnitRole) first, else by name.
    handling_unit_role: Mapped[str | None] = mapped_column(sa.Text)
    handling_unit_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    limit_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    limit_unit: Mapped[str] = mapped_column(sa.Text, nullable=False)
    source: Mapped[str] = mapped_column(sa.Text, nullable=False)
    applies_to: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    #: {"ratification": [codes], "filing": [codes]}
    prerequisites: Mapped[dict[str, list[str]]] = mapped_column(JSONB, nullable=False)
    modes: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    start_gate: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    report_column: Mapped[str | None] = mapped_column(sa.Text)
    prereview_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    prereviewed_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    verification_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    verification_unit: Mapped[str] = mapped_column(sa.Text, nullable=False)
    inspection_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    inspection_unit: Mapped[str] = mapped_column(sa.Text, nullable=False)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    #: The catalogue file version a row came from; rows added through the API say "api".
    source_version: Mapped[str] = mapped_column(sa.Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Instant, nullable=False)


class ApprovalPlan(Base):
    """A project's approval plan (审批计划), created from the catalogue when the project is registered."""

    __tablename__ = "approval_plan"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    project_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False, unique=True)
    #: The project snapshot revision the plan was last brought in step with.
    project_revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    project_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    responsible_unit_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    line_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    project_class: Mapped[str] = mapped_column(sa.Text, nullable=False)
    approval_type: Mapped[str | None] = mapped_column(sa.Text)
    fast_track: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    project_status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: 开工 as the registry plans it (the snapshot's construction_start milestone).
    project_planned_start: Mapped[date | None] = mapped_column(sa.Date)
    #: Set through the API when the plan's own target differs from the registry's milestone.
    planned_start_override: Mapped[date | None] = mapped_column(sa.Date)
    #: The verdict of the last earliest-start computation and when it must be looked at again.
    earliest_start: Mapped[date | None] = mapped_column(sa.Date)
    start_at_risk: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    risk_check_at: Mapped[datetime | None] = mapped_column(Instant)
    #: The project's site (项目选址) from the registry's snapshot: its street (a registry unit id) and, where
    #: known, its park and plot; regional assessments covering it apply to the plan.
    site_street_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    site_park: Mapped[str | None] = mapped_column(sa.Text)
    site_plot: Mapped[str | None] = mapped_column(sa.Text)
    #: The project's agent (代办员, a directory person) from the registry's snapshot, told of stalls.
    agent_person_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(Instant, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Instant, nullable=False)

    __table_args__ = (
        sa.Index(
            "ix_approval_plan_risk_check_at", "risk_check_at", postgresql_where="risk_check_at IS NOT NULL"
        ),
        sa.Index("ix_approval_plan_updated_at_id", "updated_at", "id"),
    )

    @property
    def planned_start(self) -> date | None:
        return self.planned_start_override or self.project_planned_start


class ApprovalItem(Base):
    """One approval (审批事项) of a project's plan and its state."""

    __tablename__ = "approval_item"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    plan_id: Mapped[uuid.UUID] = mapped_column(
        PG_UUID(as_uuid=True), sa.ForeignKey("approval_plan.id"), nullable=False, index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    catalogue_item_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    code: Mapped[str] = mapped_column(sa.Text, nullable=False)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    handling_unit_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True), index=True)
    handling_unit_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    mode: Mapped[str] = mapped_column(sa.Text, nullable=False)
    limit_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    limit_unit: Mapped[str] = mapped_column(sa.Text, nullable=False)
    prerequisites: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    start_gate: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    report_column: Mapped[str | None] = mapped_column(sa.Text)
    prereview_from: Mapped[date | None] = mapped_column(sa.Date)
    prereview_to: Mapped[date | None] = mapped_column(sa.Date)
    prereviewed_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(Instant)
    accepted_at: Mapped[datetime | None] = mapped_column(Instant)
    decided_at: Mapped[datetime | None] = mapped_column(Instant)
    certificate_no: Mapped[str | None] = mapped_column(sa.Text)
    document_refs: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    #: The regional assessment whose result the item carries (审批结果互认): ``waived`` items are not needed,
    #: a shortened item's ``limit_days`` is its catalogue limit less ``limit_saved_days``.
    assessment_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    limit_saved_days: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(Instant, nullable=False)

    __table_args__ = (sa.UniqueConstraint("plan_id", "code"),)


class ApprovalClock(Base):
    """A deadline (时限) on an item: budget and unit, pauses, due time, state (docs/time.md).

    ``kind``: ``limit`` (the item's time limit, from acceptance), ``verification`` (承诺审批: the commitment
    is verified), ``inspection`` (先建后验: the inspection follows). ``next_at`` is the next instant a scan
    must act (the warning, then the breach), NULL when nothing is pending (met, breached, paused).
    """

    __tablename__ = "approval_clock"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(
        PG_UUID(as_uuid=True), sa.ForeignKey("approval_item.id"), nullable=False, index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(Instant, nullable=False)
    budget: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    unit: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: [{"started_at": iso, "ended_at": iso | null}] (补正: the applicant owes a supplement)
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    due_at: Mapped[datetime | None] = mapped_column(Instant)
    warn_at: Mapped[datetime | None] = mapped_column(Instant)
    next_at: Mapped[datetime | None] = mapped_column(Instant)
    provisional: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    #: running | met | breached | cancelled
    state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    warned_at: Mapped[datetime | None] = mapped_column(Instant)
    breached_at: Mapped[datetime | None] = mapped_column(Instant)
    ended_at: Mapped[datetime | None] = mapped_column(Instant)

    __table_args__ = (
        sa.Index("ix_approval_clock_next_at", "next_at", postgresql_where="next_at IS NOT NULL"),
    )


class ApprovalItemChange(Base):
    """One change to an item (审批事项变更记录): who did what, when, from which state to which."""

    __tablename__ = "approval_item_change"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(
        PG_UUID(as_uuid=True), sa.ForeignKey("approval_item.id"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(Instant, nullable=False)
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    from_state: Mapped[str | None] = mapped_column(sa.Text)
    to_state: Mapped[str] = mapped_column(sa.Text, nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)

    __table_args__ = (sa.Index("ix_approval_item_change_item_id_at", "item_id", "at", "id"),)


class RegionalAssessment(Base):
    """An area-wide assessment (区域评估, policy §四(一)): e.g. 区域环评, 区域安评, 区域能评, done once for an
    area so that projects sited in it are spared (``waive``) or need less time for (``shorten``) the
    catalogue items it names (审批结果互认).

    ``streets`` (registry unit ids), ``parks`` and ``plots`` (names as the registry records a site) are the
    area; ``effects`` is ``[{"code": catalogue code, "effect": "waive" | "shorten", "days": n}]``.
    ``apply_at`` is set while the assessment waits for its ``valid_from`` (the scan applies it then).
    """

    __tablename__ = "regional_assessment"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    issuing_unit_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    issuing_unit_name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    issued_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    valid_from: Mapped[date] = mapped_column(sa.Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    document_ref: Mapped[str | None] = mapped_column(sa.Text)
    streets: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    parks: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    plots: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    effects: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    apply_at: Mapped[datetime | None] = mapped_column(Instant)
    recorded_by: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Instant, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Instant, nullable=False)

    __table_args__ = (
        sa.Index("ix_regional_assessment_apply_at", "apply_at", postgresql_where="apply_at IS NOT NULL"),
        sa.Index("ix_regional_assessment_created_at_id", "created_at", "id"),
    )


class AgentTraining(Base):
    """One session of the approval bureau's agent training (代办业务培训, policy §四(三)): when, on what,
    and which directory people attended (``attendees``: ``[{"person_id", "name"}]``)."""

    __tablename__ = "agent_training"

    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    held_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    topic: Mapped[str] = mapped_column(sa.Text, nullable=False)
    attendees: Mapped[list[dict[str, str]]] = mapped_column(JSONB, nullable=False)
    recorded_by: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Instant, nullable=False)

    __table_args__ = (sa.Index("ix_agent_training_held_on_id", "held_on", "id"),)
