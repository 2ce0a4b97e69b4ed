"""outbox wake-up without a trigger: drop the outbox NOTIFY trigger of the initial schema

The relay is woken by the committing process itself (an after-commit hook in-process, a core NATS message
from a replica whose relay stands by) and polls as a safety net: see lkg.common.events.outbox. A NOTIFY
takes a lock global to the PostgreSQL server while its transaction commits, which serialised every commit
that staged an event. A new database (0001 creates the trigger, this drops it) and an upgraded one end up
the same.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:00:00
"""

from collections.abc import Sequence

from alembic import op
from alembic.operations import Operations

from lkg.common.db import create_outbox_notify, drop_outbox_notify

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    drop_outbox_notify(Operations(op.get_context()))


def downgrade() -> None:
    create_outbox_notify(Operations(op.get_context()))
