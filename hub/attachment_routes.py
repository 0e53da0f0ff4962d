"""The attachment endpoints: download by unguessable URL, and upload for agents' replies."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath

from hub.attachments import ATTACHMENT_PATH, AttachmentStore
from hub.auth import Caller, caller_dependency
from hub.errors import ApiError
from hub.fields import TokenPath
from hub.settings import Settings

__all__ = ["UploadForm", "attachment_routes"]


class UploadForm(msgspec.Struct):
    """The multipart form of an upload: a `file` field that is not a file is refused naming it."""

    file: UploadFile


def attachment_routes(settings: Settings) -> list:
    """The download route and the upload route, whose size limit is a setting."""

    @get(f"{ATTACHMENT_PATH}/{{file_id:str}}/{{name:str}}", include_in_schema=False)
    async def download_attachment(request: Request, file_id: TokenPath, name: FromPath[str]) -> Response:
        stored = await request.app.state.hub.attachments.load(file_id)
        if stored is None or stored.name != name:
            raise ApiError(404, "attachment_not_found", "No such attachment.")
        return Response(
            stored.content,
            media_type=stored.mime_type,
            headers={
                "Content-Disposition": f'attachment; filename="{stored.name}"',
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=86400, immutable",
                "Cross-Origin-Resource-Policy": "cross-origin",
            },
        )

    @post(
        "/api/v1/attachments",
        status_code=201,
        tags=["api"],
        dependencies={"caller": Provide(caller_dependency)},
        request_max_body_size=settings.max_attachment_bytes + 65536,
    )
    async def upload_attachment(
        request: Request,
        caller: NamedDependency[Caller],
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> dict[str, Any]:
        """Upload a file (multipart field `file`) to attach to a reply: answers its `url`, `name`, `mime_type`, `size`."""
        content = await data.file.read()
        if not content:
            raise ApiError(422, "empty_file", "The file is empty.")
        if len(content) > settings.max_attachment_bytes:
            raise ApiError(
                413, "file_too_large", f"Files may be at most {settings.max_attachment_bytes} bytes."
            )
        store: AttachmentStore = request.app.state.hub.attachments
        stored = await store.save(caller.workspace_id, content, data.file.filename, data.file.content_type)
        return {
            "url": store.url(stored),
            "name": stored.name,
            "mime_type": stored.mime_type,
            "size": stored.size,
        }

    return [download_attachment, upload_attachment]
