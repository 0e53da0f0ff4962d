"""WeChat message and event fields -> InboundMessage. Pure: the same fields always give the same message.

Messages keep WeChat's MsgType in `metadata["msg_type"]`. Events have content type "event", a channel-neutral
`event` name, and every event-specific field in `metadata` under a snake_case name (EventKey -> event_key,
Ticket -> ticket, SessionFrom -> session_from ...), plus `scene` for QR-code scans.

A customer's message lets the business send 5 replies within 48 hours (the channel's capabilities). Some
events grant a short allowance of their own (a subscribe, a QR scan or a menu click: 3 replies within a minute;
entering a mini program's customer service: 2), so an agent or bot can greet; other events grant nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from connectors.base import MalformedPayload
from connectors.wechat.common.documents import Fields
from connectors.wechat.common.identities import WECHAT_OPENID, WECHAT_UNIONID
from normalizer import (
    Attachment,
    ContentType,
    IdentityRef,
    InboundMessage,
    ReplyAllowance,
    clean_text,
)

__all__ = [
    "COMMON_MESSAGE_READERS",
    "MINI_PROGRAM_ONLY_READERS",
    "OFFICIAL_ACCOUNT_ONLY_READERS",
    "Content",
    "InboundMapper",
    "MessageReader",
]

_ENVELOPE_FIELDS = frozenset(
    {"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Event", "Encrypt"}
)
_UNIONID_FIELDS = ("UnionId", "UnionID", "unionid")
_QR_SCENE_PREFIX = "qrscene_"
_VOICE_MIME_TYPES = {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}
_EVENT_NAMES = {
    "subscribe": "subscribe",
    "unsubscribe": "unsubscribe",
    "SCAN": "scan",
    "CLICK": "click",
    "VIEW": "view",
    "LOCATION": "location",
    "TEMPLATESENDJOBFINISH": "template_send_finished",
    "user_enter_tempsession": "session_entered",
}
"""Channel-neutral names; events not listed keep WeChat's name, lower-cased."""
_GREETING_ALLOWANCE = ReplyAllowance(replies=3, window=timedelta(minutes=1))
_EVENT_REPLY_ALLOWANCES = {
    "subscribe": _GREETING_ALLOWANCE,
    "SCAN": _GREETING_ALLOWANCE,
    "CLICK": _GREETING_ALLOWANCE,
    "scancode_push": _GREETING_ALLOWANCE,
    "scancode_waitmsg": _GREETING_ALLOWANCE,
    "user_enter_tempsession": ReplyAllowance(replies=2, window=timedelta(minutes=1)),
}
"""The events after which WeChat accepts customer service messages, and how many."""


@dataclass(frozen=True, slots=True)
class Content:
    """What a message says, as read from its type-specific fields."""

    content_type: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()


MessageReader = Callable[[Fields], Content]


class _Common(TypedDict):
    """What every message or event of one delivery says the same way."""

    sender: IdentityRef
    sent_at: datetime
    linked_identities: tuple[IdentityRef, ...]


class InboundMapper:
    """Maps one delivery's fields for one app; each connector chooses the message types it knows."""

    def __init__(self, app_id: str, readers: Mapping[str, MessageReader]) -> None:
        self._app_id = app_id
        self._readers = readers

    def message(self, fields: Fields) -> InboundMessage:
        sender = _required(fields, "FromUserName")
        created = _required(fields, "CreateTime")
        msg_type = _required(fields, "MsgType")
        common: _Common = {
            "sender": IdentityRef(WECHAT_OPENID, sender, scope=self._app_id, verified=True),
            "sent_at": _sent_at(created),
            "linked_identities": _linked_identities(fields),
        }
        if msg_type == "event":
            event = _required(fields, "Event")
            return InboundMessage(
                channel_message_id=f"{sender}:{created}:{event}",
                content_type=ContentType.EVENT,
                event=_EVENT_NAMES.get(event, event.lower()),
                opens_reply_window=event in _EVENT_REPLY_ALLOWANCES,
                reply_allowance=_EVENT_REPLY_ALLOWANCES.get(event),
                metadata=_event_metadata(event, fields),
                **common,
            )
        message_id = _string(fields, "MsgId") or f"{sender}:{created}:{msg_type}"
        reader = self._readers.get(msg_type)
        if reader is None:
            return InboundMessage(
                channel_message_id=message_id,
                content_type=ContentType.UNSUPPORTED,
                metadata={"msg_type": msg_type, **_extra_fields(fields)},
                **common,
            )
        content = reader(fields)
        return InboundMessage(
            channel_message_id=message_id,
            content_type=content.content_type,
            text=content.text,
            attachments=content.attachments,
            metadata={"msg_type": msg_type},
            **common,
        )


def read_text(fields: Fields) -> Content:
    return Content(ContentType.TEXT, clean_text(_string(fields, "Content")))


def read_image(fields: Fields) -> Content:
    image = Attachment(
        "image", url=_string(fields, "PicUrl") or None, media_id=_string(fields, "MediaId") or None
    )
    return Content(ContentType.IMAGE, attachments=(image,))


