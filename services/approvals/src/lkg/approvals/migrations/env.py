"""Alembic environment of the approvals service (its own database)."""

from lkg.approvals.models import metadata
from lkg.common.db import run_migrations_env

run_migrations_env(metadata)
