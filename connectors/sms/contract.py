"""Twilio SMS fixtures for the connector contract kit: Messaging webhooks signed with the account's Auth Token."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import httpx
import respx

from connectors.base import OutboundMessage
from connectors.sms.connector import TwilioSmsConnector
from connectors.sms.testing import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    inbound_form,
    signed_request,
    valid_settings,
)
from connectors.testing import TEST_INBOX, ContractProfile, raw_request
from normalizer import IdentityKind, IdentityRef

__all__ = ["WEBHOOK_URL", "profile"]

WEBHOOK_URL = f"{TEST_INBOX.public_url}/webhooks/twilio_sms/{TEST_INBOX.id}"
_SID = "SM" + "a" * 32


def _account_found(router: respx.Router) -> None:
    router.get(
        url__regex=r"https://api\.twilio\.com/2010-04-01/Accounts/AC[0-9a-f]+\.json"
    ).return_value = httpx.Response(200, json={"sid": ACCOUNT_SID, "status": "active"})


def profile() -> ContractProfile:
    settings = valid_settings()
    return ContractProfile(
        connector=TwilioSmsConnector,
        valid_settings=settings,
        invalid_settings=[
            ({**settings, "account_sid": "AC123"}, "account_sid"),
            ({**settings, "auth_token": "not-hex"}, "auth_token"),
            ({**settings, "from_number": "4155550100"}, "from_number"),
            ({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}, "messaging_service_sid"),
            ({**settings, "messaging_service_sid": "MG12"}, "messaging_service_sid"),
            ({**settings, "api_base_url": "ftp://api.twilio.com"}, "api_base_url"),
        ],
        inbound_requests=[
            signed_request(WEBHOOK_URL, inbound_form(_SID, "Where is my order? 我的订单在哪里？")),
            signed_request(
                WEBHOOK_URL,
                inbound_form(
                    "MM" + "b" * 32,
                    "",
                    NumMedia="1",
                    MediaUrl0=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'b' * 32}/Media/ME{'c' * 32}",
                    MediaContentType0="image/jpeg",
                ),
            ),
        ],
        forged_requests=[
            signed_request(WEBHOOK_URL, inbound_form(_SID, "hi"), token="0" * 32),
            signed_request(
                WEBHOOK_URL, inbound_form(_SID, "hi"), body=urlencode(inbound_form(_SID, "hello")).encode()
            ),
            replace(
                signed_request("https://elsewhere.example.test/sms", inbound_form(_SID, "hi")),
                url=WEBHOOK_URL,
            ),
            raw_request(urlencode(inbound_form(_SID, "hi")), url=WEBHOOK_URL),
            signed_request(WEBHOOK_URL, inbound_form(_SID, "hi", AccountSid="AC" + "2" * 32)),
        ],
        malformed_requests=[
            signed_request(WEBHOOK_URL, {k: v for k, v in inbound_form(_SID, "hi").items() if k != "From"}),
            signed_request(WEBHOOK_URL, inbound_form(_SID, "hi", From="not a number")),
            signed_request(WEBHOOK_URL, inbound_form("SM-bad", "hi")),
            signed_request(WEBHOOK_URL, inbound_form(_SID, "x" * 1601)),
            signed_request(WEBHOOK_URL, inbound_form(_SID, "hi"), content_type="application/json"),
            signed_request(WEBHOOK_URL, inbound_form(_SID, "", NumMedia="0")),
        ],
        secret_fields=("auth_token",),
        sample_outbound=OutboundMessage(
            message_id="m-1",
            conversation_id="c-1",
            recipient=IdentityRef(IdentityKind.PHONE, CUSTOMER, verified=True),
            text="Your order shipped. 您的订单已发货。",
        ),
        send_url=r"https://api\.twilio\.com/2010-04-01/Accounts/AC[0-9a-f]+/Messages\.json",
        send_success=lambda: httpx.Response(201, json={"sid": "SM" + "d" * 32, "status": "queued"}),
        prepare_mocks=_account_found,
        credentials_url=r"https://api\.twilio\.com/2010-04-01/Accounts/AC[0-9a-f]+\.json",
        refused_credentials=[
            (lambda: httpx.Response(401, json={"code": 20003, "message": "Authenticate"}), "auth_token"),
            (lambda: httpx.Response(404, json={"code": 20404, "message": "Not found"}), "account_sid"),
        ],
    )
