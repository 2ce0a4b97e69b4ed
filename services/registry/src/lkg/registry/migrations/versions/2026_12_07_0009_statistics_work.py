"""statistics work: the contacts' visits, the bureau's monthly lists, the monthly duties (§三(四)二)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statistics_visit",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("person_name", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_statistics_visit_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statistics_visit")),
    )
    op.create_index(
        "ix_statistics_visit_project_month", "statistics_visit", ["project_id", "year", "month"], unique=False
    )
    op.create_table(
        "enrolment_list",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_list")),
        sa.UniqueConstraint("year", "month", name=op.f("uq_enrolment_list_year_month")),
    )
    op.create_table(
        "statistics_duty",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("unit_name", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_project_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statistics_duty")),
        sa.UniqueConstraint(
            "kind", "year", "month", "subject_id", name=op.f("uq_statistics_duty_kind_year_month_subject_id")
        ),
    )
    op.create_index(
        "ix_statistics_duty_next_at",
        "statistics_duty",
        ["next_at"],
        unique=False,
        postgresql_where=sa.text("next_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_statistics_duty_next_at", table_name="statistics_duty")
    op.drop_table("statistics_duty")
    op.drop_table("enrolment_list")
    op.drop_index("ix_statistics_visit_project_month", table_name="statistics_visit")
    op.drop_table("statistics_visit")
