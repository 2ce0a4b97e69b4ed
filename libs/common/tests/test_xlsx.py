"""Workbooks saved with the report's own date: the same content at the same moment is the same file."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import datetime

import pytest

from lkg.common.clock import TZ
from lkg.common.testing import eventually
from lkg.common.xlsx import save_reproducible, store_text

openpyxl = pytest.importorskip("openpyxl")

AS_OF = datetime(2020, 5, 8, 17, 30, 12, tzinfo=TZ)


def _book():
    book = openpyxl.Workbook()
    book.active.append(["项目", "状态"])
    book.active.append(["【演示】临空港智能制造产业园项目", "办理中"])
    return book


async def test_two_saves_a_wall_clock_second_apart_are_the_same_bytes() -> None:
    second = int(time.time())
    first = save_reproducible(_book(), AS_OF)
    # openpyxl stamps the wall clock to the second: save again once the second has turned.
    await eventually(lambda: int(time.time()) > second, timeout=3, interval=0.01)
    assert save_reproducible(_book(), AS_OF) == first
    assert save_reproducible(_book(), AS_OF.replace(minute=31)) != first


def test_the_file_is_dated_as_of_the_report() -> None:
    data = save_reproducible(_book(), AS_OF)
    archive = zipfile.ZipFile(io.BytesIO(data))
    core = archive.read("docProps/core.xml").decode()
    assert "<dcterms:created" in core and ">2020-05-08T09:30:12Z</dcterms:created>" in core
    assert ">2020-05-08T09:30:12Z</dcterms:modified>" in core
    assert {info.date_time for info in archive.infolist()} == {(2020, 5, 8, 17, 30, 0)}
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.active["A2"].value == "【演示】临空港智能制造产业园项目"
    assert book.properties.creator == "LKG 临空港重大产业项目落地建设在线"


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError):
        save_reproducible(_book(), AS_OF.replace(tzinfo=None))


def test_store_text_keeps_a_users_formula_as_text_and_numbers_as_numbers() -> None:
    book = openpyxl.Workbook()
    book.active.append(['=HYPERLINK("http://evil.example/","点我")', "=1+2*3", "+1", "普通名称", 42, None])
    book.create_sheet("第二页").append(["@SUM(A1)", 1.5])
    data = save_reproducible(store_text(book), AS_OF)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml and "<f " not in xml
    loaded = openpyxl.load_workbook(io.BytesIO(data))
    first, second = ([(c.value, c.data_type) for c in next(ws.iter_rows())] for ws in loaded.worksheets)
    assert first == [
        ('=HYPERLINK("http://evil.example/","点我")', "s"),
        ("=1+2*3", "s"),
        ("+1", "s"),
        ("普通名称", "s"),
        (42, "n"),
    ]
    assert second == [("@SUM(A1)", "s"), (1.5, "n")]
