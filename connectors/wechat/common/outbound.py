"""An OutboundMessage -> WeChat customer service messages (`/cgi-bin/message/custom/send` bodies).

Mapping, shared by both connectors (each picks the attachment kinds its channel accepts):
- text -> `text`, split into parts of at most 2048 UTF-8 bytes, one message each;
- attachment kind `image` / `voice` / `video` -> `image` / `voice` / `video` with a media_id (uploaded first
  when the attachment has only a url);
- kind `link` (url, name = title, meta `description`, `thumb_url`) -> `news` with one article on an official
  account, `link` on a mini program;
- kind `card` (name = title, meta `page_path`, `app_id` for an official account; media_id or url = thumbnail)
  -> `miniprogrampage`.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from connectors.base import ConnectorContext, OutboundMessage, PermanentSendError
from connectors.wechat.common.api import WeChatApi
from normalizer import Attachment, split_text

__all__ = [
    "MAX_TEXT_BYTES",
    "MediaIds",
    "MessageBuilder",
    "OutboundPart",
    "SentParts",
    "link_message",
    "media_message",
    "mini_program_card_message",
    "news_message",
    "official_account_card_message",
    "outbound_parts",
    "video_message",
]

MAX_TEXT_BYTES = 2048
"""WeChat refuses longer customer service texts with errcode 45002 (content size out of limit)."""

_MEDIA_SIZE_LIMITS = {"image": 10 * 1024 * 1024, "voice": 2 * 1024 * 1024, "video": 10 * 1024 * 1024}
"""WeChat's limits for temporary media uploads."""


@dataclass(frozen=True, slots=True)
class OutboundPart:
    """One customer service message: a piece of the text, or one attachment."""

    text: str | None = None
    attachment: Attachment | None = None


def outbound_parts(outbound: OutboundMessage) -> list[OutboundPart]:
    """Always the same parts for the same message, so a retry can skip those already sent; none when empty."""
    parts = []
    if outbound.text.strip():
        chunks = split_text(outbound.text, MAX_TEXT_BYTES, measure=lambda chunk: len(chunk.encode()))
        parts = [OutboundPart(text=chunk) for chunk in chunks]
    parts += [OutboundPart(attachment=attachment) for attachment in outbound.attachments]
    return parts


class MediaIds:
    """The media_id of an attachment, uploading its bytes (fetched from its url) when it has none yet."""

    def __init__(self, api: WeChatApi, context: ConnectorContext) -> None:
        self._api = api
        self._context = context

    async def __call__(self, attachment: Attachment, media_type: str) -> str:
        if attachment.media_id:
            return attachment.media_id
        if not attachment.url:
            raise PermanentSendError(f"The {attachment.kind} attachment has neither a media_id nor a url")
        limit = _MEDIA_SIZE_LIMITS.get(media_type, _MEDIA_SIZE_LIMITS["image"])
        try:
            fetched = await self._context.read_attachment(attachment.url, limit)
        except PermanentSendError as refusal:
            raise PermanentSendError(
                f"The {attachment.kind} attachment cannot go to WeChat: {refusal.reason}"
            ) from None
        mime_type = attachment.mime_type or fetched.mime_type or "application/octet-stream"
        filename = attachment.name or PurePosixPath(urlsplit(attachment.url).path).name
        if not PurePosixPath(filename).suffix:
            filename = f"{filename or media_type}{mimetypes.guess_extension(mime_type) or ''}"
        return await self._api.upload_media(self._context, media_type, fetched.content, filename, mime_type)


MessageBuilder = Callable[[Attachment, MediaIds], Awaitable[dict[str, Any]]]
"""Builds the msgtype-specific part of a customer service message for one attachment."""


async def media_message(attachment: Attachment, media_ids: MediaIds) -> dict[str, Any]:
    """`image` or `voice`: the attachment kind is WeChat's msgtype."""
    return {
        "msgtype": attachment.kind,
        attachment.kind: {"media_id": await media_ids(attachment, attachment.kind)},
    }


async def video_message(attachment: Attachment, media_ids: MediaIds) -> dict[str, Any]:
    video = {"media_id": await media_ids(attachment, "video"), "title": attachment.name or ""}
    video.update(
        {
            name: str(attachment.meta[name])
            for name in ("thumb_media_id", "description")
            if attachment.meta.get(name)
        }
    )
    return {"msgtype": "video", "video": video}


async def news_message(attachment: Attachment, media_ids: MediaIds) -> dict[str, Any]:
    """An official account sends a link as a one-article `news` message."""
    link = _link_fields(attachment)
    article = {
        "title": link["title"],
        "description": link["description"],
        "url": link["url"],
        "picurl": link["thumb_url"],
    }
    return {"msgtype": "news", "news": {"articles": [article]}}


async def link_message(attachment: Attachment, media_ids: MediaIds) -> dict[str, Any]:
    return {"msgtype": "link", "link": _link_fields(attachment)}


async def mini_program_card_message(attachment: Attachment, media_ids: MediaIds) -> dict[str, Any]:
    """A mini program can only send cards of its own pages, so no app id."""
    return {"msgtype": "miniprogrampage", "miniprogrampage": await _card_fields(attachment, media_ids)}


async def official_account_card_message(attachment: Attachment, media_ids: MediaIds) -> dict[str, Any]:
    app_id = str(attachment.meta.get("app_id") or "")
    if not app_id:
        raise PermanentSendError("A mini program card sent from an official account needs meta app_id")
    card = await _card_fields(attachment, media_ids)
    return {"msgtype": "miniprogrampage", "miniprogrampage": {**card, "appid": app_id}}


def _link_fields(attachment: Attachment) -> dict[str, str]:
    if not attachment.url:
        raise PermanentSendError("A link attachment needs a url")
    return {
        "title": attachment.name or attachment.url,
        "description": str(attachment.meta.get("description") or ""),
        "url": attachment.url,
        "thumb_url": str(attachment.meta.get("thumb_url") or ""),
    }


async def _card_fields(attachment: Attachment, media_ids: MediaIds) -> dict[str, str]:
    page_path = str(attachment.meta.get("page_path") or "")
    if not page_path:
        raise PermanentSendError("A mini program card needs meta page_path")
    return {
        "title": attachment.name or "",
        "pagepath": page_path,
        "thumb_media_id": await media_ids(attachment, "image"),
    }


class SentParts:
    """Which parts of a multi-part message WeChat already accepted, so a retry does not send them twice."""

    _TTL = timedelta(hours=48)
    """A retry after the reply window could not be delivered anyway."""

    def __init__(self, app_id: str, message_id: str) -> None:
        self._key = f"wechat:sent_parts:{app_id}:{message_id}"

    async def load(self, context: ConnectorContext) -> list[str]:
        try:
            sent = json.loads(await context.store.get(self._key) or "[]")
        except ValueError:
            return []
        return [str(channel_id) for channel_id in sent] if isinstance(sent, list) else []

    async def save(self, context: ConnectorContext, channel_ids: list[str]) -> None:
        await context.store.set(self._key, json.dumps(channel_ids), self._TTL)
