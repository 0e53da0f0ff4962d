"""The web chat's wire format: every body and frame the widget sends or receives.

What reaches a visitor is built field by field from what a customer may see (connectors.routes.CustomerMessage,
an OutboundMessage): no agent's id, name or email, no inbox id, no delivery error, no note, and no conversation id but
that of the visitor's own resolved conversation they are asked to rate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from connectors.webchat.settings import MAX_TEXT_LENGTH

__all__ = [
    "LONG_POLL_MAX_SECONDS",
    "AckFrame",
    "CsatAnswer",
    "CsatRating",
    "ErrorFrame",
    "IdentifyAnswer",
    "IdentifyClaims",
    "LeftMessage",
    "MessageCreatedFrame",
    "PageFrame",
    "PostedMessage",
    "ReadAnswer",
    "ReadReceipt",
    "ReadyFrame",
    "SocketGreeting",
    "TypingFrame",
    "UploadedFile",
    "VisitorAttachment",
    "VisitorMessage",
    "VisitorMessages",
    "WidgetAttachment",
    "WidgetConfig",
    "WidgetMessage",
    "WidgetPostAnswer",
]

LONG_POLL_MAX_SECONDS = 25
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"

ClientId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        pattern=SINGLE_LINE,
        description="The widget's key for this message: a retry with it is stored once.",
    ),
]


# From the visitor.


MAX_VISITOR_ATTACHMENTS = 5


class WidgetAttachment(msgspec.Struct, forbid_unknown_fields=False):
    """A file the visitor uploaded first (`POST /widget/{widget_token}/attachments`), by the `url` it answered."""

    url: Annotated[str, Meta(max_length=2000)]


class WidgetMessage(msgspec.Struct, forbid_unknown_fields=False):
    """A visitor's message: the body of `POST /widget/{widget_token}/messages`, and of a `message` frame."""

    text: Annotated[
        str,
        Meta(
            max_length=MAX_TEXT_LENGTH,
            description="Control characters are removed; may be empty with attachments.",
        ),
    ]
    client_id: ClientId
    attachments: Annotated[list[WidgetAttachment], Meta(max_length=MAX_VISITOR_ATTACHMENTS)] = []
    name: Annotated[str, Meta(max_length=100, description="Control characters are removed.")] | None = None
    page_url: Annotated[str, Meta(max_length=2000, pattern=SINGLE_LINE)] | None = None


class ReadReceipt(msgspec.Struct, forbid_unknown_fields=False):
    """`POST /widget/{widget_token}/read`: the visitor was shown the replies up to this message id."""

    up_to: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class ReadAnswer(msgspec.Struct):
    read: Annotated[int, Meta(description="Replies that became read (0 when they already were).")]


class PageFrame(msgspec.Struct, forbid_unknown_fields=False):
    """A `page` frame on the widget socket: the page the visitor is on, sent by the widget when its socket is
    ready. The widget sends no query string or fragment, and the hub drops any it gets: no form contents."""

    url: Annotated[str, Meta(max_length=2048, pattern=r"^https?://[^\x00-\x20\x7f]*$")]
    title: Annotated[str, Meta(max_length=300)] = ""
    referrer: Annotated[str, Meta(max_length=2048, pattern=r"^(https?://[^\x00-\x20\x7f]*)?$")] = ""
    time_zone: Annotated[str, Meta(max_length=64, pattern=r"^[A-Za-z0-9_+/-]*$")] = ""
    """The browser's IANA time zone, e.g. Asia/Shanghai."""
    language: Annotated[str, Meta(max_length=35, pattern=r"^[A-Za-z0-9-]*$")] = ""
    """The browser's language tag, e.g. zh-CN."""


class CsatRating(msgspec.Struct, forbid_unknown_fields=False):
    """`POST /widget/{widget_token}/csat`: the visitor rates their resolved conversation, once."""

    conversation_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    """As the `csat.requested` frame or the ready frame's `rating_due` named it."""
    rating: Annotated[int, Meta(ge=1, le=5, description="1 (very unsatisfied) to 5 (very satisfied).")]
    comment: Annotated[str, Meta(max_length=1000, description="Control characters are removed.")] | None = (
        None
    )


class CsatAnswer(msgspec.Struct):
    conversation_id: str
    rating: int


