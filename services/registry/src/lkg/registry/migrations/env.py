"""Alembic environment of the registry service (its own database)."""

from lkg.common.db import run_migrations_env
from lkg.registry.models import metadata

run_migrations_env(metadata)
