"""Request bodies that change part of a resource: an omitted field stays as it is, and ``null`` clears
only what may be empty (issue #11 item 14).

A field typed ``X | None = None`` in a change body reads "may be omitted", but pydantic takes an explicit
``null`` for it too, and the use case then writes ``None`` into a column that cannot hold it (a 500 from
the database) or iterates it (a ``TypeError``), or clears a fact silently. :class:`ChangeBody` refuses
``null`` (422 ``null_not_allowed`` at the field, nothing changed) for every field but those listed in
``CLEARABLE``, and says so in the OpenAPI document: only a clearable field is nullable there.

    class ProjectUpdate(ChangeBody):
        CLEARABLE = frozenset({"project_code"})
        name: Text | None = None           # omitted: unchanged; null: 422 null_not_allowed
        project_code: Code | None = None   # omitted: unchanged; null: cleared
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

NULL_NOT_ALLOWED = "null_not_allowed"


def _not_nullable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The document of a :class:`ChangeBody`: a field that may be omitted but not cleared is neither
    ``null`` nor defaults to it."""
    clearable: frozenset[str] = getattr(model, "CLEARABLE", frozenset())
    for name, field in schema.get("properties", {}).items():
        if name in clearable:
            continue
        field.pop("default", None)
        variants = [v for v in field.get("anyOf", ()) if v != {"type": "null"}]
        if "anyOf" in field and len(variants) == 1:
            del field["anyOf"]
            field.update(variants[0])
        elif "anyOf" in field:
            field["anyOf"] = variants


class ChangeBody(BaseModel):
    """A change body (PATCH, or an action setting some fields): omitted stays, ``null`` clears only a
    field in :attr:`CLEARABLE` and is refused with 422 ``null_not_allowed`` for every other one."""

    #: Fields that ``null`` clears.
    CLEARABLE: ClassVar[frozenset[str]] = frozenset()

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_nullable)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in cls.CLEARABLE:
            raise PydanticCustomError(NULL_NOT_ALLOWED, "此字段不可为 null；不修改请省略该字段")
        return value
