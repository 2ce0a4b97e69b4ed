"""Schema of the throw-away "timekeeper" service the time tests run: obligations that escalate on breach."""

import sqlalchemy as sa

from lkg.common.db import make_metadata

metadata = make_metadata()
obligation = sa.Table(
    "obligation",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("matter", sa.Text, nullable=False),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="open"),
    sa.Column("breached_at", sa.DateTime(timezone=True)),
    sa.Index("ix_obligation_open_due", "due_at", postgresql_where=sa.text("state = 'open'")),
)
