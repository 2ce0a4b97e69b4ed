"""the item history is append-only: UPDATE and DELETE on approval_item_change are refused by the database

The weekly report reads each item's state as at a past report time from this history (docs/approvals.md
"Reports"), so a line changed or removed would change a week already reported. Until now that held only by
convention; a trigger makes the database refuse it, as the issues service's audit trail does (issue #11
item 7). TRUNCATE (a test resetting a database) is not a row change and stays possible.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE FUNCTION approval_item_change_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'approval_item_change is append-only' "
        "USING ERRCODE = 'restrict_violation'; END $$"
    )
    op.execute(
        "CREATE TRIGGER approval_item_change_append_only BEFORE UPDATE OR DELETE ON approval_item_change "
        "FOR EACH ROW EXECUTE FUNCTION approval_item_change_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER approval_item_change_append_only ON approval_item_change")
    op.execute("DROP FUNCTION approval_item_change_append_only()")
