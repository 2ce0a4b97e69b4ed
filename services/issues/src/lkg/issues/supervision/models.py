"""Tables of the red-card register (红牌) and the month-end supervision rounds (§五(三)), on the service's
one metadata (:mod:`lkg.issues.models`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.issues.models import metadata

_UUID = PG_UUID(as_uuid=True)
_AT = sa.DateTime(timezone=True)

supervision_round = sa.Table(
    "supervision_round",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("month", sa.Integer, nullable=False),
    sa.Column("opened_at", _AT, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.UniqueConstraint("year", "month"),
)

red_card = sa.Table(
    "red_card",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # proposed | issued | dismissed | withdrawn
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("target_unit_id", _UUID, nullable=False, index=True),
    sa.Column("target_unit_name", sa.Text, nullable=False),
    sa.Column("target_kind", sa.Text, nullable=False),
    sa.Column("project_id", _UUID),
    sa.Column("line_id", _UUID),
    sa.Column("matter_id", _UUID),
    sa.Column("supervision_round_id", _UUID, sa.ForeignKey("supervision_round.id")),
    sa.Column("request_id", _UUID, unique=True),
    #: A round proposes one card per (reason, subject): re-running it adds nothing.
    sa.Column("candidate_key", sa.Text, unique=True),
    sa.Column("period_kind", sa.Text, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("evidence", JSONB, nullable=False),
    sa.Column("field_checks", JSONB, nullable=False, server_default="[]"),
    sa.Column("decided_by_person_id", sa.Text),
    sa.Column("decided_at", _AT),
    sa.Column("dismissal_reason", sa.Text),
    sa.Column("withdrawal_reason", sa.Text),  # a ranking card withdrawn by 重大项目办 (撤销)
    #: Referral to 区纪委监委 (§五(三)): none → [requested (督查室 asks)] → consented (by the L2 leader) →
    #: referred → concluded (the commission's outcome recorded by 督查室).
    sa.Column("referral_state", sa.Text, nullable=False, server_default="none"),
    sa.Column("referred_at", _AT),
    sa.Column("referral_outcome", sa.Text),  # accountability_taken | no_accountability
    sa.Column("referral_outcome_note", sa.Text),
    sa.Column("referral_outcome_on", sa.Date),  # the day the commission decided
    sa.Column("referral_outcome_by_person_id", sa.Text),  # who recorded it (督查室)
    sa.Column("referral_outcome_by_name", sa.Text),
    sa.Column("referral_outcome_recorded_at", _AT),
    sa.Column("created_at", _AT, nullable=False),
    sa.Column("updated_at", _AT, nullable=False),
    sa.Index("ix_red_card_created_at_id", "created_at", "id"),
)

#: 《督查问题专报》 of a round (§五(三)), frozen when 督查室 issues it: ``content`` is the report as the JSON
#: API answers it to a reader who sees all of it; numbered 第N期 per year.
supervision_report = sa.Table(
    "supervision_report",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column(
        "supervision_round_id", _UUID, sa.ForeignKey("supervision_round.id"), nullable=False, unique=True
    ),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("issued_at", _AT, nullable=False),
    sa.Column("issued_by_person_id", sa.Text),
    sa.Column("content", JSONB, nullable=False),
    sa.UniqueConstraint("year", "number"),
)

#: 督办记录 of 四督四促 (§三(三)三): 督查室's follow-up of one project in its group (明查暗访、实地督导).
supervision_follow_up = sa.Table(
    "supervision_follow_up",
    metadata,
    sa.Column("id", _UUID, primary_key=True),
    sa.Column("project_id", _UUID, nullable=False, index=True),
    sa.Column("group", sa.Text, nullable=False),  # preliminary | new_start | continuing | completing
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("by_person_id", sa.Text),
    sa.Column("by_name", sa.Text),
    sa.Column("at", _AT, nullable=False),
)
