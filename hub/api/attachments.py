"""Uploading a file an agent's reply then attaches by its URL."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body

from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.runtime import Hub
from hub.settings import Settings
from hub.views import UploadedFile

__all__ = ["UploadForm", "upload_route"]


class UploadForm(msgspec.Struct):
    """The multipart form of an upload: a `file` field that is not a file is refused naming it."""

    file: UploadFile


def upload_route(settings: Settings) -> HTTPRouteHandler:
    """The upload route, whose size limit is a setting."""

    @post(
        "/attachments",
        status_code=201,
        tags=["attachments"],
        request_max_body_size=settings.max_attachment_bytes + 65536,
        responses=error_responses(400, 401, 413, 422),
    )
    async def upload_attachment(
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> UploadedFile:
        """Upload a file (multipart field `file`) to attach to a reply: answers its `url`, `name`, `mime_type`, `size`."""
        content = await data.file.read()
        if not content:
            raise ApiError(422, "empty_file", "The file is empty.")
        if len(content) > settings.max_attachment_bytes:
            raise ApiError(
                413, "file_too_large", f"Files may be at most {settings.max_attachment_bytes} bytes."
            )
        stored = await hub.attachments.save(
            caller.workspace_id, content, data.file.filename, data.file.content_type
        )
        return UploadedFile(
            url=hub.attachments.url(stored), name=stored.name, mime_type=stored.mime_type, size=stored.size
        )

    return upload_attachment
