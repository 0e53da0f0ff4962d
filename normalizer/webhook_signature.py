"""Signatures of the hub's outgoing webhooks, in the Standard Webhooks form, so receivers can use that
specification's libraries: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`. One pure function for every outgoing event (bot webhooks, CRM subscriptions).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["signed_webhook_headers", "verify_webhook_signature", "webhook_signature"]


def webhook_signature(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` and the base64 HMAC-SHA256 under `secret` of `message_id.timestamp.body`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def signed_webhook_headers(secret: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers that sign one delivery; `timestamp` is in seconds since the epoch (UTC)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(secret, message_id, timestamp, body),
    }


def verify_webhook_signature(
    secret: bytes, message_id: str, timestamp: int, body: bytes, signature_header: str
) -> bool:
    """Whether any of the space-separated signatures of `signature_header` is this body's, compared in constant time."""
    expected = webhook_signature(secret, message_id, timestamp, body).encode()
    return any(hmac.compare_digest(candidate.encode(), expected) for candidate in signature_header.split())
