"""Alembic environment of the approvals service (its own database)."""

from lkg.common.db import run_migrations_env
from lkg.approvals.models import metadata

run_migrations_env(metadata)
