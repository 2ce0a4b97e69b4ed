"""Value types of the API, the same in every service (docs/http-conventions.md): instants with the +08:00
offset, calendar dates as ``YYYY-MM-DD``, money as exact decimals in yuan serialised as strings, integers
that are JSON integers, and text a person typed.

Why :data:`IsoDate` and :data:`JSON_INTEGER`: pydantic's lax mode reads more than the OpenAPI document
admits: a number (``?on=0``, ``"on": 0``) as a Unix-timestamp date, ``false`` or ``"3"`` as an integer; so
a malformed request would silently become another one (1970-01-01, line 0) and answer 200. These refuse
(422) exactly what the documented ``format: date`` and ``type: integer`` refuse, and nothing more (``3.0``
is a JSON integer)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, PlainSerializer, StringConstraints, WithJsonSchema

from lkg.common.clock import TZ


def _local_iso(value: datetime) -> str:
    return value.astimezone(TZ).isoformat()


#: An instant, written ISO 8601 with the Asia/Shanghai offset whatever zone it was stored in
#: (PostgreSQL hands timestamps back in UTC).
Instant = Annotated[AwareDatetime, PlainSerializer(_local_iso, return_type=str, when_used="json")]

#: Money in yuan on the API: a string with at most two decimals (``"150000000.00"``), never a JSON number,
#: so no client sends or reads a float. Parsed into an exact ``Decimal``.
_YUAN_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"


def _parse_yuan(value: object) -> object:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not re.fullmatch(_YUAN_PATTERN, value):
        raise ValueError('金额须为字符串形式的元，最多两位小数，如 "150000000.00"')
    return Decimal(value)


Yuan = Annotated[
    Decimal,
    BeforeValidator(_parse_yuan),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _YUAN_PATTERN, "examples": ["150000000.00"]}),
]


#: Format characters (Unicode category Cf: bidirectional overrides and isolates such as U+202E and U+2066,
#: zero-width characters such as U+200B, the byte order mark U+FEFF, the soft hyphen, tag characters) and
#: the line and paragraph separators U+2028 and U+2029 (Zl, Zp). None prints; each can hide or reorder what
#: a name shows (an overridden direction makes ``exe.txt`` of ``txt.exe``, two titles that look the same
#: are different strings), so text a person typed refuses them as it refuses control characters. Written
#: out (Unicode 15.1) rather than as ``\p{Cf}``, which Python's ``re`` and ECMA's regexes without the ``u``
#: flag do not read; ``test_http_types`` checks the list against the running Python's Unicode data.
_INVISIBLE = (
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    r"\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)

#: A character that is not whitespace as ``str.strip`` sees it (ASCII space, NBSP, the Unicode spaces) and
#: not a control or format character. Written out instead of ``\S``: Python's, Rust's (pydantic's
#: validator) and ECMA's (the OpenAPI reader's) ideas of whitespace differ at the edges (U+0085, U+FEFF).
_VISIBLE = rf"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u202f\u205f\u3000{_INVISIBLE}]"
_LINE_CHAR = rf"[^\x00-\x1f\x7f-\x9f{_INVISIBLE}]"

#: One line of text a person typed (a name, a unit): trimmed, not empty, no control or format characters
#: (PostgreSQL refuses NUL in text, and a name has no use for the others). The pattern asks for one visible
#: character, so a client reading the schema knows that " " is no name (it would be empty once trimmed).
Text = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=200,
        pattern=rf"^{_LINE_CHAR}*{_VISIBLE}{_LINE_CHAR}*$",
    ),
]

#: The same for a line that may be left empty (a note): "" when there is nothing to say.
OptionalText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200, pattern=rf"^{_LINE_CHAR}*$"),
]

_TEXT_CHAR = rf"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f{_INVISIBLE}]"

#: Free text over several lines (a description, a handling opinion): no NUL, other control or format
#: characters, but tab and line breaks (``\n``, ``\r``; not U+2028/U+2029, which most readers ignore).
LongText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=10_000,
        pattern=rf"^{_TEXT_CHAR}*{_VISIBLE}{_TEXT_CHAR}*$",
    ),
]

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

#: ``Annotated[int, JSON_INTEGER]``: an integer as the OpenAPI document states it.
JsonInt = Annotated[int, JSON_INTEGER]
