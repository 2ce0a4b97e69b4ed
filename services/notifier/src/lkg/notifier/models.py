"""Tables of the notifier service (its own database, docs/architecture.md): inboxes, channels, templates,
preferences and the delivery log.

The path of a notification, one table per step:

* ``notice``: an event the notifier heard, recorded in the inbox transaction of its consumer with a cause
  key (one row per kind and cause, whatever is redelivered); the notice scan routes it at the event's time.
* ``routing_rule``: which audiences hear which kind (data, seeded with the 2020 defaults, editable).
* ``inbox_message``: one message per person, kind and cause (the unique key says so), rendered from the
  kind's ``template``.
* ``delivery``: one row per message and push channel (email, a webhook endpoint); its id is the stable
  delivery id (``Message-ID``, ``X-LKG-Delivery-Id``) across retries; retried with backoff, then ``dead``.
* ``delivery_log``: what happened to a message, in order (stored, held, sent, failed, dead, read, resent).
* ``undeliverable``: a notice an audience had nobody for, kept for operators (never dropped silently).
* ``person_setting`` / ``preference``: the notifier's own data about people: addresses, quiet hours,
  channels per kind, digest.
* ``webhook_endpoint``: SMS gateways and IM group robots (企业微信 / 钉钉), with their HMAC secret.
* ``matter_copy``: what the notifier remembers of a matter from its ``*.reported`` event (the reporter
  is told of the answer, 事事有回音, but later events do not carry the reporter).
* ``cadence_run``: which day's morning digests and Friday reminder have gone out.
* ``stream_ticket``: short-lived single-use tickets that open a live stream (no token in a URL).

Plus the project and org read copies (``project_copy``, ``org_*_copy``) built from the registry's events.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from lkg.common.db import make_metadata
from lkg.common.orgcopy import define_org_copy
from lkg.common.readcopy import define_project_copy

metadata = make_metadata()
project_copy = define_project_copy(metadata)
org_copy = define_org_copy(metadata)

_uuid = PG_UUID(as_uuid=True)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


notice = sa.Table(
    "notice",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("cause_key", sa.Text, nullable=False),
    sa.Column("event_id", _uuid, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    #: The event as received (its contract's JSON), routed by the notice scan.
    sa.Column("event", JSONB, nullable=False),
    #: When it happened on the shared clock: recipients are resolved on this day.
    _at("effective_at"),
    _at("processed_at", nullable=True),
    #: A breach or a warning not yet in its line leader's morning digest (:mod:`lkg.notifier.cadence`).
    sa.Column("line_digest_due", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("kind", "cause_key"),
)
sa.Index("ix_notice_pending", notice.c.effective_at, postgresql_where=notice.c.processed_at.is_(None))
sa.Index("ix_notice_line_digest_due", notice.c.effective_at, postgresql_where=notice.c.line_digest_due)

routing_rule = sa.Table(
    "routing_rule",
    metadata,
    sa.Column("id", _uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("audience", sa.Text, nullable=False),
    #: Only for a matter at this layer (escalations: layer 2 goes to the line, layer 3 to the top).
    sa.Column("layer", sa.Integer, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    _at("updated_at"),
    sa.UniqueConstraint("kind", "audience", "layer", postgresql_nulls_not_distinct=True),
)

template = sa.Table(
    "template",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    #: Breaches, escalations and red cards never wait for quiet hours or a digest.
    sa.Column("urgent", sa.Boolean, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    _at("updated_at"),
)

inbox_message = sa.Table(
    "inbox_message",
    metadata,
    sa.Column("id", _uuid, primary_key=True),
    #: Orders a person's inbox and is the stream's event id (Last-Event-ID).
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("person_id", _uuid, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("cause_key", sa.Text, nullable=False),
    #: The notice it came from; none for the notifier's own digests and reminders.
    sa.Column("notice_id", sa.BigInteger, nullable=True),
    sa.Column("audience", sa.Text, nullable=False),
    #: When the audience resolved to a vacant post's unit head, the post that was vacant.
    sa.Column("via_post_id", _uuid, nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=True),
    sa.Column("matter_id", _uuid, nullable=True),
    sa.Column("layer", sa.Integer, nullable=True),
    sa.Column("urgent", sa.Boolean, nullable=False),
    _at("created_at"),
    _at("read_at", nullable=True),
    #: Waiting for the person's morning digest instead of being pushed on its own.
    sa.Column("digest_pending", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("person_id", "kind", "cause_key"),
)
sa.Index("ix_inbox_message_person_seq", inbox_message.c.person_id, inbox_message.c.seq)
sa.Index(
    "ix_inbox_message_digest_pending",
    inbox_message.c.person_id,
    postgresql_where=inbox_message.c.digest_pending,
)
sa.Index(
    "ix_inbox_message_unread",
    inbox_message.c.person_id,
    postgresql_where=inbox_message.c.read_at.is_(None),
)

delivery = sa.Table(
    "delivery",
    metadata,
    #: The stable delivery id: ``X-LKG-Delivery-Id`` and the mail's ``Message-ID`` on every attempt.
    sa.Column("id", _uuid, primary_key=True),
    sa.Column("message_id", _uuid, sa.ForeignKey("inbox_message.id"), nullable=False),
    sa.Column("person_id", _uuid, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),  # email | webhook
    #: The address (email) or the webhook endpoint's id, as text.
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # queued | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    _at("next_attempt_at", nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    _at("created_at"),
    _at("sent_at", nullable=True),
    sa.UniqueConstraint("message_id", "channel", "target"),
)
sa.Index(
    "ix_delivery_due",
    delivery.c.next_attempt_at,
    postgresql_where=delivery.c.state == "queued",
)
sa.Index("ix_delivery_dead", delivery.c.created_at, postgresql_where=delivery.c.state == "dead")

delivery_log = sa.Table(
    "delivery_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("message_id", _uuid, nullable=False, index=True),
    sa.Column("delivery_id", _uuid, nullable=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column(
        "step", sa.Text, nullable=False
    ),  # stored | queued | held | sent | failed | dead | resent | read
    sa.Column("attempt", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    _at("at"),
)

undeliverable = sa.Table(
    "undeliverable",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("notice_id", sa.BigInteger, nullable=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("cause_key", sa.Text, nullable=False),
    sa.Column("audience", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    _at("at"),
    sa.UniqueConstraint("kind", "cause_key", "audience"),
)

person_setting = sa.Table(
    "person_setting",
    metadata,
    sa.Column("person_id", _uuid, primary_key=True),
    sa.Column("email", sa.Text, nullable=True),
    #: Personal data: masked in logs and in operator views (``138****0000``).
    sa.Column("mobile", sa.Text, nullable=True),
    #: Quiet hours, local time; null = none. Non-urgent pushes wait for the next working morning.
    sa.Column("quiet_from", sa.Time, nullable=True),
    sa.Column("quiet_until", sa.Time, nullable=True),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    _at("updated_at"),
)

preference = sa.Table(
    "preference",
    metadata,
    sa.Column("person_id", _uuid, primary_key=True),
    #: An event type (``problem.answered``) or ``*`` for every kind without its own row.
    sa.Column("kind", sa.Text, primary_key=True),
    #: Push channels: ``email``, ``webhook`` (the in-app inbox always receives).
    sa.Column("channels", ARRAY(sa.Text), nullable=False),
    #: Non-urgent messages of this kind go into the morning digest instead of one mail each.
    sa.Column("digest", sa.Boolean, nullable=False, server_default=sa.false()),
    _at("updated_at"),
)

webhook_endpoint = sa.Table(
    "webhook_endpoint",
    metadata,
    sa.Column("id", _uuid, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("format", sa.Text, nullable=False),  # wecom | dingtalk | sms
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    #: Kinds it carries (empty: every kind).
    sa.Column("kinds", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    _at("created_at"),
    _at("updated_at"),
)

matter_copy = sa.Table(
    "matter_copy",
    metadata,
    sa.Column("id", _uuid, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # problem | meeting_matter
    sa.Column("reported_by_unit_id", _uuid, nullable=False),
    sa.Column("reported_by_person_id", _uuid, nullable=True),
    sa.Column("project_id", _uuid, nullable=True),
)

stream_ticket = sa.Table(
    "stream_ticket",
    metadata,
    #: SHA-256 of the ticket: the ticket itself is never stored.
    sa.Column("digest", sa.Text, primary_key=True),
    sa.Column("person_id", _uuid, nullable=False),
    #: The bearer token's expiry: the stream closes then.
    _at("token_expires_at"),
    #: Wall clock: a ticket is good for seconds, whatever the simulated clock says.
    _at("expires_at"),
    _at("used_at", nullable=True),
)

cadence_run = sa.Table(
    "cadence_run",
    metadata,
    #: ``digest`` (the morning digests), ``approval_report`` (the Friday reminder).
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    _at("ran_at"),
)
