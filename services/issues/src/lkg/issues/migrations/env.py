"""Alembic environment of the issues service (its own database)."""

from lkg.common.db import run_migrations_env
from lkg.issues.attachments import models as _attachments  # noqa: F401  (their tables join the metadata)
from lkg.issues.models import metadata
from lkg.issues.supervision import models as _supervision  # noqa: F401

run_migrations_env(metadata)
