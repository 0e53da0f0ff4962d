"""Twilio's side of the tests: webhook requests signed as Twilio signs them."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from connectors.base import RawRequest
from connectors.testing import raw_request

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "CUSTOMER",
    "FROM_NUMBER",
    "inbound_form",
    "signed_request",
    "valid_settings",
]

ACCOUNT_SID = "AC" + "1f" * 16
AUTH_TOKEN = "5d41402abc4b2a76b9719d911017c592"
FROM_NUMBER = "+14155550100"
CUSTOMER = "+14155550123"


def valid_settings() -> dict[str, str]:
    return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER}


def signed_request(
    url: str,
    form: dict[str, str] | None = None,
    *,
    body: bytes | None = None,
    token: str = AUTH_TOKEN,
    sub_path: str = "",
    received_at: datetime | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> RawRequest:
    """A POST of `form` (or of `body` as is, signed over the form Twilio would have posted) signed with `token`."""
    fields = form or {}
    signature = RequestValidator(token).compute_signature(url, fields)
    return raw_request(
        body if body is not None else urlencode(fields).encode(),
        url=url,
        sub_path=sub_path,
        headers={"X-Twilio-Signature": signature, "Content-Type": content_type},
        received_at=received_at,
    )


def inbound_form(sid: str, text: str, **extra: str) -> dict[str, str]:
    """A Messaging webhook's fields as Twilio documents them."""
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": text,
        "To": FROM_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": CUSTOMER,
        "ApiVersion": "2010-04-01",
        **extra,
    }
