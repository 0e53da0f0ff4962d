"""The agent REST API: auth, inboxes, conversations, delivery outcomes, workspace isolation."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import ClassVar

import pytest
from litestar.testing import TestClient
from pydantic import BaseModel, SecretStr
from sqlmodel import select

from connectors import (
    Capabilities,
    MalformedPayload,
    PermanentSendError,
    SendResult,
    SignatureInvalid,
    TransientSendError,
    WebhookConnector,
)
from hub import inbound
from hub.app import create_app
from normalizer import IdentityKind, IdentityRef, InboundMessage
from tests.conftest import bearer, inbox_of, run, wait_for


class ScriptedSettings(BaseModel):
    api_key: SecretStr = SecretStr("k")


class ScriptedConnector(WebhookConnector):
    """A channel whose sends follow a script: each entry is an exception to raise, or None to succeed."""

    kind = "scripted"
    display_name = "Scripted"
    capabilities = Capabilities(reply_window=timedelta(hours=48), max_replies_in_window=2)
    settings_model = ScriptedSettings
    script: ClassVar[list[Exception | None]] = []
    sent: ClassVar[list[str]] = []

    def verify(self, raw):
        if raw.header("x-signature") != "good":
            raise SignatureInvalid("bad signature")

    def parse(self, raw):
        try:
            body = json.loads(raw.body)
            return [
                InboundMessage(
                    channel_message_id=body["id"],
                    sender=IdentityRef(IdentityKind.PHONE, body["from"]),
                    sent_at=raw.received_at,
                    text=body["text"],
                )
            ]
        except (ValueError, KeyError) as error:
            raise MalformedPayload(str(error)) from None

    def parts_needed(self, outbound):
        """A `|` in the text splits it into one channel message per piece."""
        return len(outbound.text.split("|"))

    async def send(self, outbound, context):
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.sent.append(outbound.text)
        return SendResult(channel_message_ids=(f"sent-{len(self.sent)}",))


@pytest.fixture
def scripted(client, demo):
    client.app.state.hub.registry.register(ScriptedConnector)
    ScriptedConnector.script = []
    ScriptedConnector.sent = []
    created = client.post(
        "/api/v1/inboxes",
        headers=bearer(demo["api_token"]),
        json={"kind": "scripted", "name": "SMS", "settings": {"api_key": "s3cret-value"}},
    )
    assert created.status_code == 201, created.text
    return created.json()


def _deliver_inbound(client, inbox, text="hello", message_id="m1", sender="+14155550100"):
    return client.post(
        f"/webhooks/scripted/{inbox['id']}",
        headers={"x-signature": "good"},
        content=json.dumps({"id": message_id, "from": sender, "text": text}),
    )


def _conversation(client, demo):
    return wait_for(
        lambda: client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"]
    )[0]


def _message(client, demo, conversation_id, message_id):
    items = client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(demo["api_token"])
    ).json()["items"]
    return next(item for item in items if item["id"] == message_id)


def test_login_gives_a_token_and_bad_passwords_are_refused(client, demo):
    answer = client.post(
        "/api/v1/auth/login", json={"email": demo["admin_email"], "password": demo["admin_password"]}
    )
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    assert client.get("/api/v1/me", headers=bearer(token)).json()["workspace_id"] == demo["workspace_id"]
    wrong = client.post("/api/v1/auth/login", json={"email": demo["admin_email"], "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    unknown = client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope"})
    assert unknown.status_code == 401


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer omh_wrong"}, {"Authorization": "Basic abc"}]
)
def test_wrong_api_tokens_are_refused(client, headers):
    answer = client.get("/api/v1/conversations", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] in ("missing_token", "invalid_token")


def test_creating_an_inbox_validates_settings_and_never_echoes_secrets(client, demo, scripted):
    assert scripted["settings"]["api_key"] == "********"
    listed = client.get("/api/v1/inboxes", headers=bearer(demo["api_token"])).text
    assert "s3cret-value" not in listed
    bad = client.post(
        "/api/v1/inboxes",
        headers=bearer(demo["api_token"]),
        json={"kind": "webchat", "name": "W", "settings": {"color": "red"}},
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_settings"
    assert [error["field"] for error in bad.json()["errors"]] == ["settings.color"]
    unknown = client.post(
        "/api/v1/inboxes", headers=bearer(demo["api_token"]), json={"kind": "fax", "name": "F"}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "kind"
    strategy = client.post(
        "/api/v1/inboxes",
        headers=bearer(demo["api_token"]),
        json={"kind": "webchat", "name": "W", "routing_strategy": "random"},
    )
    assert strategy.status_code == 422 and strategy.json()["errors"][0]["field"] == "routing_strategy"


def test_secrets_are_encrypted_at_rest(client, demo, scripted, settings):
    import sqlite3

    stored = (
        sqlite3.connect(settings.data_dir / "omnihub.db")
        .execute("select settings from inbox where id = ?", (scripted["id"],))
        .fetchone()[0]
    )
    assert "s3cret-value" not in stored and "$encrypted" in stored


def test_webhook_signature_and_body_checks(client, demo, scripted):
    forged = client.post(
        f"/webhooks/scripted/{scripted['id']}", headers={"x-signature": "bad"}, content=b"{}"
    )
    assert forged.status_code == 403 and forged.json()["code"] == "signature_invalid"
    malformed = client.post(
        f"/webhooks/scripted/{scripted['id']}", headers={"x-signature": "good"}, content=b"{"
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_payload"
    wrong_kind = client.post(f"/webhooks/webchat/{scripted['id']}", content=b"{}")
    assert wrong_kind.status_code == 404
    assert client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"] == []


def test_transient_send_errors_retry_until_sent(client, demo, scripted):
    ScriptedConnector.script = [
        TransientSendError("rate limited", retry_after=0.05),
        TransientSendError("busy", retry_after=0.05),
    ]
    _deliver_inbound(client, scripted)
    conversation = _conversation(client, demo)
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "on its way"},
    ).json()
    sent = wait_for(
        lambda: (m := _message(client, demo, conversation["id"], reply["id"]))["status"] == "sent" and m
    )
    assert sent["error"] is None
    assert ScriptedConnector.sent == ["on its way"]


def test_a_connector_bug_is_retried_then_fails_with_a_reason(client, demo, scripted, settings):
    attempts = client.app.state.hub.settings.outbound_max_attempts
    ScriptedConnector.script = [ZeroDivisionError("bug")] * attempts
    client.app.state.hub.settings.outbound_max_attempts = 2
    try:
        _deliver_inbound(client, scripted)
        conversation = _conversation(client, demo)
        reply = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            headers=bearer(demo["api_token"]),
            json={"text": "hello"},
        ).json()
        failed = wait_for(
            lambda: (
                (m := _message(client, demo, conversation["id"], reply["id"]))["status"] == "failed" and m
            ),
            timeout=15,
        )
    finally:
        client.app.state.hub.settings.outbound_max_attempts = attempts
    assert (
        failed["error"]
        == "The Scripted connector failed unexpectedly (ZeroDivisionError) (gave up after 2 attempts)"
    )
    assert ScriptedConnector.sent == []


def test_an_inbox_whose_connector_is_gone_is_still_listed(client, demo, settings):
    async def add_fax_inbox(hub):
        from hub.models import Inbox

        async with hub.database.session() as session:
            inbox = Inbox(
                workspace_id=demo["workspace_id"],
                kind="fax",
                name="Old fax line",
                public_token="fax-token",
                settings={"api_key": {"$encrypted": hub.box.encrypt("fax-secret")}},
            )
            session.add(inbox)
            await session.commit()
        return inbox.id

    fax_id = run(add_fax_inbox, settings)
    listed = client.get("/api/v1/inboxes", headers=bearer(demo["api_token"]))
    assert listed.status_code == 200
    fax = next(inbox for inbox in listed.json() if inbox["id"] == fax_id)
    assert fax["connector_missing"] is True and fax["settings"] == {"api_key": "********"}


def test_permanent_send_error_fails_with_a_readable_reason(client, demo, scripted):
    ScriptedConnector.script = [PermanentSendError("The number is not a mobile phone.")]
    _deliver_inbound(client, scripted)
    conversation = _conversation(client, demo)
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "hello?"},
    ).json()
    failed = wait_for(
        lambda: (m := _message(client, demo, conversation["id"], reply["id"]))["status"] == "failed" and m
    )
    assert failed["error"] == "The number is not a mobile phone."


def test_reply_quota_is_enforced_before_sending_and_shown(client, demo, scripted):
    _deliver_inbound(client, scripted)
    conversation = _conversation(client, demo)
    api = bearer(demo["api_token"])
    window = client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()["reply_window"]
    assert window["replies_remaining"] == 2 and window["ends_at"]
    ids = []
    for text in ("one", "two"):
        ids.append(
            client.post(
                f"/api/v1/conversations/{conversation['id']}/messages", headers=api, json={"text": text}
            ).json()["id"]
        )
        wait_for(lambda: _message(client, demo, conversation["id"], ids[-1])["status"] == "sent")
    third = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=api, json={"text": "three"}
    ).json()
    failed = wait_for(
        lambda: (m := _message(client, demo, conversation["id"], third["id"]))["status"] == "failed" and m
    )
    assert "no more replies" in failed["error"]
    assert ScriptedConnector.sent == ["one", "two"]
    assert (
        client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()["reply_window"][
            "replies_remaining"
        ]
        == 0
    )
    _deliver_inbound(client, scripted, text="again", message_id="m2")
    wait_for(
        lambda: (
            client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()["reply_window"][
                "replies_remaining"
            ]
            == 2
        )
    )


def test_a_split_message_reserves_every_part_of_the_quota(client, demo, scripted):
    _deliver_inbound(client, scripted)
    conversation = _conversation(client, demo)
    api = bearer(demo["api_token"])
    too_long = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=api, json={"text": "a|b|c"}
    ).json()
    failed = wait_for(
        lambda: (m := _message(client, demo, conversation["id"], too_long["id"]))["status"] == "failed" and m
    )
    assert failed["error"] == (
        "The channel allows 2 more replies until the customer writes again, "
        "and this message needs 3; shorten it or wait for the customer."
    )
    fits = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=api, json={"text": "a|b"}
    ).json()
    wait_for(lambda: _message(client, demo, conversation["id"], fits["id"])["status"] == "sent")
    assert ScriptedConnector.sent == ["a|b"]
    window = client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()["reply_window"]
    assert window["replies_remaining"] == 0


def test_a_failed_send_gives_its_quota_back(client, demo, scripted):
    ScriptedConnector.script = [PermanentSendError("The gateway refused the text.")]
    _deliver_inbound(client, scripted)
    conversation = _conversation(client, demo)
    api = bearer(demo["api_token"])
    refused = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=api, json={"text": "x"}
    ).json()
    wait_for(lambda: _message(client, demo, conversation["id"], refused["id"])["status"] == "failed")
    window = client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()["reply_window"]
    assert window["replies_remaining"] == 2


def test_concurrent_senders_never_exceed_the_quota(settings, demo):
    """Two workers delivering at once must not both take the last reply the channel allows."""
    from hub import outbound
    from hub.models import Conversation, Message

    with TestClient(
        app=create_app(settings.model_copy(update={"embedded_worker": False})),
        base_url="http://testserver.local",
    ) as client:
        client.app.state.hub.registry.register(ScriptedConnector)
        ScriptedConnector.script, ScriptedConnector.sent = [], []
        inbox = client.post(
            "/api/v1/inboxes",
            headers=bearer(demo["api_token"]),
            json={"kind": "scripted", "name": "SMS", "settings": {}},
        ).json()
        _deliver_inbound(client, inbox)

    async def deliver_four_at_once(hub):
        hub.registry.register(ScriptedConnector)
        await inbound.process(hub, await _only_event_id(hub))
        async with hub.database.session() as session:
            [conversation] = (await session.exec(select(Conversation))).all()
        replies = [
            (
                await outbound.create_message(
                    hub,
                    conversation,
                    text=f"reply {number}",
                    direction="out",
                    sender_type="agent",
                    sender_id=None,
                )
            )[0]
            for number in range(4)
        ]
        await asyncio.gather(*(outbound.deliver(hub, reply.id) for reply in replies))
        async with hub.database.session() as session:
            stored = (await session.exec(select(Message).where(Message.direction == "out"))).all()
            conversation = await session.get(Conversation, conversation.id)
        return sorted(message.status for message in stored), conversation.replies_remaining

    statuses, remaining = run(deliver_four_at_once, settings)
    assert statuses == ["failed", "failed", "sent", "sent"]
    assert remaining == 0 and len(ScriptedConnector.sent) == 2


async def _only_event_id(hub):
    from hub.models import InboundEvent

    async with hub.database.session() as session:
        [event] = (await session.exec(select(InboundEvent))).all()
    return event.id


def test_conversation_filters_and_cursor_pagination(client, demo, scripted):
    for number in range(5):
        _deliver_inbound(client, scripted, message_id=f"p{number}", sender=f"+1415555010{number}")
    api = bearer(demo["api_token"])
    wait_for(lambda: len(client.get("/api/v1/conversations", headers=api).json()["items"]) == 5)
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/conversations",
            headers=api,
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
        ).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert client.get("/api/v1/conversations", headers=api, params={"cursor": "garbage!"}).status_code == 400
    assert client.get("/api/v1/conversations", headers=api, params={"limit": 1000}).status_code == 400
    me = client.get("/api/v1/me", headers=api).json()["agent"]["id"]
    client.post(f"/api/v1/conversations/{seen[0]}/assign", headers=api, json={"agent_id": me})
    mine = client.get("/api/v1/conversations", headers=api, params={"assignee_id": me}).json()["items"]
    assert [item["id"] for item in mine] == [seen[0]] and mine[0]["status"] == "assigned"
    client.post(f"/api/v1/conversations/{seen[1]}/resolve", headers=api)
    resolved = client.get("/api/v1/conversations", headers=api, params={"status": "resolved"}).json()["items"]
    assert [item["id"] for item in resolved] == [seen[1]]
    assert (
        len(
            client.get("/api/v1/conversations", headers=api, params={"inbox_id": scripted["id"]}).json()[
                "items"
            ]
        )
        == 5
    )


def test_another_workspace_sees_nothing_of_ours(client, demo, settings):
    widget = inbox_of(demo, "webchat")["widget_token"]
    client.post(f"/widget/{widget}/messages", json={"text": "private", "client_id": "p"})
    conversation = _conversation(client, demo)
    other_token = run(_other_workspace_token, settings)
    other = bearer(other_token)
    assert client.get("/api/v1/conversations", headers=other).json()["items"] == []
    for method, path, body in [
        ("get", f"/api/v1/conversations/{conversation['id']}", None),
        ("get", f"/api/v1/conversations/{conversation['id']}/messages", None),
        ("post", f"/api/v1/conversations/{conversation['id']}/messages", {"text": "hijack"}),
        ("post", f"/api/v1/conversations/{conversation['id']}/notes", {"text": "hijack"}),
        ("post", f"/api/v1/conversations/{conversation['id']}/resolve", None),
        ("post", f"/api/v1/conversations/{conversation['id']}/assign", {"agent_id": None}),
        ("get", f"/api/v1/inboxes/{inbox_of(demo, 'webchat')['id']}", None),
    ]:
        answer = getattr(client, method)(path, headers=other, **({"json": body} if body is not None else {}))
        assert answer.status_code == 404, (path, answer.text)
    ours = client.get(f"/api/v1/conversations/{conversation['id']}", headers=bearer(demo["api_token"])).json()
    assert ours["status"] != "resolved"
    messages = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(demo["api_token"])
    ).json()["items"]
    assert [m["text"] for m in messages] == ["private"]
    me = client.get("/api/v1/me", headers=bearer(demo["api_token"])).json()["agent"]["id"]
    foreign_agent = client.post(
        f"/api/v1/conversations/{conversation['id']}/assign", headers=other, json={"agent_id": me}
    )
    assert foreign_agent.status_code == 404


async def _other_workspace_token(hub):
    from hub.auth import issue_token
    from hub.crypto import hash_password
    from hub.models import Agent, Workspace

    async with hub.database.session() as session:
        workspace = Workspace(name="Rival")
        session.add(workspace)
        await session.flush()
        agent = Agent(
            workspace_id=workspace.id,
            email="rival@example.com",
            name="Rival",
            password_hash=hash_password("x" * 12),
        )
        session.add(agent)
        await session.commit()
    return await issue_token(hub, agent, "test", None)


def test_openapi_is_served(client):
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/conversations" in schema["paths"]
    assert "/api/v1/inboxes" in schema["paths"]
