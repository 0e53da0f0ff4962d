"""Acme SMS, a made-up SMS gateway: the worked example of docs/connectors.md.

Acme posts every text a customer sends to the inbox's webhook URL as signed JSON, and takes
replies on its REST API. Everything Acme-specific stays in this package; the hub only sees the
connector contract.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any

import httpx
import msgspec
from pydantic import BaseModel, Field, SecretStr

from connectors.base import (
    Capabilities,
    ConnectorContext,
    MalformedPayload,
    OutboundMessage,
    OutgoingUrl,
    PermanentSendError,
    RawRequest,
    SendResult,
    SignatureInvalid,
    TransientSendError,
    WebhookConnector,
)
from normalizer import IdentityKind, IdentityRef, InboundMessage, clean_text, normalize_identity
from normalizer.identities import InvalidIdentity

__all__ = [
    "MAX_SMS_LENGTH",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AcmeSmsConnector",
    "AcmeSmsSettings",
    "webhook_signature",
]

MAX_SMS_LENGTH = 1600
"""Acme joins up to ten segments into one text on the customer's phone."""
TIMESTAMP_HEADER = "x-acme-timestamp"
SIGNATURE_HEADER = "x-acme-signature"
_UNIX_TIME = re.compile(r"[0-9]{1,12}")


class AcmeSmsSettings(BaseModel):
    """One Acme number connected as an inbox."""

    sender_number: str = Field(
        pattern=r"^\+[1-9][0-9]{6,14}$", description="The inbox's Acme number, in E.164."
    )
    api_key: SecretStr = Field(min_length=16, description="Sent as a bearer token on every API call.")
    webhook_secret: SecretStr = Field(
        min_length=16, description="Acme signs webhooks with it (both consoles)."
    )
    api_base_url: OutgoingUrl = Field(
        "https://api.acme-sms.example", description="Acme's API (or a test gateway)."
    )
    replay_window_seconds: int = Field(300, ge=30, le=3600, description="How old a signed webhook may be.")


class AcmeWebhook(msgspec.Struct, frozen=True):
    """The body of Acme's message webhook; fields Acme adds later are ignored."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    sender: str = msgspec.field(name="from")
    text: str
    received_at: Annotated[datetime, msgspec.Meta(tz=True)]


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>`: covering the timestamp stops replays with a fresh one."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class AcmeSmsConnector(WebhookConnector):
    kind = "acme_sms"
    display_name = "Acme SMS"
    capabilities = Capabilities(text=True, max_text_length=MAX_SMS_LENGTH, billed_per_sms_segment=True)
    settings_model = AcmeSmsSettings

    settings: AcmeSmsSettings

    @classmethod
    def demo_settings(cls) -> dict[str, Any]:
        return {
            "sender_number": "+15005550006",
            "api_key": "demo-api-key-not-a-real-one",
            "webhook_secret": "demo-webhook-secret-not-a-real-one",
        }

    def describe(self) -> dict[str, Any]:
        """The admin pastes the callback URL into Acme's console."""
        return {
            "callback_url": f"{self.inbox.public_url.rstrip('/')}/webhooks/{self.kind}/{self.inbox.id}",
            "sender_number": self.settings.sender_number,
        }

    def console_settings(self) -> dict[str, str]:
        """The admin types the webhook secret into Acme's console too; the demo prints it for simulators."""
        return {"webhook_secret": self.settings.webhook_secret.get_secret_value()}

    def verify(self, raw: RawRequest) -> None:
        """Fresh and signed with this inbox's secret; `raw.received_at` is the hub's clock, passed in."""
        timestamp = raw.header(TIMESTAMP_HEADER) or ""
        if not _UNIX_TIME.fullmatch(timestamp):
            raise SignatureInvalid(f"{TIMESTAMP_HEADER} is missing or not a Unix time")
        age = abs(raw.received_at.timestamp() - int(timestamp))
        if age > self.settings.replay_window_seconds:
            raise SignatureInvalid(f"signed {age:.0f}s away from our clock: outside the replay window")
        expected = webhook_signature(self.settings.webhook_secret.get_secret_value(), timestamp, raw.body)
        if not hmac.compare_digest((raw.header(SIGNATURE_HEADER) or "").encode(), expected.encode()):
            raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the inbox's webhook secret")

    def parse(self, raw: RawRequest) -> list[InboundMessage]:
        try:
            webhook = msgspec.json.decode(raw.body, type=AcmeWebhook)
        except msgspec.DecodeError as error:
            raise MalformedPayload(f"not an Acme message webhook: {error}") from None
        try:
            sender = normalize_identity(IdentityRef(IdentityKind.PHONE, webhook.sender, verified=True))
        except InvalidIdentity as error:
            raise MalformedPayload(f"from: {error}") from None
        return [
            InboundMessage(
                channel_message_id=webhook.id,
                sender=sender,
                sent_at=webhook.received_at,
                text=clean_text(webhook.text),
            )
        ]

    async def send(self, outbound: OutboundMessage, context: ConnectorContext) -> SendResult:
        if outbound.recipient.kind != IdentityKind.PHONE:
            raise PermanentSendError("Acme SMS can only text a phone number.")
        if len(outbound.text) > MAX_SMS_LENGTH:
            raise PermanentSendError(
                f"An SMS holds {MAX_SMS_LENGTH} characters; this reply has {len(outbound.text)}."
            )
        try:
            response = await context.http.post(
                f"{self.settings.api_base_url.rstrip('/')}/v1/messages",
                headers={
                    "Authorization": f"Bearer {self.settings.api_key.get_secret_value()}",
                    "Idempotency-Key": outbound.message_id,
                },
                json={
                    "from": self.settings.sender_number,
                    "to": outbound.recipient.value,
                    "text": outbound.text,
                },
            )
        except httpx.RequestError as error:
            raise TransientSendError(f"Acme SMS could not be reached ({type(error).__name__}).") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientSendError(
                f"Acme SMS cannot take messages now (HTTP {status}).",
                retry_after=_retry_after(response, context.now()),
            )
        answer = _json_object(response)
        if not response.is_success:
            error = answer.get("error")
            reason = error.get("message") if isinstance(error, dict) else None
            raise PermanentSendError(
                f"Acme SMS refused the message (HTTP {status}): {reason or 'no reason given'}"
            )
        return SendResult(channel_message_ids=(str(answer["id"]),) if "id" in answer else ())


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Retry-After is either seconds or an HTTP date; `now` is the context's clock, so tests can fix it."""
    value = response.headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - now).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """Acme's answer as documented (a JSON object), or {} when a proxy answered something else."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
