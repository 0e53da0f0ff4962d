"""The example connector's own tests, as its authors would ship them: the contract kit, then sending over respx."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import httpx
import pytest
import respx
from acme_sms import AcmeSmsConnector
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import (
    ConnectorContext,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
)
from connectors.testing import ConnectorContract, ContractProfile, load_profile, make_context, raw_request
from normalizer import IdentityKind, IdentityRef


class TestAcmeSmsContract(ConnectorContract):
    @pytest.fixture
    def profile(self) -> ContractProfile:
        return load_profile(AcmeSmsConnector)


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
)
WEBHOOK_SHAPED = st.fixed_dictionaries(
    {
        "id": st.text(),
        "from": st.text(),
        "text": st.text(),
        "received_at": st.sampled_from(["2026-11-02T09:30:00Z", "2026-11-02T09:30:00", "yesterday"]),
    }
)


@given(body=st.binary() | (ANY_JSON | WEBHOOK_SHAPED).map(lambda value: json.dumps(value).encode()))
def test_parse_refuses_what_it_cannot_read_and_never_crashes(body: bytes) -> None:
    """The kit's garbage never gets past the signature check, so parse is fuzzed here directly."""
    with contextlib.suppress(MalformedPayload):
        load_profile(AcmeSmsConnector).build().parse(raw_request(body))


MESSAGES_URL = "https://api.acme-sms.example/v1/messages"
CUSTOMER = IdentityRef(IdentityKind.PHONE, "+14155550100", verified=True)
NOW = datetime(2026, 11, 2, 9, 31, tzinfo=UTC)


def reply(text: str = "It ships today.", recipient: IdentityRef = CUSTOMER) -> OutboundMessage:
    return OutboundMessage(message_id="msg-7", conversation_id="conv-1", recipient=recipient, text=text)


@pytest.fixture
def connector() -> AcmeSmsConnector:
    return load_profile(AcmeSmsConnector).build()


@pytest.fixture
async def context():
    """The context the hub would inject, with its clock fixed so Retry-After dates give exact delays."""
    async with httpx.AsyncClient() as http:
        yield make_context(http, now=lambda: NOW)


@respx.mock
async def test_send_posts_the_reply_with_the_api_key(
    connector: AcmeSmsConnector, context: ConnectorContext
) -> None:
    sent = respx.post(MESSAGES_URL).respond(201, json={"id": "SM9a01", "status": "queued"})

    result = await connector.send(reply(), context)

    assert result.channel_message_ids == ("SM9a01",)
    request = sent.calls.last.request
    assert request.headers["authorization"] == "Bearer acme_live_4f9c2e7b1d8a6053"
    assert request.headers["idempotency-key"] == "msg-7"
    assert json.loads(request.content) == {
        "from": "+14155550199",
        "to": "+14155550100",
        "text": "It ships today.",
    }


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        ("120", 120.0),
        ("Mon, 02 Nov 2026 09:33:00 GMT", 120.0),
        ("Mon, 02 Nov 2026 09:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
@respx.mock
async def test_rate_limits_are_retried_when_acme_says(
    connector: AcmeSmsConnector, context: ConnectorContext, retry_after: str, delay: float | None
) -> None:
    respx.post(MESSAGES_URL).respond(429, headers={"Retry-After": retry_after})

    with pytest.raises(TransientSendError) as rate_limited:
        await connector.send(reply(), context)

    assert rate_limited.value.retry_after == delay


@respx.mock
async def test_a_refusal_fails_with_acmes_reason(
    connector: AcmeSmsConnector, context: ConnectorContext
) -> None:
    respx.post(MESSAGES_URL).respond(
        400, json={"error": {"code": "landline", "message": "+14155550100 cannot receive SMS."}}
    )

    with pytest.raises(PermanentSendError) as refused:
        await connector.send(reply(), context)

    assert refused.value.reason == "Acme SMS refused the message (HTTP 400): +14155550100 cannot receive SMS."


@pytest.mark.parametrize(
    "outbound",
    [reply("x" * 1601), reply(recipient=IdentityRef(IdentityKind.EMAIL, "ming@example.com"))],
    ids=["too long for an SMS", "not a phone number"],
)
@respx.mock
async def test_replies_sms_cannot_carry_fail_without_calling_acme(
    connector: AcmeSmsConnector, context: ConnectorContext, outbound: OutboundMessage
) -> None:
    with pytest.raises(PermanentSendError):
        await connector.send(outbound, context)

    assert not respx.calls
