"""WeChat's server API for one app: every call carries the shared access token, refreshed once if WeChat rejects it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.base import ConnectorContext, PermanentSendError, TransientSendError
from connectors.wechat.common.access_token import AccessTokens
from connectors.wechat.common.errors import AccessTokenRejected, raise_for_errcode
from connectors.wechat.common.settings import WeChatSettings
from connectors.wechat.common.transport import exchange, json_object

__all__ = ["DownloadedMedia", "WeChatApi"]

_FILENAME = re.compile(r'filename="?([^";]+)"?')


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
    content: bytes
    mime_type: str
    filename: str


class WeChatApi:
    def __init__(self, settings: WeChatSettings) -> None:
        self._base_url = settings.api_base_url
        self._tokens = AccessTokens(settings)

    async def prove_credentials(self, context: ConnectorContext) -> None:
        """Fetch a token with the app id and secret now (it is kept); raises TokenRefused or the send errors."""
        await self._tokens.prove(context)

    async def call(
        self, context: ConnectorContext, method: str, path: str, what: str, **request: Any
    ) -> dict[str, Any]:
        """A JSON API call; `what` names it in error reasons ("customer service message")."""
        return json_object(
            await self._with_token(context, method, path, what, expect_json=True, **request), what
        )

    async def upload_media(
        self, context: ConnectorContext, media_type: str, content: bytes, filename: str, mime_type: str
    ) -> str:
        """Temporary media (kept three days by WeChat): the media_id a message refers to."""
        answer = await self.call(
            context,
            "POST",
            "/cgi-bin/media/upload",
            "media upload",
            params={"type": media_type},
            files={"media": (filename, content, mime_type)},
        )
        media_id = answer.get("media_id") or answer.get("thumb_media_id")
        if not isinstance(media_id, str) or not media_id:
            raise TransientSendError("The media upload got an answer without a media_id")
        return media_id

    async def download_media(self, context: ConnectorContext, media_id: str) -> DownloadedMedia:
        """Media a customer sent; WeChat answers a video with a link to fetch instead of the bytes."""
        what = "media download"
        response = await self._with_token(
            context, "GET", "/cgi-bin/media/get", what, expect_json=False, params={"media_id": media_id}
        )
        if _is_json(response):
            video_url = json_object(response, what).get("video_url")
            if not isinstance(video_url, str) or not video_url.startswith(("http://", "https://")):
                raise PermanentSendError("The media download got neither the media nor a link to it")
            response = await exchange(context.http, "GET", video_url, what)
        mime_type = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
        named = _FILENAME.search(response.headers.get("content-disposition", ""))
        return DownloadedMedia(response.content, mime_type, named.group(1) if named else media_id)

    async def _with_token(
        self, context: ConnectorContext, method: str, path: str, what: str, **request: Any
    ) -> httpx.Response:
        token = await self._tokens.current(context)
        try:
            return await self._attempt(context, token, method, path, what, **request)
        except AccessTokenRejected:
            token = await self._tokens.replace_rejected(context, token)
        try:
            return await self._attempt(context, token, method, path, what, **request)
        except AccessTokenRejected as refusal:
            raise TransientSendError(f"WeChat rejected a freshly fetched access token {refusal}") from None

    async def _attempt(
        self,
        context: ConnectorContext,
        token: str,
        method: str,
        path: str,
        what: str,
        *,
        expect_json: bool,
        params: dict[str, str] | None = None,
        **request: Any,
    ) -> httpx.Response:
        response = await exchange(
            context.http,
            method,
            f"{self._base_url}{path}",
            what,
            params={**(params or {}), "access_token": token},
            **request,
        )
        if expect_json or _is_json(response):
            raise_for_errcode(json_object(response, what), what, context.now())
        return response


def _is_json(response: httpx.Response) -> bool:
    """WeChat labels some JSON answers text/plain, so the body's first byte decides too."""
    content_type = response.headers.get("content-type", "")
    return "json" in content_type or (
        content_type.startswith("text/") and response.content.lstrip()[:1] == b"{"
    )
