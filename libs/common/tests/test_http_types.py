"""One-line and free text refuse what does not print: control, format and separator characters (issue 11,
item 11), over HTTP as a client meets it, and with the same list as the running Python's Unicode data."""

from __future__ import annotations

import re
import sys
import unicodedata

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, TypeAdapter, ValidationError

from lkg.common.auth import PUBLIC_ROUTE
from lkg.common.http.app import create_http_app
from lkg.common.http.types import _INVISIBLE, LongText, Text
from lkg.common.settings import ServiceSettings

SETTINGS = ServiceSettings(jwt_secret="types-test-secret-long-enough-0123456789", service_name="lkg-test")

#: What the issue found stored in names and titles, and their kin.
HIDDEN = {
    "U+202E right-to-left override": "\u202e",
    "U+200B zero-width space": "\u200b",
    "U+2066 left-to-right isolate": "\u2066",
    "U+FEFF byte order mark": "\ufeff",
    "U+2028 line separator": "\u2028",
    "U+2029 paragraph separator": "\u2029",
    "U+00AD soft hyphen": "\u00ad",
    "U+200D zero-width joiner": "\u200d",
    "U+E0041 tag latin capital A": "\U000e0041",
}


class Body(BaseModel):
    name: Text
    description: LongText | None = None


def app():
    router = APIRouter(prefix="/api/v1/things")

    @router.post("", openapi_extra=PUBLIC_ROUTE)
    async def create(body: Body) -> dict:
        return {"name": body.name, "description": body.description}

    async def ready() -> dict:
        return {"status": "ok"}

    return create_http_app(
        settings=SETTINGS,
        title="t",
        description="t",
        version="1",
        routers=[("registry", router)],
        readiness=ready,
    )


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
async def test_a_name_or_description_with_an_invisible_character_is_refused_with_422(char: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app()), base_url="http://t") as c:
        in_name = await c.post("/api/v1/things", json={"name": f"临空港{char}项目"})
        at_start = await c.post("/api/v1/things", json={"name": f"{char}项目"})
        in_text = await c.post(
            "/api/v1/things", json={"name": "项目", "description": f"第一行\n第二{char}行"}
        )
        fine = await c.post(
            "/api/v1/things", json={"name": " 临空港 项目 ", "description": "第一行\r\n\t第二行"}
        )
    for refused in (in_name, in_text):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "validation_failed"
    # At either end, a character Python counts as whitespace (U+2028, U+2029) is trimmed like a space.
    assert at_start.status_code == 422 or at_start.json()["name"] == "项目", at_start.text
    assert (fine.status_code, fine.json()) == (
        200,
        {"name": "临空港 项目", "description": "第一行\r\n\t第二行"},
    )


def test_the_list_of_invisible_characters_covers_every_format_and_separator_character_python_knows() -> None:
    invisible = re.compile(f"[{_INVISIBLE}]")
    missing = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in ("Cf", "Zl", "Zp") and not invisible.match(chr(cp))
    ]
    assert missing == []
    # and nothing printable is in it
    wrongly = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if invisible.match(chr(cp)) and unicodedata.category(chr(cp)) not in ("Cf", "Zl", "Zp", "Cn")
    ]
    assert wrongly == []


def test_ordinary_chinese_names_with_full_width_punctuation_and_emoji_pass() -> None:
    text = TypeAdapter(Text)
    for name in ("武汉临空港（东西湖）项目", "第六线·郭小平", "A&B 公司 — 二期", "项目　甲", "🏗️ 工地"):
        assert text.validate_python(name) == name
    with pytest.raises(ValidationError):
        text.validate_python("\u202e\u200b")
