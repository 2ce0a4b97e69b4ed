import importlib.util
from pathlib import Path

from lkg.common.db import run_migrations_env

_spec = importlib.util.spec_from_file_location("timekeeper_schema", Path(__file__).with_name("schema.py"))
_schema = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_schema)
run_migrations_env(_schema.metadata)