class IdentifyClaims(msgspec.Struct, forbid_unknown_fields=False):
    """The body of `POST /widget/{widget_token}/identify`: who the business's site says its visitor is.

    `identifier_hash` is the hex HMAC-SHA256 of `user_id` with the inbox's identity secret, computed by the
    business's backend; without a matching one the claims are kept as unverified attributes only.
    """

    user_id: Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)] | None = None
    email: Annotated[str, Meta(max_length=320, pattern=SINGLE_LINE)] | None = None
    phone: Annotated[str, Meta(max_length=40, pattern=SINGLE_LINE)] | None = None
    name: Annotated[str, Meta(max_length=100, description="Control characters are removed.")] | None = None
    identifier_hash: Annotated[str, Meta(max_length=128, pattern=r"^[0-9A-Fa-f]*$")] | None = None


class IdentifyAnswer(msgspec.Struct):
    verified: bool
    """True when `identifier_hash` matched: the visitor is linked to the business's user. False: the claims were
    kept as unverified attributes and link nothing."""


class LeftMessage(msgspec.Struct, forbid_unknown_fields=False):
    """The body of `POST /widget/{widget_token}/leave-message`: what a visitor leaves while nobody can chat."""

    email: Annotated[
        str, Meta(min_length=1, max_length=320, pattern=SINGLE_LINE, description="Where to answer.")
    ]
    text: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT_LENGTH)]
    client_id: ClientId
    name: Annotated[str, Meta(max_length=100, description="Control characters are removed.")] | None = None


class SocketGreeting(msgspec.Struct, forbid_unknown_fields=False):
    """The socket's first frame when the visitor token is not in the URL (null starts a new visitor)."""

    visitor_token: str | None = None


# To the visitor.


class VisitorAttachment(msgspec.Struct):
    kind: str
    url: str | None
    mime_type: str | None
    name: str | None
    size: int | None


class UploadedFile(VisitorAttachment, omit_defaults=True):
    """`POST /widget/{widget_token}/attachments`: the stored file, to send as `{"url"}` in a message's `attachments`;
    `visitor_token` when this call started a new visitor."""

    visitor_token: str | None = None


class VisitorMessage(msgspec.Struct):
    """A message as the visitor sees it. `client_id` only on the visitor's own messages, to match its retries."""

    id: str
    text: str
    sender: Annotated[str, Meta(description="contact, agent, bot or system")]
    content_type: str
    attachments: list[VisitorAttachment]
    client_id: str | None
    status: str
    created_at: datetime


class VisitorMessages(msgspec.Struct):
    """`GET /widget/{widget_token}/messages`: oldest first."""

    items: list[VisitorMessage]
    rating_due: str | None = None
    """As the socket's ready frame: the visitor's resolved conversation not rated yet, for a widget on HTTP."""


class PostedMessage(msgspec.Struct):
    """The visitor's message as accepted: `duplicate` when its client_id was accepted before (nothing stored)."""

    id: str
    client_id: str
    text: str
    sender: Literal["contact"]
    status: Literal["accepted"]
    duplicate: bool
    created_at: datetime


class WidgetPostAnswer(PostedMessage, omit_defaults=True):
    """The accepted message, also under `message`; `visitor_token` when this call started a new visitor."""

    message: PostedMessage
    visitor_token: str | None = None


class WidgetConfig(msgspec.Struct):
    """What the widget shows before the first message."""

    title: str
    greeting: str
    color: str
    inbox: str
    prechat: str
    """The pre-chat form: `off`, `optional` or `required` (the email)."""
    leave_message: bool
    """The widget offers the leave-a-message form instead of the chat: the inbox's `offline_form` is on, and it is
    out of its business hours or no agent could take a new conversation now."""


class ReadyFrame(msgspec.Struct, tag="ready", tag_field="type", omit_defaults=True):
    messages: list[VisitorMessage]
    visitor_token: str | None = None
    rating_due: str | None = None
    """The visitor's resolved conversation they have not rated yet (its id for `POST .../csat`), if any."""


class AckFrame(msgspec.Struct, tag="ack", tag_field="type"):
    message: PostedMessage
    client_id: str
    id: str


class MessageCreatedFrame(msgspec.Struct, tag="message.created", tag_field="type"):
    message: VisitorMessage


class TypingFrame(msgspec.Struct, tag="typing", tag_field="type"):
    typing: bool


class ErrorFrame(msgspec.Struct, tag="error", tag_field="type", omit_defaults=True):
    code: str
    detail: str
    client_id: str | None = None
    retry_after: int | None = None
    """With `rate_limited`: the seconds until the visitor may send again."""
