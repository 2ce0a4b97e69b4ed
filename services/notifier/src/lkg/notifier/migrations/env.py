"""Alembic environment of the notifier service (its own database)."""

from lkg.common.db import run_migrations_env
from lkg.notifier.models import metadata

run_migrations_env(metadata)
