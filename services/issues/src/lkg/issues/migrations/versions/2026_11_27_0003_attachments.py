"""attachments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment_content",
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_attachment_content")),
    )
    op.create_table(
        "attachment",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("matter_id", sa.UUID(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("declared_type", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column("uploaded_by_name", sa.Text(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["matter_id"], ["matter.id"], name=op.f("fk_attachment_matter_id_matter")),
        sa.ForeignKeyConstraint(
            ["sha256"], ["attachment_content.sha256"], name=op.f("fk_attachment_sha256_attachment_content")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    op.create_index("ix_attachment_matter_id", "attachment", ["matter_id", "uploaded_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attachment_matter_id", table_name="attachment")
    op.drop_table("attachment")
    op.drop_table("attachment_content")
