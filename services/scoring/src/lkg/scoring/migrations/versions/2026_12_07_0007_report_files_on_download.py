"""report files on download: an issued report stores its frozen JSON; its Word and Excel files are rendered
from that JSON the first time each is downloaded and kept (NULL until then)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE report ALTER COLUMN xlsx DROP NOT NULL, ALTER COLUMN docx DROP NOT NULL")


def downgrade() -> None:
    # A file not yet downloaded exists only as its JSON, which SQL cannot render: refuse rather than store an
    # empty file that the previous version would serve. Download every report's files first.
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM report WHERE xlsx IS NULL OR docx IS NULL) THEN
                RAISE EXCEPTION 'reports whose files were never downloaded: download them before downgrading';
            END IF;
        END $$
        """
    )
    op.execute("ALTER TABLE report ALTER COLUMN xlsx SET NOT NULL, ALTER COLUMN docx SET NOT NULL")
