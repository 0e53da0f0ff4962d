"""Reading an attachment's bytes by URL, for channels that must upload media before sending it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectors.base import PermanentSendError, TransientSendError

__all__ = ["AttachmentContent", "download"]


@dataclass(frozen=True, slots=True)
class AttachmentContent:
    content: bytes
    mime_type: str | None


async def download(http: httpx.AsyncClient, url: str, max_bytes: int) -> AttachmentContent:
    """GET `url`, refusing more than `max_bytes` without reading it all; failures map to the send errors."""
    try:
        async with http.stream("GET", url) as response:
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientSendError(f"The attachment could not be fetched now (HTTP {response.status_code})")
            if response.status_code >= 400:
                raise PermanentSendError(f"The attachment could not be fetched (HTTP {response.status_code})")
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > max_bytes:
                    raise PermanentSendError(f"The attachment is larger than {max_bytes} bytes, the most allowed here")
            mime_type = response.headers.get("content-type", "").split(";")[0].strip() or None
    except httpx.RequestError as error:
        raise TransientSendError(f"The attachment could not be fetched ({type(error).__name__})") from None
    return AttachmentContent(bytes(content), mime_type)
