"""Twilio SMS through the running app: an inbox created through the API (Twilio's account check mocked with respx),
signed Messaging webhooks in, replies out through the Messages API, status callbacks moving the replies on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import respx
from sqlalchemy.exc import OperationalError
from sqlmodel import col, func, select

from connectors import DeliveryReport
from connectors.sms.testing import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    inbound_form,
    signed_request,
    valid_settings,
)
from hub.delivery_reports import apply_delivery_reports
from hub.models import Inbox, OutboxEvent
from hub.runtime import Hub
from tests.conftest import bearer, run, wait_for

API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
SID_1 = "SM" + "1" * 32
REPLY_SID = "SM" + "9" * 32


@pytest.fixture
def twilio():
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{API}.json", name="account").respond(json={"sid": ACCOUNT_SID, "status": "active"})
        router.post(f"{API}/Messages.json", name="send").respond(
            201, json={"sid": REPLY_SID, "status": "queued"}
        )
        yield router


@pytest.fixture
def sms_inbox(client, demo, twilio) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/inboxes",
        json={"kind": "twilio_sms", "name": "Support SMS", "settings": valid_settings()},
        headers=bearer(demo["api_token"]),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def post_signed(client, url: str, form: dict[str, str], *, token: str = AUTH_TOKEN, **headers: str):
    raw = signed_request(url, form, token=token)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    sent = {**dict(raw.headers), **{name.lower(): value for name, value in headers.items()}}
    return client.post(path, content=raw.body, headers={name: value for name, value in sent.items() if value})


def conversations(client, demo, inbox_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/conversations?inbox_id={inbox_id}", headers=bearer(demo["api_token"]))
    return answer.json()["items"]


def messages(client, demo, conversation_id: str) -> list[dict[str, Any]]:
    return client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(demo["api_token"])
    ).json()["items"]


def test_the_inbox_shows_the_urls_to_paste_into_twilio_and_never_the_auth_token(client, demo, sms_inbox):
    webhook = f"http://testserver.local/webhooks/twilio_sms/{sms_inbox['id']}"
    assert sms_inbox["inbound_webhook_url"] == webhook
    assert sms_inbox["status_callback_url"] == f"{webhook}/status"
    assert AUTH_TOKEN not in str(sms_inbox)


def test_a_text_in_is_stored_once_however_often_twilio_retries_it(client, demo, sms_inbox):
    url = sms_inbox["inbound_webhook_url"]
    for _ in range(2):
        answer = post_signed(client, url, inbound_form(SID_1, "Where is my order? 我的订单在哪里？"))
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/xml")
        assert answer.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    [conversation] = wait_for(lambda: conversations(client, demo, sms_inbox["id"]))
    [incoming] = wait_for(lambda: messages(client, demo, conversation["id"]))
    assert incoming["text"] == "Where is my order? 我的订单在哪里？"
    detail = client.get(
        f"/api/v1/conversations/{conversation['id']}", headers=bearer(demo["api_token"])
    ).json()
    assert detail["identity"]["kind"] == "phone" and detail["identity"]["value"] == CUSTOMER
    assert detail["reply_format"] == {"subject": None, "billed_per_sms_segment": True}, (
        "the composer counts segments"
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"token": "0" * 32}, "X-Twilio-Signature does not match"),
        ({"X-Twilio-Signature": ""}, "no X-Twilio-Signature"),
    ],
    ids=["wrong_token", "missing_signature"],
)
def test_a_request_twilio_did_not_sign_is_refused_and_stores_nothing(
    client, demo, sms_inbox, change: dict[str, str], said: str
):
    url = sms_inbox["inbound_webhook_url"]
    answer = post_signed(client, url, inbound_form(SID_1, "forged"), **change)
    assert answer.status_code == 403
    assert answer.json()["code"] == "signature_invalid" and said in answer.json()["detail"]
    assert conversations(client, demo, sms_inbox["id"]) == []


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({key: value for key, value in inbound_form(SID_1, "hi").items() if key != "From"}, "no From"),
        (inbound_form(SID_1, "hi", From="alice"), "From"),
        (inbound_form(SID_1, "x" * 1601), "longer than 1600"),
        (inbound_form(SID_1, "hi", NumMedia="many"), "NumMedia"),
    ],
    ids=["missing_from", "from_not_a_number", "oversized_body", "bad_media_count"],
)
def test_a_signed_but_malformed_form_is_refused_with_400(client, demo, sms_inbox, form, said):
    answer = post_signed(client, sms_inbox["inbound_webhook_url"], form)
    assert answer.status_code == 400 and said in answer.json()["detail"]
    assert conversations(client, demo, sms_inbox["id"]) == []


def reply(client, demo, sms_inbox, text: str) -> dict[str, Any]:
    post_signed(client, sms_inbox["inbound_webhook_url"], inbound_form(SID_1, "hello"))
    [conversation] = wait_for(lambda: conversations(client, demo, sms_inbox["id"]))
    answer = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": text},
        headers=bearer(demo["api_token"]),
    )
    assert answer.status_code in (200, 201, 202), answer.text
    return {"conversation": conversation, "message": answer.json()}


def message_row(client, demo, conversation_id: str, message_id: str) -> dict[str, Any]:
    return next(row for row in messages(client, demo, conversation_id) if row["id"] == message_id)


def test_a_reply_goes_out_through_the_messages_api_and_status_callbacks_move_it_on(
    client, demo, sms_inbox, twilio
):
    sent = reply(client, demo, sms_inbox, "Your parcel left today. 您的包裹今天发出。")
    conversation_id, message_id = sent["conversation"]["id"], sent["message"]["id"]
    wait_for(lambda: message_row(client, demo, conversation_id, message_id)["status"] == "sent")
    [call] = twilio["send"].calls
    assert call.request.headers["authorization"].startswith("Basic ")
    form = {name: values[0] for name, values in parse_qs(call.request.content.decode()).items()}
    assert form["To"] == CUSTOMER and form["From"] == valid_settings()["from_number"]
    assert form["Body"] == "Your parcel left today. 您的包裹今天发出。"
    status_url = form["StatusCallback"]
    assert status_url == f"{sms_inbox['status_callback_url']}?{urlencode({'message_id': message_id})}"

    status = {"MessageSid": REPLY_SID, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert post_signed(client, status_url, status).status_code == 200
    assert message_row(client, demo, conversation_id, message_id)["status"] == "delivered"
    late = {**status, "MessageStatus": "sent"}
    assert post_signed(client, status_url, late).status_code == 200
    assert message_row(client, demo, conversation_id, message_id)["status"] == "delivered"


def test_an_undelivered_reply_fails_with_a_reason_an_agent_can_read(client, demo, sms_inbox, twilio):
    sent = reply(client, demo, sms_inbox, "Are you there?")
    conversation_id, message_id = sent["conversation"]["id"], sent["message"]["id"]
    wait_for(lambda: message_row(client, demo, conversation_id, message_id)["status"] == "sent")
    status = {
        "MessageSid": REPLY_SID,
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "AccountSid": ACCOUNT_SID,
    }
    assert post_signed(client, sms_inbox["status_callback_url"], status).status_code == 200
    row = message_row(client, demo, conversation_id, message_id)
    assert row["status"] == "failed" and "unreachable" in row["error"] and "30003" in row["error"]


def test_a_forged_status_callback_changes_nothing(client, demo, sms_inbox, twilio):
    sent = reply(client, demo, sms_inbox, "Hello")
    conversation_id, message_id = sent["conversation"]["id"], sent["message"]["id"]
    wait_for(lambda: message_row(client, demo, conversation_id, message_id)["status"] == "sent")
    status = {"MessageSid": REPLY_SID, "MessageStatus": "failed", "AccountSid": ACCOUNT_SID}
    answer = post_signed(client, sms_inbox["status_callback_url"], status, token="0" * 32)
    assert answer.status_code == 403
    assert message_row(client, demo, conversation_id, message_id)["status"] == "sent"


def test_a_reply_to_an_unsubscribed_number_fails_with_twilios_reason(client, demo, sms_inbox, twilio):
    twilio["send"].return_value = httpx.Response(
        400,
        json={
            "code": 21610,
            "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610",
            "status": 400,
        },
    )
    sent = reply(client, demo, sms_inbox, "Hello")
    conversation_id, message_id = sent["conversation"]["id"], sent["message"]["id"]
    row = wait_for(
        lambda: (
            (found := message_row(client, demo, conversation_id, message_id))["status"] == "failed" and found
        )
    )
    assert "unsubscribed" in row["error"] and "STOP" in row["error"] and "21610" in row["error"]
    assert len(twilio["send"].calls) == 1, "a refusal is not retried"


@pytest.mark.parametrize(("reported", "kept"), [("delivered", "delivered"), ("undelivered", "failed")])
def test_a_status_callback_that_beats_the_sends_answer_is_not_overwritten_by_it(
    client, demo, settings, sms_inbox, twilio, reported: str, kept: str
):
    """Twilio may call the status callback before the hub has recorded Twilio's answer to the send: the callback
    finds the reply by the message id in its URL, and the send's `sent` recorded afterwards does not undo it, nor tells
    the agents a second time that it failed."""

    async def report_then_answer(request: httpx.Request) -> httpx.Response:
        """In a thread, so the worker's loop (and any transaction it holds) carries on meanwhile."""
        callback = parse_qs(request.content.decode())["StatusCallback"][0]
        status = {
            "MessageSid": REPLY_SID,
            "MessageStatus": reported,
            "ErrorCode": "30005",
            "AccountSid": ACCOUNT_SID,
        }
        answer = await asyncio.to_thread(post_signed, client, callback, status)
        assert answer.status_code == 200, answer.text
        return httpx.Response(201, json={"sid": REPLY_SID, "status": "queued"})

    twilio["send"].side_effect = report_then_answer
    sent = reply(client, demo, sms_inbox, "Hello")
    conversation_id, message_id = sent["conversation"]["id"], sent["message"]["id"]
    wait_for(
        lambda: (
            twilio["send"].calls
            and message_row(client, demo, conversation_id, message_id)["status"] != "pending"
        )
    )
    row = message_row(client, demo, conversation_id, message_id)
    assert row["status"] == kept
    if kept == "failed":
        assert "unknown to its carrier" in row["error"]
    assert events_of(settings, message_id, "message.failed") == (1 if kept == "failed" else 0)


