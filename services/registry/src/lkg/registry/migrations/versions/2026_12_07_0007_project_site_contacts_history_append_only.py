"""project site and contacts; the project and directory histories append-only

- ``project.site_street_id`` / ``site_street_name`` / ``site_park`` / ``site_plot``: where the project is
  built (项目选址: the street and, where known, the park or plot), which approvals matches against regional
  assessments (区域评估, §四(一)).
- ``project.service_contact_id`` / ``_name`` (对口服务, §三(一)), ``agent_id`` / ``agent_name`` (代办员,
  §四(三)) and ``statistics_contact_name`` beside the existing ``statistics_contact_id`` (§三(四)): directory
  people, with their names as recorded when they were named.
- ``project_change`` and ``org_entry_version`` refuse UPDATE and DELETE by a trigger, as the issues audit
  trail does (issue #11 item 7): a project's history and the directory's are what was, not what someone
  edited later. TRUNCATE (a test resetting a database) is not a row change and stays possible.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("site_street_id", sa.UUID()),
    ("site_street_name", sa.Text()),
    ("site_park", sa.Text()),
    ("site_plot", sa.Text()),
    ("service_contact_id", sa.UUID()),
    ("service_contact_name", sa.Text()),
    ("agent_id", sa.UUID()),
    ("agent_name", sa.Text()),
    ("statistics_contact_name", sa.Text()),
)
_APPEND_ONLY = ("project_change", "org_entry_version")


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("project", sa.Column(name, type_, nullable=True))
    op.create_index("ix_project_agent_id", "project", ["agent_id"], unique=False)
    # The statistics contacts named before names were kept: their names from the directory, where it has them.
    op.execute(
        "UPDATE project SET statistics_contact_name = org_entry.entry->>'name' FROM org_entry "
        "WHERE org_entry.id = project.statistics_contact_id AND org_entry.kind = 'person'"
    )
    for table in _APPEND_ONLY:
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{table} is append-only' USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )


def downgrade() -> None:
    for table in _APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION {table}_append_only()")
    op.drop_index("ix_project_agent_id", table_name="project")
    for name, _ in reversed(_COLUMNS):
        op.drop_column("project", name)
