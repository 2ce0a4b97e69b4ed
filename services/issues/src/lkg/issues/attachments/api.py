"""HTTP routes of a matter's attachments (附件), under the matter's own noun::

    POST /api/v1/problems/{id}/attachments                  upload (multipart/form-data, field ``file``)
    GET  /api/v1/problems/{id}/attachments                  list
    GET  /api/v1/problems/{id}/attachments/{aid}            one attachment's metadata
    GET  /api/v1/problems/{id}/attachments/{aid}/content    download

(and the same under ``/api/v1/meeting-matters``). Rules and storage: :mod:`lkg.issues.attachments`; an
upload is a write, committed by the unit of work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from lkg.common.http.idempotency import IdempotencyKey, request_hash
from lkg.common.http.pagination import PageQuery
from lkg.issues.access import Caller
from lkg.issues.attachments import service
from lkg.issues.attachments.content import FILE_FIELD, parse_upload
from lkg.issues.attachments.schemas import AttachmentOut, AttachmentPage
from lkg.issues.deps import CallerDep, Runtime, Session, UnitOfWork, create_once
from lkg.issues.settings import ATTACHMENT_UPLOAD_CEILING, IssuesSettings

#: Finds a matter the caller sees (404 otherwise): the matter routes' own.
LoadMatter = Callable[[AsyncSession, UUID, Caller], Awaitable[Any]]

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "照片（JPEG/PNG/HEIC）、PDF、Word、Excel；按内容识别类型",
                        }
                    },
                }
            }
        },
    }
}

_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "事项或附件不存在或不可见 / not found or not visible"}
}
_UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_READ_RESPONSES,
    403: {"description": "可见但无权上传 / visible but not allowed"},
    409: {"description": "事项已不在办理中 / matter closed"},
    413: {"description": "超过大小限制 / attachment_too_large, payload_too_large"},
    415: {
        "description": (
            "类型不允许或与内容不符 / attachment_type_not_allowed, attachment_type_mismatch, "
            "multipart_required"
        )
    },
    422: {"description": "缺少文件 / no file"},
}


def _out(row: Any) -> AttachmentOut:
    return AttachmentOut.model_validate(row, from_attributes=True)


def add_attachment_routes(r: APIRouter, kind: str, prefix: str, load: LoadMatter) -> None:
    """The attachment routes of one kind of matter on its router ``r`` (mounted at ``prefix``); ``load``
    decides first whether the caller sees the matter."""
    tag = kind.replace("_", "-")

    @r.post(
        "/{matter_id}/attachments",
        status_code=201,
        response_model=AttachmentOut,
        summary="上传附件 Upload an attachment",
        description="multipart/form-data，文件放在 `file` 字段；支持 `Idempotency-Key`。",
        responses=_UPLOAD_RESPONSES,
        openapi_extra=_UPLOAD_BODY,
        name=f"{tag}-attachment-upload",
        # Photos are larger than the service's 1 MiB body limit: this route has its own, at the edge too.
        max_body_size=ATTACHMENT_UPLOAD_CEILING,
    )
    async def upload(
        matter_id: UUID,
        request: Request,
        session: UnitOfWork,
        runtime: Runtime,
        caller: CallerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        m = await load(session, matter_id, caller)
        filename, declared, data = parse_upload(request.headers.get("content-type"), await request.body())

        async def create() -> Response:
            row = await service.add_attachment(
                session, runtime, caller, m, filename=filename, declared_type=declared, data=data
            )
            return JSONResponse(
                _out(row).model_dump(mode="json"),
                status_code=201,
                headers={"Location": f"{prefix}/{m.id}/attachments/{row.id}"},
            )

        digest = request_hash({"filename": filename, "declared": declared, "data": _digest(data)})
        return await create_once(request, session, caller, idempotency_key, digest, create)

    @r.get(
        "/{matter_id}/attachments",
        response_model=AttachmentPage,
        summary="附件列表 Attachments",
        responses=_READ_RESPONSES,
    )
    async def list_attachments(
        matter_id: UUID, session: Session, caller: CallerDep, page: PageQuery
    ) -> AttachmentPage:
        m = await load(session, matter_id, caller)
        rows, cursor = await service.list_attachments(session, m.id, page)
        return AttachmentPage(items=[_out(a) for a in rows], next_cursor=cursor)

    @r.get(
        "/{matter_id}/attachments/{attachment_id}",
        response_model=AttachmentOut,
        summary="附件信息 Attachment",
        responses=_READ_RESPONSES,
    )
    async def get_attachment(
        matter_id: UUID, attachment_id: UUID, session: Session, caller: CallerDep
    ) -> AttachmentOut:
        m = await load(session, matter_id, caller)
        return _out(await service.get_attachment(session, m.id, attachment_id))

    @r.get(
        "/{matter_id}/attachments/{attachment_id}/content",
        summary="下载附件 Download",
        response_class=Response,
        responses={
            200: {
                "description": "文件内容（存储时按内容识别的类型）/ the bytes, with their sniffed type",
                "content": {t: {} for t in IssuesSettings.model_fields["attachment_types"].default},
            },
            **_READ_RESPONSES,
        },
    )
    async def download(
        matter_id: UUID,
        attachment_id: UUID,
        session: Session,
        caller: CallerDep,
        disposition: Literal["attachment", "inline"] = "attachment",
    ) -> Response:
        m = await load(session, matter_id, caller)
        row, content = await service.download(session, m.id, attachment_id)
        return Response(
            content,
            media_type=row.media_type,
            headers={
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row.filename)}",
                "ETag": f'"{row.sha256}"',
                "Cache-Control": "private, max-age=0",
            },
        )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
