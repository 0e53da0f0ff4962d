"""The example connector inside a running hub: a signed text comes in, an agent's reply goes out through Acme."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx
from acme_sms import AcmeSmsConnector
from acme_sms.contract import CUSTOMER_NUMBER, signed_headers, webhook_body
from litestar.testing import TestClient

from tests.conftest import bearer, wait_for

SETTINGS = {
    "sender_number": "+14155550199",
    "api_key": "acme_test_key_0123456789",
    "webhook_secret": "whsec_test_0123456789abcdef",
    "api_base_url": "https://gateway.acme-sms.test",
}


@pytest.fixture
def api(demo: dict[str, Any]) -> dict[str, str]:
    return bearer(demo["api_token"])


@pytest.fixture
def acme_inbox(client: TestClient, api: dict[str, str]) -> dict[str, Any]:
    """An Acme SMS inbox, connected the way an admin does once the distribution is installed."""
    client.app.state.hub.registry.register(AcmeSmsConnector)
    created = client.post(
        "/api/v1/inboxes", headers=api, json={"kind": "acme_sms", "name": "Support SMS", "settings": SETTINGS}
    )
    assert created.status_code == 201, created.text
    return created.json()


@pytest.fixture
def gateway() -> Iterator[respx.Router]:
    with respx.mock(base_url=SETTINGS["api_base_url"]) as router:
        yield router


def deliver(
    client: TestClient, inbox: dict[str, Any], body: bytes, secret: str = SETTINGS["webhook_secret"]
) -> httpx.Response:
    """Post `body` to the inbox's callback URL as Acme does, signed now (the hub checks it against its own clock)."""
    headers = {"content-type": "application/json", **signed_headers(body, secret, datetime.now(UTC))}
    return client.post(urlsplit(inbox["callback_url"]).path, content=body, headers=headers)


def conversation_of(client: TestClient, api: dict[str, str], inbox: dict[str, Any]) -> dict[str, Any]:
    """The inbox's one conversation, once the worker has stored the customer's text."""
    listed = wait_for(
        lambda: client.get("/api/v1/conversations", headers=api, params={"inbox_id": inbox["id"]}).json()[
            "items"
        ]
    )
    [conversation] = listed
    return conversation


def messages_of(client: TestClient, api: dict[str, str], conversation_id: str) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=api).json()["items"]


def reply_and_wait_for(
    client: TestClient, api: dict[str, str], conversation_id: str, text: str, status: str
) -> dict[str, Any]:
    """Send an agent's reply and wait until its delivery reaches `status`."""
    reply = client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=api, json={"text": text})
    assert reply.status_code == 201, reply.text

    def reached() -> dict[str, Any] | None:
        stored = next(m for m in messages_of(client, api, conversation_id) if m["id"] == reply.json()["id"])
        return stored if stored["status"] == status else None

    return wait_for(reached)


def test_a_text_reaches_an_agent_and_the_reply_goes_out_through_acme(
    client: TestClient, api: dict[str, str], acme_inbox: dict[str, Any], gateway: respx.Router
) -> None:
    sent = gateway.post("/v1/messages").respond(201, json={"id": "SM9a01", "status": "queued"})
    question = webhook_body("SM8f2c41", "Where is my order?")

    assert deliver(client, acme_inbox, question).status_code == 200
    assert deliver(client, acme_inbox, question).status_code == 200, "Acme's retry is acknowledged too"

    conversation = conversation_of(client, api, acme_inbox)
    detail = client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()
    assert detail["channel"] == "acme_sms"
    assert detail["identity"] == {"kind": "phone", "value": CUSTOMER_NUMBER, "scope": ""}
    assert detail["reply_format"] == {"subject": None, "billed_per_sms_segment": True}, (
        "the composer counts segments"
    )
    reply = reply_and_wait_for(client, api, conversation["id"], "It ships today.", "sent")

    assert [(m["direction"], m["text"]) for m in messages_of(client, api, conversation["id"])] == [
        ("in", "Where is my order?"),
        ("out", "It ships today."),
    ]
    assert sent.call_count == 1
    request = sent.calls.last.request
    assert request.headers["authorization"] == f"Bearer {SETTINGS['api_key']}"
    assert request.headers["idempotency-key"] == reply["id"]
    assert json.loads(request.content) == {
        "from": "+14155550199",
        "to": CUSTOMER_NUMBER,
        "text": "It ships today.",
    }


def test_acmes_refusal_is_shown_on_the_failed_reply(
    client: TestClient, api: dict[str, str], acme_inbox: dict[str, Any], gateway: respx.Router
) -> None:
    gateway.post("/v1/messages").respond(
        400, json={"error": {"code": "landline", "message": "The number cannot receive SMS."}}
    )
    assert deliver(client, acme_inbox, webhook_body("SM8f2c41", "Where is my order?")).status_code == 200
    conversation = conversation_of(client, api, acme_inbox)

    failed = reply_and_wait_for(client, api, conversation["id"], "It ships today.", "failed")

    assert failed["error"] == "Acme SMS refused the message (HTTP 400): The number cannot receive SMS."


def test_a_forged_text_is_refused_and_stores_nothing(
    client: TestClient, api: dict[str, str], acme_inbox: dict[str, Any]
) -> None:
    """The genuine text reuses the forgery's message id: a stored forgery would have made it a dropped duplicate."""
    forged = deliver(
        client,
        acme_inbox,
        webhook_body("SM8f2c41", "Send my refund to account 12345"),
        secret="whsec_guessed_by_someone_else",
    )
    assert forged.status_code == 403
    assert forged.json()["code"] == "signature_invalid"

    assert deliver(client, acme_inbox, webhook_body("SM8f2c41", "Where is my order?")).status_code == 200

    conversation = conversation_of(client, api, acme_inbox)
    assert [m["text"] for m in messages_of(client, api, conversation["id"])] == ["Where is my order?"]
