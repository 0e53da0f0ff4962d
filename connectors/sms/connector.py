"""Twilio SMS (and MMS): Twilio's Messaging webhook brings customers' texts, the Messages API sends the replies, and
Twilio's status callbacks say whether each reply reached the phone."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from twilio.twiml.messaging_response import MessagingResponse

from connectors.base import (
    AckResponse,
    Capabilities,
    ConnectorContext,
    DeliveryReport,
    InboxRef,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    RawRequest,
    SendResult,
    TransientSendError,
    WebhookConnector,
)
from connectors.sms.errors import explain_error_code
from connectors.sms.settings import TwilioSmsSettings
from connectors.sms.twilio_api import TwilioApi
from connectors.sms.webhooks import MESSAGE_SID, PHONE_NUMBER, WebhookReader, required
from normalizer import Attachment, ContentType, IdentityKind, IdentityRef, InboundMessage

__all__ = ["MAX_MEDIA_BYTES", "MAX_TEXT_CHARACTERS", "STATUS_SUB_PATH", "TwilioSmsConnector"]

MAX_TEXT_CHARACTERS = 1600
"""The longest Body Twilio's Messages API accepts (it splits it into segments itself)."""
MAX_MEDIA_ITEMS = 10
MAX_MEDIA_BYTES = 5 * 1024 * 1024
"""The largest MMS media Twilio accepts; the worker copies nothing larger."""
STATUS_SUB_PATH = "status"
_REPORTED: dict[str, Any] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
}
"""Twilio's MessageStatus values that say something new of a sent reply; queued, accepted and sending do not."""
_EMPTY_TWIML = str(MessagingResponse()).encode()


