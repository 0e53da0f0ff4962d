"""The Twilio SMS connector on its own: what it reads from Twilio's webhooks and what it asks of Twilio's API (respx)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
import respx

from connectors.base import (
    DeliveryReport,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
)
from connectors.sms import TwilioSmsConnector
from connectors.sms.contract import WEBHOOK_URL
from connectors.sms.settings import TwilioSmsSettings
from connectors.sms.testing import ACCOUNT_SID, CUSTOMER, inbound_form, signed_request, valid_settings
from connectors.testing import TEST_INBOX, make_context
from normalizer import Attachment, IdentityKind, IdentityRef

SID = "SM" + "a" * 32
MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'b' * 32}/Media/ME{'c' * 32}"
MESSAGES_API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SERVICE = "MG" + "3" * 32


def connector(**changes: str) -> TwilioSmsConnector:
    return TwilioSmsConnector(TwilioSmsSettings.model_validate({**valid_settings(), **changes}), TEST_INBOX)


def received(body: bytes, form: dict[str, str] | None = None, **changes):
    """A request signed over `form` whose body is `body` as sent (Twilio signs the decoded values)."""
    return replace(signed_request(WEBHOOK_URL, form or {}, body=body), **changes)


def test_a_text_becomes_a_message_from_the_phone_number_in_e164() -> None:
    sms = connector()
    raw = signed_request(WEBHOOK_URL, inbound_form(SID, "Hi ¿qué tal? 你好 😀"))
    sms.verify(raw)
    [message] = sms.parse(raw)
    assert message.channel_message_id == SID and message.text == "Hi ¿qué tal? 你好 😀"
    assert message.sender == IdentityRef(IdentityKind.PHONE, CUSTOMER, verified=True)
    assert sms.delivery_reports(raw) is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"Body=%FF%FE&From=%2B14155550123&MessageSid=" + SID.encode(), "not URL-encoded UTF-8"),
        ("Body=你好&From=%2B14155550123&MessageSid=".encode() + SID.encode(), "not URL-encoded UTF-8"),
        ("Body=你好".encode("gbk"), "not URL-encoded UTF-8"),
        (b"Body=a&Body=b&From=%2B14155550123&MessageSid=" + SID.encode(), "repeats the field 'Body'"),
        (b"Body=a%00b&From=%2B14155550123&MessageSid=" + SID.encode(), "NUL"),
        (b"x" * 70000, "larger than 65536"),
    ],
    ids=["invalid_utf8_escapes", "raw_utf8_bytes", "gbk_bytes", "repeated_field", "nul", "oversized"],
)
def test_odd_charsets_and_shapes_are_refused_as_malformed(body: bytes, said: str) -> None:
    with pytest.raises(MalformedPayload, match=said):
        connector().parse(received(body))


def test_a_signed_body_that_is_no_form_is_malformed_not_forged() -> None:
    """The signature covers what Twilio meant; what we cannot read is our 400, never a 403 blaming the sender."""
    form = inbound_form(SID, "hi")
    raw = signed_request(WEBHOOK_URL, form, content_type="text/plain")
    connector().verify(raw)
    with pytest.raises(MalformedPayload, match="expected a form"):
        connector().parse(raw)


async def test_mms_media_is_copied_into_the_hub_and_kept_as_a_reference_when_it_cannot_be() -> None:
    sms = connector()
    form = inbound_form("MM" + "b" * 32, "", NumMedia="2", MediaUrl0=MEDIA, MediaContentType0="image/jpeg")
    form |= {"MediaUrl1": MEDIA + "2", "MediaContentType1": "application/pdf"}
    [message] = sms.parse(signed_request(WEBHOOK_URL, form))
    assert [attachment.kind for attachment in message.attachments] == ["image", "file"]
    assert message.content_type == "image" and message.attachments[0].meta == {"channel_url": MEDIA}
    async with respx.mock() as router, httpx.AsyncClient() as http:
        router.get(MEDIA).respond(200, content=b"\xff\xd8jpeg", headers={"content-type": "image/jpeg"})
        router.get(MEDIA + "2").respond(404)
        enriched = await sms.enrich(message, make_context(http))
    image, pdf = enriched.attachments
    assert image.url and image.url.startswith("https://hub.example.test/attachments/") and image.size == 6
    assert pdf.url is None and pdf.meta["channel_url"] == MEDIA + "2"
    assert "HTTP 404" in pdf.meta["download_error"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"MessageStatus": "delivered"}, [DeliveryReport(SID, "delivered", None, "m-7")]),
        ({"MessageStatus": "sent"}, [DeliveryReport(SID, "sent", None, "m-7")]),
        ({"MessageStatus": "queued"}, []),
        ({"MessageStatus": "sending"}, []),
        (
            {"MessageStatus": "undelivered", "ErrorCode": "30007"},
            [
                DeliveryReport(
                    SID, "failed", "The carrier filtered the message as spam (Twilio error 30007)", "m-7"
                )
            ],
        ),
        (
            {"MessageStatus": "failed", "ErrorCode": "39999"},
            [DeliveryReport(SID, "failed", "Twilio reports the SMS failed (error 39999)", "m-7")],
        ),
    ],
    ids=["delivered", "sent", "queued", "sending", "undelivered_known_code", "failed_unknown_code"],
)
def test_status_callbacks_become_delivery_reports(
    fields: dict[str, str], expected: list[DeliveryReport]
) -> None:
    url = f"{WEBHOOK_URL}/status?message_id=m-7"
    form = {"MessageSid": SID, "AccountSid": ACCOUNT_SID, **fields}
    raw = replace(signed_request(url, form, sub_path="status"), query={"message_id": "m-7"})
    connector().verify(raw)
    assert connector().delivery_reports(raw) == expected


def test_a_status_callback_without_a_status_is_malformed() -> None:
    raw = signed_request(f"{WEBHOOK_URL}/status", {"MessageSid": SID}, sub_path="status")
    with pytest.raises(MalformedPayload, match="no MessageStatus"):
        connector().delivery_reports(raw)


def test_no_other_sub_path_carries_messages() -> None:
    with pytest.raises(MalformedPayload, match="no Twilio hook"):
        connector().parse(signed_request(f"{WEBHOOK_URL}/x", inbound_form(SID, "hi"), sub_path="x"))


def outbound(text: str = "Hello", **changes) -> OutboundMessage:
    recipient = IdentityRef(IdentityKind.PHONE, CUSTOMER, verified=True)
    return OutboundMessage(message_id="m-1", conversation_id="c-1", recipient=recipient, text=text, **changes)


async def send(sms: TwilioSmsConnector, message: OutboundMessage, answer: httpx.Response) -> respx.Route:
    async with respx.mock() as router, httpx.AsyncClient() as http:
        route = router.post(MESSAGES_API).mock(return_value=answer)
        await sms.send(message, make_context(http))
    return route


async def test_a_messaging_service_sends_in_place_of_the_number() -> None:
    route = await send(
        connector(messaging_service_sid=SERVICE), outbound(), httpx.Response(201, json={"sid": SID})
    )
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["MessagingServiceSid"] == [SERVICE] and "From" not in form
    assert form["StatusCallback"] == [f"{WEBHOOK_URL}/status?{urlencode({'message_id': 'm-1'})}"]


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (outbound("x" * 1601), "at most 1600"),
        (outbound("  "), "no text"),
        (outbound(attachments=(Attachment("image", url="https://hub.example.test/a.png"),)), "text only"),
        (replace(outbound(), recipient=IdentityRef(IdentityKind.EMAIL, "li@example.com")), "no phone number"),
    ],
    ids=["too_long", "blank", "attachment", "not_a_phone"],
)
async def test_replies_sms_cannot_carry_fail_before_calling_twilio(
    message: OutboundMessage, said: str
) -> None:
    with pytest.raises(PermanentSendError, match=said):
        await connector().send(message, make_context(httpx.AsyncClient()))


async def test_twilios_rate_limit_is_retried_when_it_says() -> None:
    answer = httpx.Response(
        429, headers={"Retry-After": "7"}, json={"code": 20429, "message": "Too Many Requests"}
    )
    with pytest.raises(TransientSendError) as transient:
        await send(connector(), outbound(), answer)
    assert transient.value.retry_after == 7.0


async def test_refused_credentials_fail_the_reply_with_what_to_check() -> None:
    with pytest.raises(PermanentSendError, match="Account SID and Auth Token"):
        await send(connector(), outbound(), httpx.Response(401, json={"code": 20003}))
