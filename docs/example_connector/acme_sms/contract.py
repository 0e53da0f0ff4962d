"""Acme SMS fixtures for the connector contract kit, with the signing helpers tests need to play Acme."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from acme_sms.connector import SIGNATURE_HEADER, TIMESTAMP_HEADER, AcmeSmsConnector, webhook_signature
from connectors.base import OutboundMessage, RawRequest
from connectors.testing import ContractProfile, raw_request
from normalizer import IdentityKind, IdentityRef

__all__ = ["CUSTOMER_NUMBER", "SETTINGS", "profile", "signed_headers", "webhook_body"]

SETTINGS = {
    "sender_number": "+14155550199",
    "api_key": "acme_live_4f9c2e7b1d8a6053",
    "webhook_secret": "whsec_0b7e41c9a3f25d68e1",
}
CUSTOMER_NUMBER = "+14155550100"
RECEIVED_AT = datetime(2026, 11, 2, 9, 30, 1, tzinfo=UTC)


def webhook_body(
    message_id: str, text: str, *, sender: str = CUSTOMER_NUMBER, sent_at: str = "2026-11-02T09:30:00Z"
) -> bytes:
    """A message webhook as Acme documents it."""
    return json.dumps(
        {
            "id": message_id,
            "from": sender,
            "to": SETTINGS["sender_number"],
            "text": text,
            "received_at": sent_at,
        }
    ).encode()


def signed_headers(body: bytes, secret: str, signed_at: datetime) -> dict[str, str]:
    """The headers Acme sends with `body`, signed at `signed_at`."""
    timestamp = str(int(signed_at.timestamp()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: webhook_signature(secret, timestamp, body)}


def _delivery(
    body: bytes,
    *,
    signed_body: bytes | None = None,
    secret: str = SETTINGS["webhook_secret"],
    signed_at: datetime = RECEIVED_AT,
) -> RawRequest:
    """`body` as the hub receives it at RECEIVED_AT, with headers signing `signed_body` (by default `body`)."""
    headers = signed_headers(body if signed_body is None else signed_body, secret, signed_at)
    return raw_request(body, headers=headers, received_at=RECEIVED_AT)


def profile() -> ContractProfile:
    question = webhook_body("SM8f2c41", "Where is my order?")
    return ContractProfile(
        connector=AcmeSmsConnector,
        valid_settings=SETTINGS,
        invalid_settings=[
            ({**SETTINGS, "sender_number": "4155550199"}, "sender_number"),
            ({**SETTINGS, "webhook_secret": "short"}, "webhook_secret"),
            ({**SETTINGS, "api_base_url": "not a url"}, "api_base_url"),
            ({**SETTINGS, "replay_window_seconds": 86400}, "replay_window_seconds"),
        ],
        inbound_requests=[
            _delivery(question),
            _delivery(webhook_body("SM8f2c42", "我的订单什么时候到？")),
        ],
        forged_requests=[
            raw_request(question, received_at=RECEIVED_AT),
            _delivery(question, secret="whsec_guessed_by_someone_else"),
            _delivery(question.replace(b"order", b"refund"), signed_body=question),
            _delivery(question, signed_at=RECEIVED_AT - timedelta(minutes=10)),
        ],
        malformed_requests=[
            _delivery(b"not json"),
            _delivery(json.dumps({"id": "SM8f2c43", "text": "no sender"}).encode()),
            _delivery(webhook_body("SM8f2c44", "hi", sender="not a number")),
            _delivery(webhook_body("SM8f2c45", "hi", sent_at="2026-11-02T09:30:00")),
        ],
        secret_fields=("api_key", "webhook_secret"),
        sample_outbound=OutboundMessage(
            message_id="msg-1",
            conversation_id="conv-1",
            recipient=IdentityRef(IdentityKind.PHONE, CUSTOMER_NUMBER, verified=True),
            text="It ships today.",
        ),
        send_url=r"^https://api\.acme-sms\.example/v1/messages$",
        send_success=lambda: httpx.Response(201, json={"id": "SM9a01", "status": "queued"}),
    )
