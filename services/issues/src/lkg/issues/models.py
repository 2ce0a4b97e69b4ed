"""Tables of the issues service (its own database), on one ``metadata``; the red-card register's tables
are in :mod:`lkg.issues.supervision.models`, the attachments' in :mod:`lkg.issues.attachments.models`.

* ``matter``: problems (难点、堵点问题) and meeting matters (会议议定事项) in one table, told apart by
  ``kind``: they share the life cycle, the layers and the clocks (docs/issues.md).
* ``deadline``: one row per clock (时限) of a matter. ``next_at`` is the next moment something happens to a
  running clock (its warning, then its breach); the deadline scan walks an index on it, so its cost grows
  with what is due, not with what exists.
* ``breach``: a clock that ran out, recorded against the unit it charged (evaluations count them).
* ``audit_entry``: append-only (a trigger refuses UPDATE and DELETE): who did what, when, at which layer.
* ``matter_signal``: events that opened or attached to a system-opened problem (its cause key).
* ``project_copy`` and the ``org_*_copy`` tables: read copies of the registry's projects and org directory
  (docs/architecture.md#read-copies), from :mod:`lkg.common.readcopy` and :mod:`lkg.common.orgcopy`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.common.db import make_metadata
from lkg.common.orgcopy import define_org_copy
from lkg.common.readcopy import define_project_copy

metadata = make_metadata()
project_copy = define_project_copy(metadata)
org_copy = define_org_copy(metadata)

_UUID = PG_UUID(as_uuid=True)
_AT = sa.DateTime(timezone=True)

#: States in which a matter is still on the books (its clocks may run, it may escalate).
OPEN_STATES = ("reported", "accepted", "assigned", "answered", "in_progress", "resolved")

matter = sa.Table(
    "matter",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # problem | meeting_matter
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("help_requested", sa.Text),
    sa.Column("project_id", _UUID, index=True),
    sa.Column("project_name", sa.Text),
    #: The project's responsible unit (项目责任单位): the layer-1 holder.
    sa.Column("project_unit_id", _UUID, index=True),
    sa.Column("line_id", _UUID, index=True),
    sa.Column("origin", sa.Text, nullable=False),  # reported | system | meeting
    sa.Column("cause_key", sa.Text),
    sa.Column("reported_by_unit_id", _UUID, nullable=False, index=True),
    sa.Column("reported_by_person_id", sa.Text),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("resolving_unit_id", _UUID, index=True),
    sa.Column("resolving_unit_name", sa.Text),
    sa.Column("holder_post_ids", ARRAY(_UUID), nullable=False, server_default="{}"),
    sa.Column("holder_unit_ids", ARRAY(_UUID), nullable=False, server_default="{}"),
    #: The agreed (problem) or decided (meeting matter) date by which it must be solved.
    sa.Column("resolution_due_on", sa.Date),
    sa.Column("meeting_title", sa.Text),
    sa.Column("meeting_date", sa.Date),
    sa.Column("deciding_layer", sa.Integer),
    sa.Column("merged_into_id", _UUID),
    sa.Column("closure_outcome", sa.Text),
    sa.Column("closure_reason", sa.Text),
    sa.Column("reported_at", _AT, nullable=False),
    sa.Column("answered_at", _AT),
    sa.Column("resolved_at", _AT),
    sa.Column("closed_at", _AT),
    sa.Column("updated_at", _AT, nullable=False),
    sa.Index("ix_matter_updated_at_id", "updated_at", "id"),
    sa.Index("ix_matter_reported_at_id", "reported_at", "id"),
    # One open system-opened problem per cause (a later signal attaches to it; after closure a new one).
    sa.Index(
        "uq_matter_open_cause",
        "cause_key",
        unique=True,
        postgresql_where=sa.text("cause_key IS NOT NULL AND state IN " + repr(OPEN_STATES).replace('"', "'")),
    ),
)

deadline = sa.Table(
    "deadline",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("matter_id", _UUID, sa.ForeignKey("matter.id"), nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),  # acceptance | reply | progress | resolution
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("charged_unit_id", _UUID, nullable=False),
    sa.Column("started_at", _AT, nullable=False),
    sa.Column("due_at", _AT, nullable=False),
    sa.Column("warn_at", _AT),
    sa.Column("next_at", _AT),
    sa.Column("budget", sa.Integer),
    sa.Column("budget_unit", sa.Text),
    sa.Column("provisional", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("state", sa.Text, nullable=False),  # running | met | breached | cancelled
    sa.Column("warned_at", _AT),
    sa.Column("ended_at", _AT),
    sa.Index("ix_deadline_next_at", "next_at", postgresql_where=sa.text("state = 'running'")),
)

breach = sa.Table(
    "breach",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("matter_id", _UUID, sa.ForeignKey("matter.id"), nullable=False, index=True),
    sa.Column("deadline_id", _UUID, sa.ForeignKey("deadline.id"), nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("charged_unit_id", _UUID, nullable=False, index=True),
    sa.Column("breached_at", _AT, nullable=False),
)

audit_entry = sa.Table(
    "audit_entry",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("subject_kind", sa.Text, nullable=False),  # problem | meeting_matter | red_card
    sa.Column("subject_id", _UUID, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    #: ``person:<id>``, ``client:<id>`` or ``system`` (a scan or an event).
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("actor_name", sa.Text),
    sa.Column("layer", sa.Integer),
    sa.Column("at", _AT, nullable=False),
    sa.Column("detail", JSONB, nullable=False, server_default="{}"),
    sa.Index("ix_audit_entry_subject", "subject_id", "id"),
)

matter_signal = sa.Table(
    "matter_signal",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("event_id", _UUID, nullable=False, unique=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("cause_key", sa.Text, nullable=False, index=True),
    sa.Column("at", _AT, nullable=False),
    #: What the problem needs (title, project, unit charged): filled from the event.
    sa.Column("payload", JSONB, nullable=False),
    #: Null until the scan opened a problem for it or attached it to the open one.
    sa.Column("matter_id", _UUID),
    sa.Index("ix_matter_signal_pending", "at", postgresql_where=sa.text("matter_id IS NULL")),
)
