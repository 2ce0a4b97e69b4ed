"""Workbooks whose bytes depend on their content and the shared clock only.

A report rendered twice for the same moment must be the same file (the approvals' weekly report says so;
a ledger or a plan exported twice should not differ either). openpyxl stamps the wall clock into a
workbook on save: the ``modified`` core property (docProps/core.xml) and every zip entry's time. This
module saves a workbook with both taken from the moment the report is *as of* instead. It takes any object
with openpyxl's ``properties`` and ``save``, so ``lkg.common`` itself does not depend on openpyxl.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from typing import Any

from lkg.common.clock import TZ

#: The media type of an .xlsx workbook (a download's ``Content-Type``, an upload's accepted type).
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The author written into every workbook's properties.
CREATOR = "LKG 临空港重大产业项目落地建设在线"

_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def store_text(book: Any) -> Any:
    """Every ``str`` cell of ``book`` (an openpyxl ``Workbook``) stored as text, never as a formula: openpyxl
    takes a string beginning with ``=`` (a project named ``=HYPERLINK(...)``, a title ``=1+2*3``) for a
    formula, which Excel then evaluates (formula injection). Numbers, dates and empty cells are left as
    they are. Call it on a filled workbook before saving it; returns ``book``."""
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.data_type != "s":
                    cell.data_type = "s"
    return book


def save_reproducible(book: Any, as_of: datetime, *, creator: str = CREATOR) -> bytes:
    """``book`` (an openpyxl ``Workbook``) saved as .xlsx bytes dated ``as_of`` (an aware instant): core
    properties created and modified at ``as_of`` (written as UTC, as the format has them), zip entries
    at its Asia/Shanghai wall time (zip times have no zone; to the minute, as the report is)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    utc = as_of.astimezone(UTC).replace(tzinfo=None)
    book.properties.created = utc
    book.properties.modified = utc
    book.properties.creator = creator
    raw = io.BytesIO()
    book.save(raw)
    return fix_times(raw.getvalue(), as_of)


def fix_times(data: bytes, as_of: datetime) -> bytes:
    """An .xlsx file's zip entry times and its ``modified`` property set to ``as_of`` (openpyxl overwrites
    the property with the wall clock while saving, whatever the workbook held)."""
    local = as_of.astimezone(TZ)
    stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    when = (local.year, local.month, local.day, local.hour, local.minute, 0)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=when)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            target.writestr(fixed, content)
    return out.getvalue()
