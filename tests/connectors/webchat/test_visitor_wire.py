"""What reaches a visitor is the web chat's wire format, and nothing an agent alone may see leaks into it."""

from __future__ import annotations

import json

import msgspec

from connectors.webchat.wire import VisitorAttachment, VisitorMessage
from tests.conftest import bearer, inbox_of, wait_for

VISITOR_MESSAGE_FIELDS = {
    "id",
    "text",
    "sender",
    "content_type",
    "attachments",
    "client_id",
    "status",
    "created_at",
}
VISITOR_ATTACHMENT_FIELDS = {"kind", "url", "mime_type", "name", "size"}


def test_the_visitor_message_declares_only_what_a_visitor_may_see():
    assert set(VisitorMessage.__struct_fields__) == VISITOR_MESSAGE_FIELDS
    assert set(VisitorAttachment.__struct_fields__) == VISITOR_ATTACHMENT_FIELDS


def test_agent_only_fields_never_reach_the_visitor(client, demo):
    """Over the socket, the history and the long poll: no agent's id, email or retry key, no conversation,
    inbox or workspace id, no note, no attachment's private metadata."""
    widget = inbox_of(demo, "webchat")["widget_token"]
    api = bearer(demo["api_token"])
    first = client.post(f"/widget/{widget}/messages", json={"text": "Where is my order?", "client_id": "v-1"})
    visitor_token = first.json()["visitor_token"]
    [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])

    with client.websocket_connect(f"/widget/{widget}/ws?visitor_token={visitor_token}") as visitor_socket:
        frames = [visitor_socket.receive_json()]
        note = client.post(
            f"/api/v1/conversations/{conversation['id']}/notes",
            headers=api,
            json={"text": "NOTE: refund fraud risk", "client_id": "note-key-7c1"},
        )
        assert note.status_code == 201, note.text
        reply = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            headers=api,
            json={
                "text": "It ships today.",
                "client_id": "agent-key-93f",
                "attachments": [
                    {
                        "kind": "link",
                        "url": "https://shop.example.com/track/1",
                        "name": "Tracking",
                        "meta": {"internal": "AGENT-ONLY-META"},
                    }
                ],
            },
        )
        assert reply.status_code == 201, reply.text
        while not any(frame.get("type") == "message.created" for frame in frames[1:]):
            frames.append(visitor_socket.receive_json(timeout=10))

    history = client.get(f"/widget/{widget}/messages", headers=bearer(visitor_token)).json()
    polled = client.get(
        f"/widget/{widget}/messages?after={first.json()['id']}", headers=bearer(visitor_token)
    ).json()
    seen = json.dumps([frames, history, polled], ensure_ascii=False)

    agent_messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=api).json()
    agent_id = next(m["sender_id"] for m in agent_messages["items"] if m["direction"] == "out")
    assert agent_id
    for agent_only in [
        agent_id,
        demo["admin_email"],
        demo["workspace_id"],
        inbox_of(demo, "webchat")["id"],
        conversation["id"],
        conversation["contact_id"],
        "NOTE: refund fraud risk",
        "note-key-7c1",
        "agent-key-93f",
        "AGENT-ONLY-META",
    ]:
        assert agent_only not in seen, f"{agent_only!r} reached the visitor"

    messages = [
        *frames[0]["messages"],
        *(frame["message"] for frame in frames[1:] if frame["type"] == "message.created"),
        *history["items"],
        *polled["items"],
    ]
    assert {message["text"] for message in messages} == {"Where is my order?", "It ships today."}
    for message in messages:
        assert set(message) == VISITOR_MESSAGE_FIELDS
        msgspec.convert(message, VisitorMessage, strict=False)
        for attachment in message["attachments"]:
            assert set(attachment) == VISITOR_ATTACHMENT_FIELDS
    assert [m["client_id"] for m in history["items"]] == ["v-1", None], "only the visitor's own retry keys"