def events_of(settings, message_id: str, event_type: str) -> int:
    """How many events of `event_type` the hub recorded for the message (each reaches the agents once)."""

    async def count(hub: Hub) -> int:
        async with hub.database.session() as session:
            statement = select(func.count()).where(
                col(OutboxEvent.event_type) == event_type, col(OutboxEvent.subject_id) == message_id
            )
            return (await session.exec(statement)).one()

    return run(count, settings)


@pytest.fixture
def database_outage(client, monkeypatch) -> Iterator[Any]:
    """Calling the fixture takes the app's database away (each session it opens fails to connect) until it is
    called again with False; a hub of its own (`run`) still reaches the database, as another process would."""
    database = client.app.state.hub.database
    opened = database.session

    @asynccontextmanager
    async def unreachable() -> AsyncIterator[Any]:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        yield

    def outage(down: bool = True) -> None:
        monkeypatch.setattr(database, "session", unreachable if down else opened)

    yield outage
    outage(False)


def spooled(client) -> list[Any]:
    settings = client.app.state.hub.settings
    return sorted(settings.spool_directory.glob("*.spool"))


def sent_reply(client, demo, sms_inbox) -> tuple[str, str, str]:
    """(conversation id, message id, its status callback URL) of a reply Twilio accepted."""
    sent = reply(client, demo, sms_inbox, "Your parcel left today.")
    conversation_id, message_id = sent["conversation"]["id"], sent["message"]["id"]
    wait_for(lambda: message_row(client, demo, conversation_id, message_id)["status"] == "sent")
    return (
        conversation_id,
        message_id,
        f"{sms_inbox['status_callback_url']}?{urlencode({'message_id': message_id})}",
    )


