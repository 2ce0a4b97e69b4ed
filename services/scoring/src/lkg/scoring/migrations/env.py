"""Alembic environment of the scoring service (its own database)."""

from lkg.common.db import run_migrations_env
from lkg.scoring.models import metadata

run_migrations_env(metadata)
