"""matters clocks red cards

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:55:21.167041
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lkg.common.orgcopy import create_org_copy_tables, drop_org_copy_tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_org_copy_tables(op)
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subject_kind", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.Column("layer", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index("ix_audit_entry_subject", "audit_entry", ["subject_id", "id"], unique=False)
    op.create_table(
        "matter",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("help_requested", sa.Text(), nullable=True),
        sa.Column("project_id", sa.UUID(), nullable=True),
        sa.Column("project_name", sa.Text(), nullable=True),
        sa.Column("project_unit_id", sa.UUID(), nullable=True),
        sa.Column("line_id", sa.UUID(), nullable=True),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("cause_key", sa.Text(), nullable=True),
        sa.Column("reported_by_unit_id", sa.UUID(), nullable=False),
        sa.Column("reported_by_person_id", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("resolving_unit_id", sa.UUID(), nullable=True),
        sa.Column("resolving_unit_name", sa.Text(), nullable=True),
        sa.Column("holder_post_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("holder_unit_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("resolution_due_on", sa.Date(), nullable=True),
        sa.Column("meeting_title", sa.Text(), nullable=True),
        sa.Column("meeting_date", sa.Date(), nullable=True),
        sa.Column("deciding_layer", sa.Integer(), nullable=True),
        sa.Column("merged_into_id", sa.UUID(), nullable=True),
        sa.Column("closure_outcome", sa.Text(), nullable=True),
        sa.Column("closure_reason", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matter")),
    )
    op.create_index(op.f("ix_matter_line_id"), "matter", ["line_id"], unique=False)
    op.create_index(op.f("ix_matter_project_id"), "matter", ["project_id"], unique=False)
    op.create_index(op.f("ix_matter_project_unit_id"), "matter", ["project_unit_id"], unique=False)
    op.create_index("ix_matter_reported_at_id", "matter", ["reported_at", "id"], unique=False)
    op.create_index(op.f("ix_matter_reported_by_unit_id"), "matter", ["reported_by_unit_id"], unique=False)
    op.create_index(op.f("ix_matter_resolving_unit_id"), "matter", ["resolving_unit_id"], unique=False)
    op.create_index("ix_matter_updated_at_id", "matter", ["updated_at", "id"], unique=False)
    op.create_index(
        "uq_matter_open_cause",
        "matter",
        ["cause_key"],
        unique=True,
        postgresql_where=sa.text(
            "cause_key IS NOT NULL AND state IN "
            "('reported', 'accepted', 'assigned', 'answered', 'in_progress', 'resolved')"
        ),
    )
    op.create_table(
        "matter_signal",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("cause_key", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("matter_id", sa.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matter_signal")),
        sa.UniqueConstraint("event_id", name=op.f("uq_matter_signal_event_id")),
    )
    op.create_index(op.f("ix_matter_signal_cause_key"), "matter_signal", ["cause_key"], unique=False)
    op.create_index(
        "ix_matter_signal_pending",
        "matter_signal",
        ["at"],
        unique=False,
        postgresql_where=sa.text("matter_id IS NULL"),
    )
    op.create_table(
        "supervision_round",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_round")),
        sa.UniqueConstraint("year", "month", name=op.f("uq_supervision_round_year_month")),
    )
    op.create_table(
        "deadline",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("matter_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("charged_unit_id", sa.UUID(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("budget", sa.Integer(), nullable=True),
        sa.Column("budget_unit", sa.Text(), nullable=True),
        sa.Column("provisional", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["matter_id"], ["matter.id"], name=op.f("fk_deadline_matter_id_matter")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline")),
    )
    op.create_index(op.f("ix_deadline_matter_id"), "deadline", ["matter_id"], unique=False)
    op.create_index(
        "ix_deadline_next_at",
        "deadline",
        ["next_at"],
        unique=False,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_table(
        "red_card",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("target_unit_id", sa.UUID(), nullable=False),
        sa.Column("target_unit_name", sa.Text(), nullable=False),
        sa.Column("target_kind", sa.Text(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        sa.Column("line_id", sa.UUID(), nullable=True),
        sa.Column("matter_id", sa.UUID(), nullable=True),
        sa.Column("supervision_round_id", sa.UUID(), nullable=True),
        sa.Column("request_id", sa.UUID(), nullable=True),
        sa.Column("candidate_key", sa.Text(), nullable=True),
        sa.Column("period_kind", sa.Text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "field_checks", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("decided_by_person_id", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismissal_reason", sa.Text(), nullable=True),
        sa.Column("referral_state", sa.Text(), server_default="none", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["supervision_round_id"],
            ["supervision_round.id"],
            name=op.f("fk_red_card_supervision_round_id_supervision_round"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_card")),
        sa.UniqueConstraint("candidate_key", name=op.f("uq_red_card_candidate_key")),
        sa.UniqueConstraint("request_id", name=op.f("uq_red_card_request_id")),
    )
    op.create_index("ix_red_card_created_at_id", "red_card", ["created_at", "id"], unique=False)
    op.create_index(op.f("ix_red_card_target_unit_id"), "red_card", ["target_unit_id"], unique=False)
    op.create_table(
        "breach",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("matter_id", sa.UUID(), nullable=False),
        sa.Column("deadline_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("charged_unit_id", sa.UUID(), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deadline_id"], ["deadline.id"], name=op.f("fk_breach_deadline_id_deadline")
        ),
        sa.ForeignKeyConstraint(["matter_id"], ["matter.id"], name=op.f("fk_breach_matter_id_matter")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach")),
        sa.UniqueConstraint("deadline_id", name=op.f("uq_breach_deadline_id")),
    )
    op.create_index(op.f("ix_breach_charged_unit_id"), "breach", ["charged_unit_id"], unique=False)
    op.create_index(op.f("ix_breach_matter_id"), "breach", ["matter_id"], unique=False)

    # The audit trail is append-only: UPDATE and DELETE are refused by the database itself.
    op.execute(
        "CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
        "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_entry_append_only ON audit_entry")
    op.execute("DROP FUNCTION audit_entry_append_only()")
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index(op.f("ix_breach_matter_id"), table_name="breach")
    op.drop_index(op.f("ix_breach_charged_unit_id"), table_name="breach")
    op.drop_table("breach")
    op.drop_index(op.f("ix_red_card_target_unit_id"), table_name="red_card")
    op.drop_index("ix_red_card_created_at_id", table_name="red_card")
    op.drop_table("red_card")
    op.drop_index("ix_deadline_next_at", table_name="deadline", postgresql_where=sa.text("state = 'running'"))
    op.drop_index(op.f("ix_deadline_matter_id"), table_name="deadline")
    op.drop_table("deadline")
    op.drop_table("supervision_round")
    op.drop_index(
        "ix_matter_signal_pending", table_name="matter_signal", postgresql_where=sa.text("matter_id IS NULL")
    )
    op.drop_index(op.f("ix_matter_signal_cause_key"), table_name="matter_signal")
    op.drop_table("matter_signal")
    op.drop_index(
        "uq_matter_open_cause",
        table_name="matter",
        postgresql_where=sa.text(
            "cause_key IS NOT NULL AND state IN "
            "('reported', 'accepted', 'assigned', 'answered', 'in_progress', 'resolved')"
        ),
    )
    op.drop_index("ix_matter_updated_at_id", table_name="matter")
    op.drop_index(op.f("ix_matter_resolving_unit_id"), table_name="matter")
    op.drop_index(op.f("ix_matter_reported_by_unit_id"), table_name="matter")
    op.drop_index("ix_matter_reported_at_id", table_name="matter")
    op.drop_index(op.f("ix_matter_project_unit_id"), table_name="matter")
    op.drop_index(op.f("ix_matter_project_id"), table_name="matter")
    op.drop_index(op.f("ix_matter_line_id"), table_name="matter")
    op.drop_table("matter")
    op.drop_index("ix_audit_entry_subject", table_name="audit_entry")
    op.drop_table("audit_entry")
    drop_org_copy_tables(op)
