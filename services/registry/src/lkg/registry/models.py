"""The registry's one ``MetaData`` (its own database) and the declarative base of its tables.

Each sub-domain declares its tables in its own ``models`` module on this base: the project register in
:mod:`lkg.registry.projects.models`, the org directory in :mod:`lkg.registry.org.models`, accounts in
:mod:`lkg.registry.accounts.models`. Nothing here imports them (they import this): whoever needs every
table on the metadata (the service declaration in :mod:`lkg.registry.app`, the migrations' environment)
imports the three modules.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from lkg.common.db import make_metadata

metadata = make_metadata()


class Base(DeclarativeBase):
    metadata = metadata
