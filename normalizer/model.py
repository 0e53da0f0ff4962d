"""Channel-independent message model: what every connector produces from what its channel sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from normalizer.reply_window import ReplyAllowance

__all__ = ["Attachment", "Automation", "ContentType", "IdentityKind", "IdentityRef", "InboundMessage"]


class IdentityKind(StrEnum):
    """The identity kinds every channel shares; a channel's own kinds are declared by its connector."""

    APP_USER = "app_user"
    EMAIL = "email"
    PHONE = "phone"
    EXTERNAL = "external"
    """The customer's id in the business's own system (a CRM's record id), unique in the workspace; kept as
    sent (case matters), whitespace folded."""


class ContentType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    LOCATION = "location"
    LINK = "link"
    CARD = "card"
    EVENT = "event"
    UNSUPPORTED = "unsupported"


class Automation(StrEnum):
    """Why a message was written by a machine rather than a person. None of these may be answered by a machine
    (a bot answer or an automatic acknowledgement), or two machines answer each other for ever."""

    AUTO_REPLY = "auto_reply"
    """An automatic answer to something the business sent (out of office, vacation, ticket received)."""
    BOUNCE = "bounce"
    """A delivery failure report about something the business sent."""
    BULK = "bulk"
    """Mail to many (a mailing list, a newsletter)."""


@dataclass(frozen=True, slots=True)
class IdentityRef:
    """One way of reaching a customer; `scope` separates ids that are only unique per app."""

    kind: str
    value: str
    scope: str = ""
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    """A media item. `media_id` is the channel's handle until a worker stores the bytes at `url`."""

    kind: str
    url: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    name: str | None = None
    size: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing a customer did on a channel: a message, or an event such as a subscribe."""

    channel_message_id: str
    sender: IdentityRef
    sent_at: datetime
    content_type: str = ContentType.TEXT
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    linked_identities: tuple[IdentityRef, ...] = ()
    sender_name: str | None = None
    event: str | None = None
    opens_reply_window: bool = True
    """False for customer actions after which the business may not write (e.g. an unsubscribe)."""
    reply_allowance: ReplyAllowance | None = None
    """What this action lets the business send when it differs from the channel's usual allowance
    (its capabilities): WeChat allows 3 replies within a minute of a menu click, 5 in 48 hours of a message."""
    metadata: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    """The title the customer gave the message (an email's subject): a new conversation's ticket subject."""
    replies_to: tuple[str, ...] = ()
    """The channel message ids this message answers, the one it answers directly first, then that one's ancestors.
    The hub adds the message to the conversation holding any of them (received or sent there), else opens one."""
    automated: Automation | None = None
    """Set when a machine wrote it: never answered automatically (see Automation)."""
    failed_delivery_of: str | None = None
    """For a delivery failure report: the channel message id of the sent message that failed (the hub marks that
    message failed with this message's text as the reason)."""
    opens_ticket: bool = False
    """When this message starts a new conversation, the hub opens a ticket for it too (titled by `subject`)."""

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, payload: bytes | str) -> InboundMessage:
        return msgspec.json.decode(payload, type=cls)
