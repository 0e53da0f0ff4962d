"""What the official account and the mini program share: WeChat's callback rules and its customer service API."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

from connectors.base import (
    AckResponse,
    Capabilities,
    ConnectorContext,
    CredentialsRefused,
    CredentialsUnchecked,
    InboxRef,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    RawRequest,
    ReplayKey,
    SendResult,
    TransientSendError,
    WebhookConnector,
)
from connectors.wechat.common.access_token import TokenRefused
from connectors.wechat.common.api import WeChatApi
from connectors.wechat.common.callbacks import CallbackReader
from connectors.wechat.common.documents import DataFormat, decode_xml_text
from connectors.wechat.common.identities import WECHAT_IDENTITY_KINDS, WECHAT_OPENID
from connectors.wechat.common.inbound import InboundMapper, MessageReader
from connectors.wechat.common.outbound import (
    MAX_TEXT_BYTES,
    MediaIds,
    MessageBuilder,
    OutboundPart,
    SentParts,
    outbound_parts,
)
from connectors.wechat.common.settings import DEFAULT_API_BASE_URL, WeChatSettings
from normalizer import Attachment, IdentityRef, InboundMessage

__all__ = ["DOWNLOADED_ATTACHMENT_KINDS", "WeChatConnector", "customer_service_capabilities"]

DOWNLOADED_ATTACHMENT_KINDS = frozenset({"image", "voice", "video", "file"})
"""Attachments whose bytes WeChat keeps only three days (as temporary media), so the worker stores a copy."""

_CUSTOM_SEND = "/cgi-bin/message/custom/send"


def customer_service_capabilities(*, voice: bool) -> Capabilities:
    """WeChat's customer service rules, the same for both channels: after a customer's message the business may
    send 5 messages within 48 hours; a text may be 2048 UTF-8 bytes (send() splits longer ones, one reply each)."""
    return Capabilities(
        text=True,
        images=True,
        voice=voice,
        files=False,
        typing=True,
        max_text_length=MAX_TEXT_BYTES,
        reply_window=timedelta(hours=48),
        max_replies_in_window=5,
    )


class WeChatConnector(WebhookConnector):
    """Subclasses name their kind and choose the message types and attachment kinds their channel knows."""

    settings_model: ClassVar[type[WeChatSettings]]
    identity_kinds = WECHAT_IDENTITY_KINDS
    message_readers: ClassVar[Mapping[str, MessageReader]]
    message_builders: ClassVar[Mapping[str, MessageBuilder]]
    """Outbound attachment kind -> how to send it."""

    settings: WeChatSettings

    def __init__(self, settings: WeChatSettings, inbox: InboxRef) -> None:
        super().__init__(settings, inbox)
        self._callbacks = CallbackReader(settings, self.data_format())
        self._mapper = InboundMapper(settings.app_id, self.message_readers)
        self._api = WeChatApi(settings)

    def data_format(self) -> DataFormat:
        return "xml"

    @classmethod
    def demo_settings(cls) -> dict[str, Any]:
        """Made-up credentials in safe mode, drawn afresh for each demo hub so no two share a callback token."""
        alphanumeric = string.ascii_letters + string.digits
        return {
            "app_id": f"wx{secrets.token_hex(8)}",
            "app_secret": secrets.token_hex(16),
            "token": "".join(secrets.choice(alphanumeric) for _ in range(32)),
            "mode": "safe",
            "encoding_aes_key": "".join(secrets.choice(alphanumeric) for _ in range(43)),
        }

    def describe(self) -> dict[str, Any]:
        """What the admin pastes into the WeChat console besides the token and key, which are secrets."""
        return {
            "callback_url": f"{self.inbox.public_url.rstrip('/')}/webhooks/{self.kind}/{self.inbox.id}",
            "app_id": self.settings.app_id,
            "mode": self.settings.mode,
        }

    def console_settings(self) -> dict[str, str]:
        """The callback Token and EncodingAESKey, which the admin types into the WeChat console too."""
        entered = {"token": self.settings.token.get_secret_value()}
        if self.settings.encoding_aes_key is not None:
            entered["encoding_aes_key"] = self.settings.encoding_aes_key.get_secret_value()
        return entered

    def verify(self, raw: RawRequest) -> None:
        self._callbacks.verify(raw)

    def replay_key(self, raw: RawRequest) -> ReplayKey:
        return self._callbacks.replay_key(raw)

    def handshake(self, raw: RawRequest) -> AckResponse | None:
        return self._callbacks.handshake(raw)

    def parse(self, raw: RawRequest) -> list[InboundMessage]:
        return [self._mapper.message(self._callbacks.fields(raw))]

    def ack(self, raw: RawRequest, messages: list[InboundMessage]) -> AckResponse:
        """WeChat documents a plain `success` as accepted in every mode; replies go through the API instead."""
        return AckResponse(body=b"success")

    def redact(self, raw: RawRequest) -> str:
        """The body as received (an encrypted one stays encrypted), XML in its declared charset; no query string."""
        if self.data_format() == "xml":
            try:
                return decode_xml_text(raw.body[: self.settings.max_body_bytes])
            except MalformedPayload:
                pass
        return super().redact(raw)

    async def check_credentials(self, context: ConnectorContext) -> None:
        """An access token fetched with the app id and secret proves both; it stays cached as the inbox's first."""
        try:
            await self._api.prove_credentials(context)
        except TokenRefused as refused:
            raise CredentialsRefused(refused.reason, setting=refused.setting) from None
        except TransientSendError as failure:
            custom_host = self.settings.api_base_url != DEFAULT_API_BASE_URL
            hint = f" (is api_base_url {self.settings.api_base_url} WeChat's API?)" if custom_host else ""
            raise CredentialsUnchecked(failure.reason + hint) from None
        except PermanentSendError as refused:
            raise CredentialsRefused(refused.reason) from None

    async def enrich(self, message: InboundMessage, context: ConnectorContext) -> InboundMessage:
        """Store a copy of the media WeChat will delete; a failed download keeps the message, with the reason."""
        attachments = [await self._stored_copy(attachment, context) for attachment in message.attachments]
        return replace(message, attachments=tuple(attachments))

    def parts_needed(self, outbound: OutboundMessage) -> int:
        """One customer service message per 2048-byte piece of text and one per attachment."""
        return len(outbound_parts(outbound))

    async def send(self, outbound: OutboundMessage, context: ConnectorContext) -> SendResult:
        """Sends the parts in order; a retry resumes after the parts WeChat already accepted."""
        openid = self._openid(outbound.recipient)
        parts = outbound_parts(outbound)
        self._refuse_unsendable(parts)
        progress = SentParts(self.settings.app_id, outbound.message_id)
        channel_ids = await progress.load(context) if len(parts) > 1 else []
        for index in range(len(channel_ids), len(parts)):
            message = await self._customer_service_message(parts[index], context)
            answer = await self._api.call(
                context, "POST", _CUSTOM_SEND, "customer service message", json={"touser": openid, **message}
            )
            channel_ids.append(str(answer.get("msgid") or f"{outbound.message_id}:{index}"))
            if len(parts) > 1:
                await progress.save(context, channel_ids)
        return SendResult(channel_message_ids=tuple(channel_ids))

    async def send_typing(self, recipient: IdentityRef, typing: bool, context: ConnectorContext) -> None:
        await self._api.call(
            context,
            "POST",
            "/cgi-bin/message/custom/typing",
            "typing indicator",
            json={"touser": self._openid(recipient), "command": "Typing" if typing else "CancelTyping"},
        )

    def _openid(self, recipient: IdentityRef) -> str:
        """Openids are per app: one from another app (or another kind of identity) cannot be reached here."""
        if recipient.kind != WECHAT_OPENID or recipient.scope not in ("", self.settings.app_id):
            raise PermanentSendError(f"The recipient is not a WeChat user of app {self.settings.app_id}")
        return recipient.value

    def _refuse_unsendable(self, parts: list[OutboundPart]) -> None:
        """An attachment kind the channel cannot carry fails the message before its text goes out, not after."""
        if not parts:
            raise PermanentSendError("The message has neither text nor attachments")
        for part in parts:
            if part.attachment is not None and part.attachment.kind not in self.message_builders:
                raise PermanentSendError(
                    f"A {self.display_name} cannot send {part.attachment.kind} attachments"
                )

    async def _customer_service_message(
        self, part: OutboundPart, context: ConnectorContext
    ) -> dict[str, Any]:
        if part.attachment is None:
            return {"msgtype": "text", "text": {"content": part.text}}
        build = self.message_builders[part.attachment.kind]
        return await build(part.attachment, MediaIds(self._api, context))

    async def _stored_copy(self, attachment: Attachment, context: ConnectorContext) -> Attachment:
        if attachment.kind not in DOWNLOADED_ATTACHMENT_KINDS or not attachment.media_id:
            return attachment
        try:
            media = await self._api.download_media(context, attachment.media_id)
        except (TransientSendError, PermanentSendError) as failure:
            kept = {"channel_url": attachment.url} if attachment.url else {}
            return replace(
                attachment, url=None, meta={**attachment.meta, **kept, "download_error": failure.reason}
            )
        url = await context.save_attachment(media.content, media.filename, media.mime_type)
        return replace(attachment, url=url, mime_type=media.mime_type, size=len(media.content))
