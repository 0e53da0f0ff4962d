"""Web chat: messages arrive from the hub's widget endpoints, replies reach the visitor in real time.

The hub authenticates the visitor (signed visitor token) before handing the message here, so
there is no channel signature to verify; delivery is the hub's realtime fan-out, so `send`
only confirms.
"""

from __future__ import annotations

import msgspec
from pydantic import BaseModel, Field, field_validator

from connectors.base import (
    Capabilities,
    Connector,
    ConnectorContext,
    MalformedPayload,
    OutboundMessage,
    RawRequest,
    SendResult,
)
from normalizer import IdentityKind, IdentityRef, InboundMessage, clean_text

__all__ = ["MAX_TEXT_LENGTH", "WebChatConnector", "WebChatSettings", "WidgetPost"]

MAX_TEXT_LENGTH = 4000


class WebChatSettings(BaseModel):
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) allowed to embed the widget; empty allows all.",
    )
    greeting: str = Field("Hi! How can we help?", max_length=500)
    title: str = Field("Chat with us", max_length=100)
    color: str = Field("#2563eb", pattern=r"^#[0-9a-fA-F]{6}$")
    visitor_token_days: int = Field(90, ge=1, le=3650, description="How long a visitor keeps their history.")

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return [origin.rstrip("/").lower() for origin in origins]

    def origin_allowed(self, origin: str | None) -> bool:
        if not self.allowed_origins or origin is None:
            return True
        return origin.rstrip("/").lower() in self.allowed_origins


class WidgetPost(msgspec.Struct, forbid_unknown_fields=False):
    """What the hub forwards from a visitor: the text, the widget's retry key and the visitor."""

    visitor_id: str
    client_id: str
    text: str
    name: str | None = None
    page_url: str | None = None


class WebChatConnector(Connector):
    kind = "webchat"
    display_name = "Web chat"
    capabilities = Capabilities(
        text=True, images=True, files=True, typing=True, read_receipts=True, max_text_length=MAX_TEXT_LENGTH
    )
    settings_model = WebChatSettings

    def describe(self) -> dict[str, str]:
        base = self.inbox.public_url.rstrip("/")
        return {
            "widget_token": self.inbox.public_token,
            "embed_snippet": f'<script src="{base}/widget.js" data-widget-token="{self.inbox.public_token}" async></script>',
        }

    def parse(self, raw: RawRequest) -> list[InboundMessage]:
        try:
            post = msgspec.json.decode(raw.body, type=WidgetPost)
        except msgspec.ValidationError as error:
            raise MalformedPayload(f"invalid widget message: {error}") from None
        except msgspec.DecodeError:
            raise MalformedPayload("widget message is not JSON") from None
        text = clean_text(post.text)
        if not text:
            raise MalformedPayload("text: must not be empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise MalformedPayload(f"text: longer than {MAX_TEXT_LENGTH} characters")
        if not post.client_id or len(post.client_id) > 100:
            raise MalformedPayload("client_id: must be 1 to 100 characters")
        metadata = {"client_id": post.client_id}
        if post.page_url:
            metadata["page_url"] = post.page_url
        return [
            InboundMessage(
                channel_message_id=f"{post.visitor_id}:{post.client_id}",
                sender=IdentityRef(
                    IdentityKind.WEBCHAT_VISITOR, post.visitor_id, scope=self.inbox.id, verified=True
                ),
                sender_name=clean_text(post.name or "") or None,
                sent_at=raw.received_at,
                text=text,
                metadata=metadata,
            )
        ]

    async def send(self, outbound: OutboundMessage, context: ConnectorContext) -> SendResult:
        return SendResult(channel_message_ids=(outbound.message_id,), status="delivered")
