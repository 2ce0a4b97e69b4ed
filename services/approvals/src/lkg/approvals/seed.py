"""``lkg seed``: the default catalogue (data/catalogue.yaml); items already present are left alone."""

from __future__ import annotations

from lkg.approvals.catalogue.document import (
    CATALOGUE_EFFECTIVE_AT,
    catalogue_rows,
    default_catalogue,
    insert_missing_statement,
)
from lkg.approvals.models import metadata
from lkg.common.db import Database


async def seed_catalogue(db: Database) -> int:
    rows = catalogue_rows(default_catalogue(), CATALOGUE_EFFECTIVE_AT)
    async with db.transaction() as session:
        added = await session.execute(insert_missing_statement(metadata.tables["catalogue_item"], rows))
        return len(added.all())


def catalogue_units() -> list[tuple[str, str | None, str]]:
    """The org units the default catalogue names, as ``(item code, role, name)``: ``lkg seed`` refuses to
    seed when the registry's directory document lacks one (lkg.common.runtime.service.unnamed_units)."""
    return [
        (
            item.code,
            item.handling_unit.role.value if item.handling_unit.role else None,
            item.handling_unit.name,
        )
        for item in default_catalogue().items
    ]
