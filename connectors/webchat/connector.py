"""Web chat: visitors write from the widget's endpoints (connectors.webchat.routes), replies reach their sockets.

The widget's routes prove the visitor (a signed visitor token) before a message becomes an InboundMessage, so
there is no channel signature to verify and nothing arrives on the public webhook route. `send` pushes the reply
to the visitor's open sockets and long polls through the hub; a visitor who is away reads it in the history.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

import msgspec

from connectors.base import (
    Capabilities,
    Connector,
    ConnectorContext,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    SendResult,
)
from connectors.routes import CustomerClaims
from connectors.webchat.settings import MAX_TEXT_LENGTH, WebChatSettings
from connectors.webchat.wire import (
    IdentifyClaims,
    MessageCreatedFrame,
    TypingFrame,
    VisitorAttachment,
    VisitorMessage,
    WidgetMessage,
)
from normalizer import Attachment, ContentType, IdentityKind, IdentityRef, InboundMessage, clean_text

__all__ = ["WEBCHAT_VISITOR", "WebChatConnector", "visitor_attachments"]

WEBCHAT_VISITOR = "webchat_visitor"
"""A visitor the hub issued a token to; unique per inbox (its scope)."""


class WebChatConnector(Connector):
    kind = "webchat"
    display_name = "Web chat"
    capabilities = Capabilities(
        text=True, images=True, files=True, typing=True, read_receipts=True, max_text_length=MAX_TEXT_LENGTH
    )
    settings_model = WebChatSettings
    identity_kinds = frozenset({WEBCHAT_VISITOR})

    settings: WebChatSettings

    def describe(self) -> dict[str, str]:
        base = self.inbox.public_url.rstrip("/")
        return {
            "widget_token": self.inbox.public_token,
            "embed_snippet": f'<script src="{base}/widget.js" data-widget-token="{self.inbox.public_token}" async></script>',
        }

    @classmethod
    def demo_settings(cls) -> dict[str, Any]:
        return {"identity_secret": secrets.token_hex(32)}

    def console_settings(self) -> dict[str, str]:
        """The identity secret, which the business's backend signs its identify calls with."""
        secret = self.settings.identity_secret
        return {} if secret is None else {"identity_secret": secret.get_secret_value()}

    def identify_claims(self, claims: IdentifyClaims) -> CustomerClaims:
        """Pure: the claims as identities, verified only when `identifier_hash` is the HMAC-SHA256 of `user_id`
        with the inbox's identity secret (compared in constant time). The business's user id is an app user,
        shared with the business's app, so its web and app customers are one contact."""
        identities = tuple(
            IdentityRef(kind, value, verified=True)
            for kind, value in (
                (IdentityKind.APP_USER, claims.user_id),
                (IdentityKind.EMAIL, claims.email),
                (IdentityKind.PHONE, claims.phone),
            )
            if value and value.strip()
        )
        verified = bool(
            claims.user_id
            and claims.identifier_hash
            and self._signed_by_business(claims.user_id, claims.identifier_hash)
        )
        if not verified:
            identities = tuple(
                IdentityRef(each.kind, each.value)
                for each in identities
                if each.kind != IdentityKind.APP_USER
            )
        return CustomerClaims(
            identities=identities, name=clean_text(claims.name or "") or None, verified=verified
        )

    def _signed_by_business(self, user_id: str, identifier_hash: str) -> bool:
        secret = self.settings.identity_secret
        if secret is None:
            return False
        expected = hmac.new(secret.get_secret_value().encode(), user_id.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, identifier_hash.lower())

    def visitor(self, visitor_id: str) -> IdentityRef:
        """The widget's routes proved the visitor with its token, so the identity is verified."""
        return IdentityRef(WEBCHAT_VISITOR, visitor_id, scope=self.inbox.id, verified=True)

    def inbound_message(
        self,
        visitor_id: str,
        post: WidgetMessage,
        received_at: datetime,
        attachments: tuple[Attachment, ...] = (),
        *,
        left_message: bool = False,
    ) -> InboundMessage:
        """Pure: the visitor's message as the hub stores it; its client_id makes a retry the same message.

        `attachments` are the files of `post.attachments` as the hub stored them. A `left_message` (the offline
        form's) is flagged in its metadata, which makes the hub open a ticket for it (hub.ticket_rules)."""
        text = clean_text(post.text)
        if not text and not attachments:
            raise MalformedPayload("text: must not be empty (or send attachments)")
        metadata: dict[str, Any] = {"client_id": post.client_id}
        if left_message:
            metadata["left_message"] = True
        if post.page_url:
            metadata["page_url"] = post.page_url
        return InboundMessage(
            channel_message_id=f"{visitor_id}:{post.client_id}",
            sender=self.visitor(visitor_id),
            sender_name=clean_text(post.name or "") or None,
            sent_at=received_at,
            content_type=attachments[0].kind if attachments and not text else ContentType.TEXT,
            text=text,
            attachments=attachments,
            metadata=metadata,
        )

    async def send(self, outbound: OutboundMessage, context: ConnectorContext) -> SendResult:
        if context.push is None:
            raise PermanentSendError("This hub offers web chat no way to reach visitors")
        if outbound.recipient.kind != WEBCHAT_VISITOR or outbound.recipient.scope != self.inbox.id:
            raise PermanentSendError("The recipient is not a visitor of this web chat")
        message = VisitorMessage(
            id=outbound.message_id,
            text=outbound.text,
            sender=outbound.sender,
            content_type=outbound.attachments[0].kind
            if outbound.attachments and not outbound.text
            else "text",
            attachments=visitor_attachments(outbound.attachments),
            client_id=None,
            status="delivered",
            created_at=outbound.created_at or context.now(),
        )
        await context.push(outbound.recipient, msgspec.to_builtins(MessageCreatedFrame(message)))
        return SendResult(channel_message_ids=(outbound.message_id,), status="delivered")

    async def send_typing(self, recipient: IdentityRef, typing: bool, context: ConnectorContext) -> None:
        if context.push is not None:
            await context.push(recipient, msgspec.to_builtins(TypingFrame(typing)))


def visitor_attachments(attachments: tuple[Attachment, ...]) -> list[VisitorAttachment]:
    """What the widget shows of an attachment; a channel's media id and the hub's notes on it stay behind."""
    return [
        VisitorAttachment(
            kind=attachment.kind,
            url=attachment.url,
            mime_type=attachment.mime_type,
            name=attachment.name,
            size=attachment.size,
        )
        for attachment in attachments
    ]
