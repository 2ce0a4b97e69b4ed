"""dispatch and reports: every matter step scoring is told (the dispatch board folds them), and the reports
issued on their cadence, numbered and frozen

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables as they are at this revision (frozen here, not imported from the models).
DDL = """
CREATE TABLE matter_step (
    event_id UUID NOT NULL,
    matter_id UUID NOT NULL,
    step TEXT NOT NULL,
    layer INTEGER NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    clocks JSONB,
    clock JSONB,
    CONSTRAINT pk_matter_step PRIMARY KEY (event_id)
);
CREATE INDEX ix_matter_step_matter_id_at ON matter_step (matter_id, at);
CREATE INDEX ix_matter_step_at ON matter_step (at);
CREATE TABLE report (
    id UUID NOT NULL,
    kind TEXT NOT NULL,
    period_kind TEXT NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    as_of TIMESTAMP WITH TIME ZONE NOT NULL,
    published_at TIMESTAMP WITH TIME ZONE NOT NULL,
    body JSONB NOT NULL,
    xlsx BYTEA NOT NULL,
    docx BYTEA NOT NULL,
    CONSTRAINT pk_report PRIMARY KEY (id),
    CONSTRAINT uq_report_kind_period_start UNIQUE (kind, period_start),
    CONSTRAINT uq_report_kind_number UNIQUE (kind, number)
);
"""


def upgrade() -> None:
    for statement in DDL.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("report")
    op.drop_table("matter_step")
