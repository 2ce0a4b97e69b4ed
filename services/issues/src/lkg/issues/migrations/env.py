"""Alembic environment of the issues service (its own database)."""

from lkg.common.db import run_migrations_env
from lkg.issues.models import metadata

run_migrations_env(metadata)
