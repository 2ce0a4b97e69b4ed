"""Attachments (附件) of a matter: photos and documents uploaded from mobile, with size and type limits,
stored by the service (issue #5).

**Where the bytes live.** In the service's own PostgreSQL database, as ``bytea``, content-addressed by
SHA-256 (``attachment_content``), with one metadata row per upload (``attachment``). Chosen over a storage
directory because the bytes then share the transaction of the metadata row and of the audit entry (no
orphan file after a rollback, no row pointing at a file a crash lost), every replica of the service sees
them without a shared volume (Kubernetes), and the database's backups and point-in-time recovery cover
them. PostgreSQL large objects were not used: they need their own clean-up (``lo_unlink``), are not
covered by ``pg_dump`` of a schema, and gain nothing at the sizes allowed here (10 MiB by default; TOAST
stores ``bytea`` out of line, compressed where it helps). The same file uploaded twice is stored once.

**Types are sniffed.** The declared ``Content-Type`` of the part is a claim, not a fact: the service reads
the file's first bytes (magic numbers: JPEG ``FF D8 FF``, PNG ``89 50 4E 47 0D 0A 1A 0A``, PDF ``%PDF-``,
HEIF/HEIC ``ftyp`` + brand, Office Open XML = a ZIP whose directory holds ``[Content_Types].xml`` and
``word/`` or ``xl/``) and stores the sniffed type. An unknown or disallowed content is 415
``attachment_type_not_allowed``; a declared type that contradicts the content is 415
``attachment_type_mismatch``; a file over ``attachment_max_bytes`` is 413 ``attachment_too_large``.

**Reach.** Whoever sees the matter sees and downloads its attachments (404 otherwise, as for the matter);
those who act on it (the reporting, resolving and holding units, the coordination office) may upload to it
while it is open (403 for the others, 409 once it is off the books). Every upload is in the matter's
append-only audit trail.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from email import policy
from email.errors import MessageError
from email.message import Message
from email.parser import BytesParser
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.events.base import new_event_id
from lkg.common.http.pagination import Keyset, PageParams, fetch_page
from lkg.common.http.problems import Conflict, DomainError, NotFound, PayloadTooLarge, ValidationFailed
from lkg.common.runtime.service import ServiceRuntime
from lkg.issues.access import Viewer, require
from lkg.issues.audit import record
from lkg.issues.models import OPEN_STATES, attachment, attachment_content
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


async def add_attachment(
    session: AsyncSession,
    runtime: ServiceRuntime,
    viewer: Viewer,
    m: Any,
    *,
    filename: str,
    declared_type: str | None,
    data: bytes,
) -> Any:
    """Store one uploaded file on matter ``m`` (which the caller sees) and note it in the audit trail."""
    require(
        viewer.reported(m) or viewer.resolves(m) or viewer.holds(m) or viewer.coordinates(m),
        "为该事项上传附件（反映、解决或所在层级单位）",
    )
    if m.state not in OPEN_STATES:
        raise Conflict("事项已办结或已撤回，不能再上传附件", code="matter_closed")
    settings: IssuesSettings = runtime.settings  # type: ignore[assignment]
    media_type = check_content(settings, declared_type, data)
    now = runtime.clock.now()
    digest = hashlib.sha256(data).hexdigest()
    await session.execute(
        pg_insert(attachment_content)
        .values(sha256=digest, size_bytes=len(data), content=data, created_at=now)
        .on_conflict_do_nothing(index_elements=[attachment_content.c.sha256])
    )
    row = (
        await session.execute(
            sa.insert(attachment)
            .values(
                # Time-ordered: two uploads in one instant of the simulated clock list in upload order.
                id=new_event_id(),
                matter_id=m.id,
                sha256=digest,
                filename=filename,
                media_type=media_type,
                declared_type=declared_type,
                size_bytes=len(data),
                layer=m.layer,
                uploaded_by=viewer.actor,
                uploaded_by_name=viewer.principal.name,
                uploaded_at=now,
            )
            .returning(attachment)
        )
    ).one()
    await record(
        session,
        m,
        "attachment_added",
        actor=viewer.actor,
        actor_name=viewer.principal.name,
        at=now,
        layer=m.layer,
        detail={
            "attachment_id": str(row.id),
            "filename": filename,
            "media_type": media_type,
            "size_bytes": len(data),
            "sha256": digest,
        },
    )
    return row


BY_UPLOADED = Keyset(sort=attachment.c.uploaded_at, id=attachment.c.id, name="uploaded")


async def list_attachments(
    session: AsyncSession, matter_id: UUID, page: PageParams
) -> tuple[list[Any], str | None]:
    """A matter's attachments, oldest first, one keyset page at a time."""
    stmt = sa.select(attachment).where(attachment.c.matter_id == matter_id)
    return await fetch_page(session, stmt, BY_UPLOADED, page, scalars=False)


async def get_attachment(session: AsyncSession, matter_id: UUID, attachment_id: UUID) -> Any:
    row = (
        await session.execute(
            sa.select(attachment).where(attachment.c.id == attachment_id, attachment.c.matter_id == matter_id)
        )
    ).first()
    if row is None:
        raise NotFound("附件不存在", code="attachment_not_found")
    return row


async def content_of(session: AsyncSession, digest: str) -> bytes:
    return (
        await session.execute(
            sa.select(attachment_content.c.content).where(attachment_content.c.sha256 == digest)
        )
    ).scalar_one()
