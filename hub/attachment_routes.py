"""Downloading an attachment by its unguessable URL (uploads are part of the API: hub.api.attachments)."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.params import FromPath

from hub.attachments import ATTACHMENT_PATH
from hub.errors import ApiError
from hub.fields import TokenPath
from hub.runtime import Hub

__all__ = ["download_attachment"]


@get(f"{ATTACHMENT_PATH}/{{file_id:str}}/{{name:str}}", include_in_schema=False)
async def download_attachment(request: Request, file_id: TokenPath, name: FromPath[str]) -> Response[bytes]:
    hub: Hub = request.app.state.hub
    stored = await hub.attachments.load(file_id)
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
