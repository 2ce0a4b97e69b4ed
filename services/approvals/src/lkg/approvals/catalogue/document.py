"""The approval catalogue as data (审批事项目录): the shipped file, its validation, and loading it.

The default catalogue is ``data/catalogue.yaml`` (2020 Linkonggang configuration; docs/approvals.md cites
the source of each default). It is loaded by the migration and by ``lkg seed``: an item whose code is
already in the database is left alone, so what officials changed through the API is never overwritten by
a later release; a new item in a new file version is added.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from importlib.resources import files
from typing import Any

import sqlalchemy as sa
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lkg.common.clock import TZ
from lkg.common.events.contracts import ApprovalMode, ApprovalType, BudgetUnit, UnitRole

#: Catalogue ids are derived from the code, so every deployment of the default catalogue agrees on them.
CATALOGUE_NAMESPACE = uuid.UUID("6f1d7e52-7d3c-4c55-9a51-1b6a3d1c2a10")


#: ``updated_at`` of rows loaded from the shipped file: the day the 2020 configuration took effect (the
#: policy's date), not the moment a migration happened to run.
CATALOGUE_EFFECTIVE_AT = datetime(2020, 5, 1, tzinfo=TZ)


def catalogue_item_id(code: str) -> uuid.UUID:
    return uuid.uuid5(CATALOGUE_NAMESPACE, code)


class HandlingUnitRef(BaseModel):
    """How the file names a handling department: by function (preferred) and by name."""

    model_config = ConfigDict(extra="forbid")

    role: UnitRole | None = None
    name: str


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=1, le=3650)
    unit: BudgetUnit


class CatalogueEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    name: str
    handling_unit: HandlingUnitRef
    limit: Limit
    source: str
    applies_to: list[ApprovalType] = Field(min_length=1)
    prerequisites: dict[ApprovalType, list[str]] = Field(default_factory=dict)
    modes: list[ApprovalMode] = Field(default_factory=lambda: [ApprovalMode.STANDARD])
    start_gate: bool = False
    report_column: str | None = None
    prereview_days: int | None = None
    prereviewed_days: int | None = None
    verification_days: int | None = None
    verification_unit: BudgetUnit | None = None
    inspection_days: int | None = None
    inspection_unit: BudgetUnit | None = None


class CatalogueDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prereview_days: int = Field(ge=0)
    prereviewed_days: int = Field(ge=0)
    verification_days: int = Field(ge=1)
    verification_unit: BudgetUnit
    inspection_days: int = Field(ge=1)
    inspection_unit: BudgetUnit


class CatalogueFile(BaseModel):
    """The shipped catalogue; validated so that a typo fails the migration, not a project's plan."""

    model_config = ConfigDict(extra="forbid")

    version: str
    defaults: CatalogueDefaults
    items: list[CatalogueEntry]

    @model_validator(mode="after")
    def _consistent(self) -> CatalogueFile:
        codes = [i.code for i in self.items]
        if len(codes) != len(set(codes)):
            raise ValueError("catalogue codes must be unique")
        known = set(codes)
        for item in self.items:
            for kind, prereqs in item.prerequisites.items():
                unknown = set(prereqs) - known
                if unknown:
                    raise ValueError(f"{item.code}: unknown prerequisites {sorted(unknown)} for {kind}")
        gates = [i.code for i in self.items if i.start_gate]
        if len(gates) != 1:
            raise ValueError(f"exactly one item must be the start gate, got {gates}")
        return self


def default_catalogue() -> CatalogueFile:
    text = files("lkg.approvals").joinpath("data/catalogue.yaml").read_text(encoding="utf-8")
    return CatalogueFile.model_validate(yaml.safe_load(text))


def catalogue_rows(catalogue: CatalogueFile, now: datetime) -> list[dict[str, Any]]:
    """The rows of ``catalogue_item`` for a catalogue file."""
    d = catalogue.defaults
    rows = []
    for position, item in enumerate(catalogue.items):
        rows.append(
            {
                "id": catalogue_item_id(item.code),
                "revision": 1,
                "code": item.code,
                "name": item.name,
                "handling_unit_id": None,
                "handling_unit_role": item.handling_unit.role.value if item.handling_unit.role else None,
                "handling_unit_name": item.handling_unit.name,
                "limit_days": item.limit.days,
                "limit_unit": item.limit.unit.value,
                "source": item.source,
                "applies_to": [t.value for t in item.applies_to],
                "prerequisites": {t.value: codes for t, codes in item.prerequisites.items()},
                "modes": [m.value for m in item.modes],
                "start_gate": item.start_gate,
                "report_column": item.report_column,
                "prereview_days": item.prereview_days
                if item.prereview_days is not None
                else d.prereview_days,
                "prereviewed_days": (
                    item.prereviewed_days if item.prereviewed_days is not None else d.prereviewed_days
                ),
                "verification_days": item.verification_days or d.verification_days,
                "verification_unit": (item.verification_unit or d.verification_unit).value,
                "inspection_days": item.inspection_days or d.inspection_days,
                "inspection_unit": (item.inspection_unit or d.inspection_unit).value,
                "position": position * 10,
                "source_version": catalogue.version,
                "updated_at": now,
            }
        )
    return rows


def insert_missing_statement(table: sa.TableClause, rows: list[dict[str, Any]]) -> Any:
    """INSERT … ON CONFLICT (code) DO NOTHING RETURNING id: edits made through the API survive a reload;
    the rows returned are those added."""
    from sqlalchemy.dialects.postgresql import insert

    return (
        insert(table).values(rows).on_conflict_do_nothing(index_elements=[table.c.code]).returning(table.c.id)
    )
