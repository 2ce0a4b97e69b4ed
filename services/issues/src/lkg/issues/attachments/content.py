"""What an upload holds: the file out of a ``multipart/form-data`` body, its type sniffed from its bytes,
its size and name checked (:mod:`lkg.issues.attachments` says why)."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from email import policy
from email.errors import MessageError
from email.message import Message
from email.parser import BytesParser

from lkg.common.http.problems import DomainError, PayloadTooLarge, ValidationFailed
from lkg.issues.settings import IssuesSettings

#: The form field that carries the file.
FILE_FIELD = "file"

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: Declared types that say nothing about the content (a client that does not know).
_UNINFORMATIVE = {"application/octet-stream", "binary/octet-stream", ""}


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415
    title = "不支持的文件类型"


def sniff(data: bytes) -> str | None:
    """The media type the content itself shows (magic bytes), or None when it is none we know."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    if data.startswith(b"PK\x03\x04"):
        try:
            # Reads the central directory only: nothing is decompressed.
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            return None
        if "[Content_Types].xml" in names:
            for prefix, media_type in _OOXML.items():
                if any(n.startswith(prefix) for n in names):
                    return media_type
    return None


def clean_filename(raw: str | None) -> str:
    """A file name safe to store and to send back: no directories, no control characters, ≤ 200 chars."""
    if not raw:
        return "attachment"
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # Raw UTF-8 bytes in a header (what browsers send for 照片.jpg) arrive as surrogate escapes.
        raw = raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".")
    return name[:200] or "attachment"


def parse_upload(content_type: str | None, body: bytes) -> tuple[str, str | None, bytes]:
    """(file name, declared type, bytes) of the ``file`` field of a ``multipart/form-data`` body (parsed
    with the standard library's MIME parser)."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            "请以 multipart/form-data 上传，文件放在 file 字段", code="multipart_required"
        )
    try:
        header = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
        message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    except (UnicodeError, ValueError, TypeError, LookupError, MessageError) as exc:
        raise _no_file("无法解析上传内容") from exc
    if not message.is_multipart() or not message.get_boundary():
        raise _no_file("无法解析上传内容（缺少 boundary）")
    try:
        for part in message.iter_parts():
            if _field_name(part) == FILE_FIELD:
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                declared = part.get_content_type() if part.get("content-type") else None
                return clean_filename(part.get_filename()), declared, data
    except (ValueError, TypeError, LookupError, UnicodeError, MessageError) as exc:
        # A malformed part header (a broken RFC 2231 parameter, an unknown charset): the client's fault.
        raise _no_file("无法解析上传内容") from exc
    raise _no_file("缺少文件字段 file")


def _field_name(part: Message) -> str | None:
    name = part.get_param("name", header="content-disposition")
    return name if isinstance(name, str) else None


def _no_file(detail: str) -> ValidationFailed:
    return ValidationFailed(
        detail,
        errors=[{"loc": ["body", FILE_FIELD], "msg": detail, "type": "missing_file"}],
        code="validation_failed",
    )


def check_content(settings: IssuesSettings, declared: str | None, data: bytes) -> str:
    """The sniffed media type of an acceptable file; 413/415/422 otherwise (nothing is stored)."""
    if not data:
        raise _no_file("文件为空")
    if len(data) > settings.attachment_max_bytes:
        raise PayloadTooLarge(
            f"附件不能超过 {settings.attachment_max_bytes} 字节",
            code="attachment_too_large",
            extra={"max_bytes": settings.attachment_max_bytes, "size_bytes": len(data)},
        )
    sniffed = sniff(data)
    if sniffed is None or sniffed not in settings.attachment_types:
        raise UnsupportedMediaType(
            "只接受照片（JPEG、PNG、HEIC）、PDF 和 Word、Excel 文档",
            code="attachment_type_not_allowed",
            extra={"allowed": list(settings.attachment_types)},
        )
    if declared is not None and declared.lower() not in _UNINFORMATIVE and declared.lower() != sniffed:
        raise UnsupportedMediaType(
            f"文件声明的类型（{declared}）与内容（{sniffed}）不符",
            code="attachment_type_mismatch",
            extra={"declared": declared, "sniffed": sniffed},
        )
    return sniffed
