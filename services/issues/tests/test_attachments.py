"""Attachments: types sniffed from the content (magic bytes), limits, file names, and the multipart
parsing of an upload (:mod:`lkg.issues.attachments.content`)."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from openpyxl import Workbook

from lkg.common.http.problems import PayloadTooLarge, ValidationFailed
from lkg.issues.attachments.content import (
    UnsupportedMediaType,
    check_content,
    clean_filename,
    parse_upload,
    sniff,
)
from lkg.issues.settings import IssuesSettings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(50)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(50)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(50)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(50)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def zipped(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name in names:
            z.writestr(name, "<x/>")
    return buffer.getvalue()


def xlsx() -> bytes:
    buffer = io.BytesIO()
    Workbook().save(buffer)
    return buffer.getvalue()


def settings(**kw) -> IssuesSettings:
    return IssuesSettings(env="test", **kw)


def test_types_are_read_from_the_content():
    assert sniff(PNG) == "image/png"
    assert sniff(JPEG) == "image/jpeg"
    assert sniff(PDF) == "application/pdf"
    assert sniff(HEIC) == "image/heic"
    assert sniff(zipped("[Content_Types].xml", "word/document.xml")) == DOCX
    assert sniff(xlsx()) == XLSX
    assert sniff(zipped("word/document.xml")) is None  # a ZIP, not an Office document
    assert sniff(b"PK\x03\x04 truncated") is None
    assert sniff("<html>不是图片</html>".encode()) is None
    assert sniff(b"MZ\x90\x00") is None  # a Windows executable


def test_an_acceptable_file_is_stored_under_its_sniffed_type():
    assert check_content(settings(), None, PNG) == "image/png"
    assert check_content(settings(), "application/octet-stream", PDF) == "application/pdf"
    assert check_content(settings(), "IMAGE/JPEG", JPEG) == "image/jpeg"


def test_limits_refuse_with_stable_codes():
    with pytest.raises(PayloadTooLarge) as too_big:
        check_content(settings(attachment_max_bytes=len(PNG) - 1), None, PNG)
    assert (too_big.value.code, too_big.value.extra["max_bytes"]) == ("attachment_too_large", len(PNG) - 1)
    with pytest.raises(UnsupportedMediaType) as unknown:
        check_content(settings(), "image/png", b"#!/bin/sh\nrm -rf /\n")
    assert (unknown.value.status, unknown.value.code) == (415, "attachment_type_not_allowed")
    with pytest.raises(UnsupportedMediaType) as mismatch:
        check_content(settings(), "image/png", PDF)
    assert (mismatch.value.code, mismatch.value.extra) == (
        "attachment_type_mismatch",
        {"declared": "image/png", "sniffed": "application/pdf"},
    )
    with pytest.raises(UnsupportedMediaType) as not_allowed:
        check_content(settings(attachment_types=("image/png",)), None, PDF)
    assert not_allowed.value.code == "attachment_type_not_allowed"
    with pytest.raises(ValidationFailed):
        check_content(settings(), None, b"")


def test_file_names_keep_their_last_component_and_no_control_characters():
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\fakepath\\现场照片.jpg") == "现场照片.jpg"
    assert clean_filename("a\x00b\r\nc.pdf") == "abc.pdf"
    assert clean_filename(None) == clean_filename("..") == "attachment"
    assert clean_filename("长" * 300) == "长" * 200


def multipart(files: dict, data: dict | None = None) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://x/", files=files, data=data or {})
    return request.headers["content-type"], request.read()


def test_an_upload_is_the_file_field_of_a_multipart_body_bytes_untouched():
    content = PNG + b"\r\n--not-a-boundary\r\n" + bytes(range(256)) + b"\r\n"
    content_type, body = multipart({"file": ("工地 照片.png", content, "image/png")}, {"note": "x"})
    assert parse_upload(content_type, body) == ("工地 照片.png", "image/png", content)


def test_a_body_that_is_not_multipart_or_has_no_file_is_refused():
    with pytest.raises(UnsupportedMediaType) as json_body:
        parse_upload("application/json", b'{"file": "x"}')
    assert json_body.value.code == "multipart_required"
    content_type, body = multipart({"photo": ("a.png", PNG, "image/png")})
    with pytest.raises(ValidationFailed) as no_file:
        parse_upload(content_type, body)
    assert no_file.value.extra["errors"][0]["loc"] == ["body", "file"]
    with pytest.raises(ValidationFailed):
        parse_upload("multipart/form-data", b"garbage")
