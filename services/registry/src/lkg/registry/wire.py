"""Value types the registry reads exactly as its OpenAPI document states them.

Why: pydantic's lax mode reads more than the document admits — a number (``?on=0``, ``"on": 0``) as a
Unix-timestamp date, ``false`` or ``"3"`` as an integer — so a malformed request would silently become
another one (1970-01-01, line 0) and answer 200. These types refuse (422) exactly what the documented
``format: date`` and ``type: integer`` refuse, and nothing more (``3.0`` is a JSON integer).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BeforeValidator

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("日期须写作 YYYY-MM-DD")
    return value


def _json_integer(value: object) -> object:
    # bool is an int in Python but not an integer in JSON; integral floats (3.0) are left to pydantic.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("必须是整数")
    return value


#: A calendar day, ``YYYY-MM-DD`` only (pydantic then checks that the day exists).
IsoDate = Annotated[date, BeforeValidator(_iso_day)]

#: Makes an ``int`` a JSON integer: a number without a fractional part, never a boolean or a string. Put
#: it after the constraints (``Annotated[int, Field(ge=1), JSON_INTEGER]``): constraints placed after a
#: validator are still enforced but no longer appear in the OpenAPI document as ``minimum``/``maximum``.
JSON_INTEGER = BeforeValidator(_json_integer)
