"""Alembic environment of the registry service (its own database)."""

from lkg.common.db import run_migrations_env
from lkg.registry.accounts import models as _account_tables  # noqa: F401  (their tables join the metadata)
from lkg.registry.models import metadata
from lkg.registry.org import models as _org_tables  # noqa: F401
from lkg.registry.projects import models as _project_tables  # noqa: F401

run_migrations_env(metadata)