class TwilioSmsConnector(WebhookConnector):
    kind = "twilio_sms"
    display_name = "Twilio SMS"
    capabilities = Capabilities(text=True, max_text_length=MAX_TEXT_CHARACTERS, billed_per_sms_segment=True)
    settings_model = TwilioSmsSettings

    settings: TwilioSmsSettings

    def __init__(self, settings: TwilioSmsSettings, inbox: InboxRef) -> None:
        super().__init__(settings, inbox)
        self._webhooks = WebhookReader(settings)
        self._api = TwilioApi(settings)

    @classmethod
    def demo_settings(cls) -> dict[str, Any]:
        """Made-up credentials drawn afresh for each demo hub (no one can sign its webhooks), and Twilio's magic
        test number as the sender."""
        return {
            "account_sid": f"AC{secrets.token_hex(16)}",
            "auth_token": secrets.token_hex(16),
            "from_number": "+15005550006",
        }

    def describe(self) -> dict[str, Any]:
        """What the admin pastes into the Twilio console: the number's (or Messaging Service's) incoming message
        webhook, HTTP POST, and its status callback (replies also ask for it themselves)."""
        inbound = self._webhook_url()
        facts: dict[str, Any] = {
            "inbound_webhook_url": inbound,
            "status_callback_url": f"{inbound}/{STATUS_SUB_PATH}",
            "account_sid": self.settings.account_sid,
        }
        if self.settings.messaging_service_sid:
            facts["messaging_service_sid"] = self.settings.messaging_service_sid
        if self.settings.from_number:
            facts["from_number"] = self.settings.from_number
        return facts

    def verify(self, raw: RawRequest) -> None:
        self._webhooks.verify(raw)

    def parse(self, raw: RawRequest) -> list[InboundMessage]:
        if raw.sub_path:
            raise MalformedPayload(f"no Twilio hook at /{raw.sub_path}")
        form = self._webhooks.form(raw)
        sid = required(form, "MessageSid", MESSAGE_SID)
        sender = required(form, "From", PHONE_NUMBER)
        text = form.get("Body", "")
        if len(text) > MAX_TEXT_CHARACTERS:
            raise MalformedPayload(f"the Body is longer than {MAX_TEXT_CHARACTERS} characters")
        attachments = _media(form)
        if not text and not attachments:
            raise MalformedPayload("the message has neither a Body nor media")
        metadata = {key: form[key] for key in ("To", "NumSegments", "FromCountry") if form.get(key)}
        return [
            InboundMessage(
                channel_message_id=sid,
                sender=IdentityRef(IdentityKind.PHONE, sender, verified=True),
                sent_at=raw.received_at,
                content_type=ContentType.TEXT if text or not attachments else attachments[0].kind,
                text=text,
                attachments=attachments,
                metadata=metadata,
            )
        ]

    def delivery_reports(self, raw: RawRequest) -> list[DeliveryReport] | None:
        if raw.sub_path != STATUS_SUB_PATH:
            return None
        form = self._webhooks.form(raw)
        sid = required(form, "MessageSid", MESSAGE_SID)
        status = _REPORTED.get(required(form, "MessageStatus"))
        if status is None:
            return []
        reason = _failure_reason(form) if status == "failed" else None
        return [DeliveryReport(sid, status, reason, raw.query.get("message_id") or None)]

    def ack(self, raw: RawRequest, messages: list[InboundMessage]) -> AckResponse:
        """Empty TwiML: Twilio sends no automatic answer; agents reply through the API."""
        return AckResponse(body=_EMPTY_TWIML, media_type="text/xml")

    async def check_credentials(self, context: ConnectorContext) -> None:
        """Fetching the account with the Account SID and Auth Token proves both."""
        await self._api.prove_credentials(context)

    async def enrich(self, message: InboundMessage, context: ConnectorContext) -> InboundMessage:
        """A copy of each MMS media in the hub; a failed download keeps Twilio's URL as a reference, with the reason."""
        if not message.attachments:
            return message
        stored = [await self._stored_copy(attachment, context) for attachment in message.attachments]
        return replace(message, attachments=tuple(stored))

    async def send(self, outbound: OutboundMessage, context: ConnectorContext) -> SendResult:
        to = self._phone(outbound.recipient)
        if outbound.attachments:
            raise PermanentSendError("An SMS reply carries text only: send a link to the file instead")
        if not outbound.text.strip():
            raise PermanentSendError("The message has no text")
        if len(outbound.text) > MAX_TEXT_CHARACTERS:
            raise PermanentSendError(f"An SMS reply has at most {MAX_TEXT_CHARACTERS} characters")
        form = {
            "To": to,
            "Body": outbound.text,
            "StatusCallback": f"{self._webhook_url()}/{STATUS_SUB_PATH}?message_id={quote(outbound.message_id)}",
        }
        if self.settings.messaging_service_sid:
            form["MessagingServiceSid"] = self.settings.messaging_service_sid
        else:
            assert self.settings.from_number is not None
            form["From"] = self.settings.from_number
        sid = await self._api.create_message(context, form)
        return SendResult(channel_message_ids=(sid,))

    def _webhook_url(self) -> str:
        return f"{self.inbox.public_url.rstrip('/')}/webhooks/{self.kind}/{self.inbox.id}"

    def _phone(self, recipient: IdentityRef) -> str:
        if recipient.kind != IdentityKind.PHONE or not PHONE_NUMBER.fullmatch(recipient.value):
            raise PermanentSendError("The recipient has no phone number an SMS can reach")
        return recipient.value

    async def _stored_copy(self, attachment: Attachment, context: ConnectorContext) -> Attachment:
        if attachment.url is not None or not attachment.media_id:
            return attachment
        try:
            media = await context.read_attachment(attachment.media_id, MAX_MEDIA_BYTES)
        except (TransientSendError, PermanentSendError) as failure:
            return replace(attachment, meta={**attachment.meta, "download_error": failure.reason})
        mime_type = attachment.mime_type or media.mime_type or "application/octet-stream"
        url = await context.save_attachment(media.content, attachment.name or "media", mime_type)
        return replace(attachment, url=url, mime_type=mime_type, size=len(media.content))


def _media(form: dict[str, str]) -> tuple[Attachment, ...]:
    """MMS media: Twilio's URLs and types, which the worker copies (enrich); the URL stays as `channel_url`."""
    count = form.get("NumMedia", "0").strip() or "0"
    if not count.isdigit() or int(count) > MAX_MEDIA_ITEMS:
        raise MalformedPayload(f"NumMedia {count[:10]!r} is not a count of at most {MAX_MEDIA_ITEMS}")
    attachments = []
    for index in range(int(count)):
        url = required(form, f"MediaUrl{index}")
        if not url.startswith("https://"):
            raise MalformedPayload(f"MediaUrl{index} is not an https URL")
        mime_type = form.get(f"MediaContentType{index}", "").strip().lower() or None
        kind = "image" if mime_type and mime_type.startswith("image/") else "file"
        extension = mime_type.split("/")[-1] if mime_type else "bin"
        attachments.append(
            Attachment(
                kind=kind,
                media_id=url,
                mime_type=mime_type,
                name=f"media-{index}.{extension}",
                meta={"channel_url": url},
            )
        )
    return tuple(attachments)


def _failure_reason(form: dict[str, str]) -> str:
    code = form.get("ErrorCode", "").strip()
    status = form.get("MessageStatus", "failed")
    meaning = explain_error_code(int(code)) if code.isdigit() else None
    if meaning:
        return f"{meaning} (Twilio error {code})"
    if code:
        return f"Twilio reports the SMS {status} (error {code})"
    return f"Twilio reports the SMS {status}"
