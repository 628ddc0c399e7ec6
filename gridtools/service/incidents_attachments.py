"""Photos of cases: upload as the raw request body (``Content-Type: image/jpeg`` or ``image/png``,
at most 5 MB, type judged by the bytes), download only with a token that may see the case."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gridtools.incidents.operations import MAX_ATTACHMENT_BYTES
from gridtools.service.incidents_auth import IncidentUser, read, write
from gridtools.service.middleware import ServiceError

__all__ = ["read_limited", "router"]

router = APIRouter(prefix="/incidents", tags=["attachments"])


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past *limit* bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ServiceError(413, f"body of {int(declared):,} bytes: at most {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError(413, f"body over {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/cases/{case_id}/attachments", status_code=201)
async def upload(request: Request, case_id: int, who: IncidentUser):
    data = await read_limited(request, MAX_ATTACHMENT_BYTES)
    return await write(request, request.app.state.incidents.add_attachment, who, case_id, data)


@router.get("/cases/{case_id}/attachments")
async def list_attachments(request: Request, case_id: int, who: IncidentUser):
    return await read(request, request.app.state.incidents.attachments, who, case_id)


@router.get("/attachments/{attachment_id}")
async def download(request: Request, attachment_id: int, who: IncidentUser):
    kind, data = await read(request, request.app.state.incidents.attachment, who, attachment_id)
    return Response(data, media_type=kind, headers={"Cache-Control": "private, no-store"})
