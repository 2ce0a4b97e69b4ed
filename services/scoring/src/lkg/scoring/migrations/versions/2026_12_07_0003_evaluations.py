"""evaluations: facts fed from events, the org read copy, rules as versioned data (2020 defaults seeded),
periods with their decisions (confirmation, grade changes, tie, corrections, card requests)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from lkg.common.orgcopy import create_org_copy_tables, drop_org_copy_tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables as they are at this revision (frozen here, not imported from the models).
DDL = """
CREATE TABLE rule_version (
    version INTEGER NOT NULL,
    label TEXT NOT NULL,
    effective_from DATE NOT NULL,
    body JSONB NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_rule_version PRIMARY KEY (version),
    CONSTRAINT uq_rule_version_label UNIQUE (label)
);
CREATE TABLE period (
    id UUID NOT NULL,
    kind TEXT NOT NULL,
    start DATE NOT NULL,
    "end" DATE NOT NULL,
    state TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    closes_at TIMESTAMP WITH TIME ZONE NOT NULL,
    as_of TIMESTAMP WITH TIME ZONE NOT NULL,
    revision INTEGER NOT NULL,
    tie_decision JSONB,
    confirmed_by TEXT,
    confirmed_by_name TEXT,
    confirmation_note TEXT,
    published_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_period PRIMARY KEY (id),
    CONSTRAINT uq_period_kind_start UNIQUE (kind, start),
    CONSTRAINT fk_period_rule_version_rule_version FOREIGN KEY(rule_version) REFERENCES rule_version (version)
);
CREATE TABLE grade_change (
    period_id UUID NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id UUID NOT NULL,
    grade TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_grade_change PRIMARY KEY (period_id, subject_kind, subject_id),
    CONSTRAINT fk_grade_change_period_id_period FOREIGN KEY(period_id) REFERENCES period (id)
);
CREATE TABLE correction (
    period_id UUID NOT NULL,
    number INTEGER NOT NULL,
    cause_event_id UUID NOT NULL,
    cause_event_type TEXT NOT NULL,
    as_of TIMESTAMP WITH TIME ZONE NOT NULL,
    reason TEXT NOT NULL,
    card_review TEXT NOT NULL,
    card_decision JSONB,
    decided_by TEXT,
    decided_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_correction PRIMARY KEY (period_id, number),
    CONSTRAINT uq_correction_period_id_cause_event_id UNIQUE (period_id, cause_event_id),
    CONSTRAINT fk_correction_period_id_period FOREIGN KEY(period_id) REFERENCES period (id)
);
CREATE TABLE card_request (
    period_id UUID NOT NULL,
    unit_id UUID NOT NULL,
    request_id UUID NOT NULL,
    rank INTEGER NOT NULL,
    correction_number INTEGER,
    requested_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_card_request PRIMARY KEY (period_id, unit_id),
    CONSTRAINT fk_card_request_period_id_period FOREIGN KEY(period_id) REFERENCES period (id),
    CONSTRAINT uq_card_request_request_id UNIQUE (request_id)
);
CREATE TABLE milestone_fact (
    milestone_id UUID NOT NULL,
    project_id UUID NOT NULL,
    unit_id UUID NOT NULL,
    line_id UUID,
    type TEXT NOT NULL,
    label TEXT NOT NULL,
    achieved_on DATE,
    achieved_at TIMESTAMP WITH TIME ZONE,
    achieved_event_id UUID,
    missed_at TIMESTAMP WITH TIME ZONE,
    missed_event_id UUID,
    CONSTRAINT pk_milestone_fact PRIMARY KEY (milestone_id)
);
CREATE INDEX ix_milestone_fact_line_id ON milestone_fact (line_id);
CREATE INDEX ix_milestone_fact_project_id ON milestone_fact (project_id);
CREATE INDEX ix_milestone_fact_unit_id ON milestone_fact (unit_id);
CREATE TABLE milestone_baseline (
    milestone_id UUID NOT NULL,
    event_id UUID NOT NULL,
    baseline_date DATE NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_milestone_baseline PRIMARY KEY (milestone_id, event_id)
);
CREATE INDEX ix_milestone_baseline_baseline_date ON milestone_baseline (baseline_date);
CREATE TABLE matter_fact (
    matter_id UUID NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    project_id UUID,
    line_id UUID,
    resolving_unit_id UUID,
    resolving_unit_name TEXT,
    unit_at TIMESTAMP WITH TIME ZONE NOT NULL,
    reported_at TIMESTAMP WITH TIME ZONE,
    reported_event_id UUID,
    closed_at TIMESTAMP WITH TIME ZONE,
    closed_event_id UUID,
    outcome TEXT,
    closed_by_unit_id UUID,
    CONSTRAINT pk_matter_fact PRIMARY KEY (matter_id)
);
CREATE INDEX ix_matter_fact_line_id ON matter_fact (line_id);
CREATE INDEX ix_matter_fact_reported_at ON matter_fact (reported_at);
CREATE INDEX ix_matter_fact_resolving_unit_id ON matter_fact (resolving_unit_id);
CREATE TABLE breach_fact (
    breach_id UUID NOT NULL,
    kind TEXT NOT NULL,
    subject_id UUID NOT NULL,
    charged_unit_id UUID NOT NULL,
    line_id UUID,
    project_id UUID,
    clock TEXT NOT NULL,
    label TEXT NOT NULL,
    breached_at TIMESTAMP WITH TIME ZONE NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    event_id UUID NOT NULL,
    CONSTRAINT pk_breach_fact PRIMARY KEY (breach_id)
);
CREATE INDEX ix_breach_fact_breached_at ON breach_fact (breached_at);
CREATE INDEX ix_breach_fact_charged_unit_id ON breach_fact (charged_unit_id);
CREATE INDEX ix_breach_fact_line_id ON breach_fact (line_id);
CREATE TABLE enrolment_fact (
    project_id UUID NOT NULL,
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    unit_id UUID NOT NULL,
    reason TEXT NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    event_id UUID NOT NULL,
    CONSTRAINT pk_enrolment_fact PRIMARY KEY (project_id, year, month)
);
CREATE TABLE investment_fact (
    report_id UUID NOT NULL,
    project_id UUID NOT NULL,
    unit_id UUID NOT NULL,
    year INTEGER NOT NULL,
    month INTEGER NOT NULL,
    amount NUMERIC(18, 2) NOT NULL,
    supersedes UUID,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    event_id UUID NOT NULL,
    CONSTRAINT pk_investment_fact PRIMARY KEY (report_id)
);
CREATE INDEX ix_investment_fact_project_id ON investment_fact (project_id);
CREATE TABLE approval_fact (
    approval_item_id UUID NOT NULL,
    project_id UUID NOT NULL,
    item_name TEXT NOT NULL,
    handling_unit_id UUID NOT NULL,
    granted_at TIMESTAMP WITH TIME ZONE NOT NULL,
    event_id UUID NOT NULL,
    CONSTRAINT pk_approval_fact PRIMARY KEY (approval_item_id)
);
CREATE INDEX ix_approval_fact_project_id ON approval_fact (project_id);
CREATE TABLE red_card_fact (
    red_card_id UUID NOT NULL,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    target_unit_id UUID NOT NULL,
    target_unit_name TEXT NOT NULL,
    request_id UUID,
    period_kind TEXT NOT NULL,
    period_start DATE NOT NULL,
    reason TEXT,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    event_id UUID NOT NULL,
    CONSTRAINT pk_red_card_fact PRIMARY KEY (red_card_id)
);
CREATE INDEX ix_red_card_fact_request_id ON red_card_fact (request_id);
CREATE INDEX ix_red_card_fact_target_unit_id ON red_card_fact (target_unit_id);
CREATE TABLE period_recheck (
    period_id UUID NOT NULL,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_period_recheck PRIMARY KEY (period_id, event_id)
);
CREATE INDEX ix_period_recheck_recorded_at ON period_recheck (recorded_at);
"""

#: Dropped in this order on downgrade (children first).
TABLES = (
    "period_recheck",
    "red_card_fact",
    "approval_fact",
    "investment_fact",
    "enrolment_fact",
    "breach_fact",
    "matter_fact",
    "milestone_baseline",
    "milestone_fact",
    "card_request",
    "correction",
    "grade_change",
    "period",
    "rule_version",
)


def upgrade() -> None:
    create_org_copy_tables(op)
    for statement in DDL.split(";"):
        if statement.strip():
            op.execute(statement)
    # The 2020 rules ship as version 1 (data/rules_2020.yaml), so every database has rules in force.
    from lkg.scoring.rules import default_rules

    shipped = default_rules()
    rule_version = sa.table(
        "rule_version",
        sa.column("version", sa.Integer),
        sa.column("label", sa.Text),
        sa.column("effective_from", sa.Date),
        sa.column("body", JSONB),
        sa.column("reason", sa.Text),
        sa.column("created_by", sa.Text),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        rule_version,
        [
            {
                "version": 1,
                "label": shipped["label"],
                "effective_from": shipped["effective_from"],
                "body": shipped["body"],
                "reason": "武临开办〔2020〕2号 §六：2020年默认规则",
                "created_by": "system",
                "created_at": datetime(2020, 5, 1, tzinfo=UTC),
            }
        ],
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
    drop_org_copy_tables(op)
