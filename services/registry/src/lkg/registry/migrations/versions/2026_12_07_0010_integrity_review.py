"""integrity reviews (诚信履约回头看, §四(四)): one row per review, append-only by a trigger

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integrity_review",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("reviewers", sa.Text(), nullable=False),
        sa.Column("reviewer_unit_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("findings", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_integrity_review_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_review")),
    )
    op.create_index(
        "ix_integrity_review_project_id_reviewed_on",
        "integrity_review",
        ["project_id", "reviewed_on"],
        unique=False,
    )
    op.execute(
        "CREATE FUNCTION integrity_review_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'integrity_review is append-only' "
        "USING ERRCODE = 'restrict_violation'; END $$"
    )
    op.execute(
        "CREATE TRIGGER integrity_review_append_only BEFORE UPDATE OR DELETE ON integrity_review "
        "FOR EACH ROW EXECUTE FUNCTION integrity_review_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER integrity_review_append_only ON integrity_review")
    op.execute("DROP FUNCTION integrity_review_append_only()")
    op.drop_index("ix_integrity_review_project_id_reviewed_on", table_name="integrity_review")
    op.drop_table("integrity_review")