@pytest.mark.parametrize(("reported", "kept"), [("delivered", "delivered"), ("undelivered", "failed")])
def test_a_status_callback_during_a_database_outage_is_acknowledged_and_applied_once_when_it_returns(
    client, demo, settings, sms_inbox, twilio, database_outage, reported: str, kept: str
):
    """Twilio never retries a status callback: answered 503, the report would be lost. It is kept in the spool,
    answered 200, and applied as soon as the database answers again, telling the agents once."""
    conversation_id, message_id, status_url = sent_reply(client, demo, sms_inbox)
    updates = events_of(settings, message_id, "message.updated")
    status = {
        "MessageSid": REPLY_SID,
        "MessageStatus": reported,
        "ErrorCode": "30003",
        "AccountSid": ACCOUNT_SID,
    }
    database_outage()
    answer = post_signed(client, status_url, status)
    assert answer.status_code == 200, answer.text
    assert answer.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert spooled(client), "the report was not kept"
    assert events_of(settings, message_id, "message.updated") == updates, (
        "applied while the database was away"
    )

    database_outage(False)
    wait_for(lambda: not spooled(client))
    row = message_row(client, demo, conversation_id, message_id)
    assert row["status"] == kept
    if kept == "failed":
        assert "unreachable" in row["error"] and "30003" in row["error"]
    assert events_of(settings, message_id, "message.updated") == updates + 1
    assert events_of(settings, message_id, "message.failed") == (1 if kept == "failed" else 0)


