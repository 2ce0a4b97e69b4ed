"""The shared API value types read exactly what the OpenAPI document states: IsoDate only YYYY-MM-DD,
JSON_INTEGER only JSON integers; the xlsx media type is the registered one."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from lkg.common.http.types import JSON_INTEGER, IsoDate, JsonInt
from lkg.common.xlsx import XLSX_MEDIA_TYPE


class Query(BaseModel):
    on: IsoDate
    line: Annotated[int, Field(ge=1, le=8), JSON_INTEGER]
    count: JsonInt = 0


def test_a_day_is_read_from_yyyy_mm_dd_only() -> None:
    assert Query.model_validate({"on": "2020-05-08", "line": 3}).on == date(2020, 5, 8)
    assert Query.model_validate({"on": date(2020, 5, 8), "line": 3}).on == date(2020, 5, 8)
    for wrong in (0, "0", "20200508", "2020-5-8", "2020-05-08T00:00:00"):
        with pytest.raises(ValidationError, match="日期须写作 YYYY-MM-DD"):
            Query.model_validate({"on": wrong, "line": 3})
    with pytest.raises(ValidationError):
        Query.model_validate({"on": "2020-02-30", "line": 3})  # the form is right, the day does not exist


def test_an_integer_is_a_json_integer_and_keeps_its_bounds() -> None:
    assert Query.model_validate({"on": "2020-05-08", "line": 3.0, "count": 7}).line == 3
    for wrong in (False, "3", None):
        with pytest.raises(ValidationError, match="必须是整数"):
            Query.model_validate({"on": "2020-05-08", "line": wrong})
    with pytest.raises(ValidationError, match="less than or equal to 8"):
        Query.model_validate({"on": "2020-05-08", "line": 9})
    schema = Query.model_json_schema()["properties"]["line"]
    assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", 1, 8)


def test_the_xlsx_media_type() -> None:
    assert XLSX_MEDIA_TYPE == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
