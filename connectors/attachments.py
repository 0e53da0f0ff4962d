"""Reading an attachment's bytes by URL, for channels that must upload media before sending it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectors.base import DestinationRefused, PermanentSendError, TransientSendError

__all__ = ["AttachmentContent", "download"]


@dataclass(frozen=True, slots=True)
class AttachmentContent:
    content: bytes
    mime_type: str | None


async def download(http: httpx.AsyncClient, url: str, max_bytes: int) -> AttachmentContent:
    """GET `url` (following redirects, each judged by the client's egress policy), refusing more than `max_bytes`
    without reading it all; failures map to the send errors."""
    too_large = PermanentSendError(f"The attachment is larger than {max_bytes} bytes, the most allowed here")
    try:
        async with http.stream("GET", url, follow_redirects=True) as response:
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientSendError(
                    f"The attachment could not be fetched now (HTTP {response.status_code})"
                )
            if response.status_code >= 300:
                raise PermanentSendError(f"The attachment could not be fetched (HTTP {response.status_code})")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > max_bytes:
                    raise too_large
            mime_type = response.headers.get("content-type", "").split(";")[0].strip() or None
    except DestinationRefused as refused:
        raise PermanentSendError(f"The attachment URL {refused.refusal}") from None
    except httpx.InvalidURL:
        raise PermanentSendError("The attachment URL is not a valid URL") from None
    except httpx.TooManyRedirects:
        raise PermanentSendError("The attachment URL redirects too many times") from None
    except httpx.UnsupportedProtocol:
        raise PermanentSendError("The attachment URL leads to a protocol other than http(s)") from None
    except httpx.RequestError as error:
        raise TransientSendError(f"The attachment could not be fetched ({type(error).__name__})") from None
    return AttachmentContent(bytes(content), mime_type)