def read_voice(fields: Fields) -> Content:
    voice_format = _string(fields, "Format").lower()
    voice = Attachment(
        "voice",
        media_id=_string(fields, "MediaId") or None,
        mime_type=_VOICE_MIME_TYPES.get(voice_format),
        meta={"format": voice_format} if voice_format else {},
    )
    return Content(ContentType.VOICE, clean_text(_string(fields, "Recognition")), (voice,))


def read_video(fields: Fields) -> Content:
    """Both `video` and `shortvideo`; metadata["msg_type"] tells them apart."""
    thumb = _string(fields, "ThumbMediaId")
    video = Attachment(
        "video", media_id=_string(fields, "MediaId") or None, meta={"thumb_media_id": thumb} if thumb else {}
    )
    return Content(ContentType.VIDEO, attachments=(video,))


def read_location(fields: Fields) -> Content:
    label = clean_text(_string(fields, "Label"))
    location = Attachment(
        "location",
        meta={
            "latitude": _coordinate(fields, "Location_X", 90),
            "longitude": _coordinate(fields, "Location_Y", 180),
            "scale": _integer(fields, "Scale"),
            "label": label,
        },
    )
    return Content(ContentType.LOCATION, label, (location,))


def read_link(fields: Fields) -> Content:
    title = clean_text(_string(fields, "Title"))
    link = Attachment(
        "link",
        url=_string(fields, "Url") or None,
        name=title or None,
        meta={"description": clean_text(_string(fields, "Description"))},
    )
    return Content(ContentType.LINK, title, (link,))


def read_file(fields: Fields) -> Content:
    title = clean_text(_string(fields, "Title"))
    meta = {
        name: _string(fields, field)
        for name, field in (("description", "Description"), ("file_key", "FileKey"), ("file_md5", "FileMd5"))
        if _string(fields, field)
    }
    document = Attachment(
        "file",
        media_id=_string(fields, "MediaId") or None,
        name=title or None,
        size=_integer(fields, "FileTotalLen"),
        meta=meta,
    )
    return Content(ContentType.FILE, title, (document,))


def read_mini_program_card(fields: Fields) -> Content:
    title = clean_text(_string(fields, "Title"))
    card = Attachment(
        "card",
        url=_string(fields, "ThumbUrl") or None,
        media_id=_string(fields, "ThumbMediaId") or None,
        name=title or None,
        meta={"app_id": _string(fields, "AppId"), "page_path": _string(fields, "PagePath")},
    )
    return Content(ContentType.CARD, title, (card,))


COMMON_MESSAGE_READERS: Mapping[str, MessageReader] = {"text": read_text, "image": read_image}
"""What both the official account and the mini program customer service receive."""

OFFICIAL_ACCOUNT_ONLY_READERS: Mapping[str, MessageReader] = {
    "voice": read_voice,
    "video": read_video,
    "shortvideo": read_video,
    "location": read_location,
    "link": read_link,
    "file": read_file,
}
MINI_PROGRAM_ONLY_READERS: Mapping[str, MessageReader] = {"miniprogrampage": read_mini_program_card}


def _event_metadata(event: str, fields: Fields) -> dict[str, object]:
    metadata = _extra_fields(fields)
    event_key = _string(fields, "EventKey")
    if event == "subscribe" and event_key.startswith(_QR_SCENE_PREFIX):
        metadata["scene"] = event_key[len(_QR_SCENE_PREFIX) :]
    elif event == "SCAN" and event_key:
        metadata["scene"] = event_key
    return metadata


def _extra_fields(fields: Fields) -> dict[str, object]:
    return {
        _snake_case(name): value
        for name, value in fields.items()
        if name not in _ENVELOPE_FIELDS and name not in _UNIONID_FIELDS
    }


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _linked_identities(fields: Fields) -> tuple[IdentityRef, ...]:
    for name in _UNIONID_FIELDS:
        unionid = _string(fields, name).strip()
        if unionid:
            return (IdentityRef(WECHAT_UNIONID, unionid, verified=True),)
    return ()


def _string(fields: Fields, name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) else ""


def _required(fields: Fields, name: str) -> str:
    value = _string(fields, name).strip()
    if not value:
        raise MalformedPayload(f"{name}: required")
    return value


def _sent_at(create_time: str) -> datetime:
    if not create_time.isascii() or not create_time.isdigit():
        raise MalformedPayload("CreateTime: not a Unix time")
    try:
        return datetime.fromtimestamp(int(create_time), UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedPayload("CreateTime: out of range") from None


def _coordinate(fields: Fields, name: str, bound: float) -> float:
    try:
        value = float(_string(fields, name))
    except ValueError:
        raise MalformedPayload(f"{name}: not a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise MalformedPayload(f"{name}: out of range")
    return value


def _integer(fields: Fields, name: str) -> int | None:
    value = _string(fields, name).strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise MalformedPayload(f"{name}: not a whole number")
    return int(value)