def test_a_kept_report_older_than_what_was_applied_meanwhile_changes_nothing(
    client, demo, settings, sms_inbox, twilio, database_outage
):
    """While this process holds a `delivered`, the reply fails by a report another process applied: the kept report,
    applied later, does not move the reply back."""
    conversation_id, message_id, status_url = sent_reply(client, demo, sms_inbox)
    database_outage()
    delivered = {"MessageSid": REPLY_SID, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert post_signed(client, status_url, delivered).status_code == 200
    assert spooled(client)

    async def failed_elsewhere(hub: Hub) -> int:
        inbox = await hub.inboxes.find(id=sms_inbox["id"])
        assert isinstance(inbox, Inbox)
        report = DeliveryReport(REPLY_SID, "failed", "The carrier refused it", message_id=message_id)
        return await apply_delivery_reports(hub, inbox, [report])

    assert run(failed_elsewhere, settings) == 1
    updates = events_of(settings, message_id, "message.updated")
    database_outage(False)
    wait_for(lambda: not spooled(client))
    row = message_row(client, demo, conversation_id, message_id)
    assert row["status"] == "failed" and row["error"] == "The carrier refused it"
    assert events_of(settings, message_id, "message.updated") == updates


def test_a_forged_status_callback_during_a_database_outage_is_refused_and_nothing_is_kept(
    client, demo, settings, sms_inbox, twilio, database_outage
):
    conversation_id, message_id, status_url = sent_reply(client, demo, sms_inbox)
    database_outage()
    status = {"MessageSid": REPLY_SID, "MessageStatus": "failed", "AccountSid": ACCOUNT_SID}
    answer = post_signed(client, status_url, status, token="0" * 32)
    assert answer.status_code == 403 and answer.json()["code"] == "signature_invalid"
    assert spooled(client) == []
    database_outage(False)
    assert message_row(client, demo, conversation_id, message_id)["status"] == "sent"


def test_a_text_from_a_number_the_crm_knows_joins_that_customer(client, demo, sms_inbox):
    """The sender is the `phone` identity in E.164, the spelling every channel normalises to."""
    known = client.put(
        "/api/v1/contacts/by_external_id/crm-42",
        json={"name": "Li Wei", "identities": [{"kind": "phone", "value": "(415) 555-0123"}]},
        headers=bearer(demo["api_token"]),
    )
    assert known.status_code in (200, 201), known.text
    post_signed(client, sms_inbox["inbound_webhook_url"], inbound_form(SID_1, "hello"))
    [conversation] = wait_for(lambda: conversations(client, demo, sms_inbox["id"]))
    assert conversation["contact_id"] == known.json()["id"]
