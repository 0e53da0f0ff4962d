"""Visitor → agent → visitor through the public HTTP and WebSocket interfaces, embedded mode."""

from __future__ import annotations

from tests.conftest import bearer, inbox_of, wait_for


def test_visitor_message_reaches_agent_and_reply_reaches_visitor(client, demo):
    widget = inbox_of(demo, "webchat")["widget_token"]
    api = bearer(demo["api_token"])

    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as agent_socket:
        assert agent_socket.receive_json()["type"] == "ready"
        first = client.post(
            f"/widget/{widget}/messages", json={"text": "Where is my order?", "client_id": "c1"}
        )
        assert first.status_code == 201, first.text
        visitor_token = first.json()["visitor_token"]
        message_id = first.json()["id"]

        events = []
        while not any(event.get("type") == "message.created" for event in events):
            events.append(agent_socket.receive_json(timeout=10))
        created = next(event for event in events if event["type"] == "message.created")
        assert created["message"]["text"] == "Where is my order?"
        assert created["message"]["id"] == message_id
        conversation_id = created["message"]["conversation_id"]

    listed = client.get("/api/v1/conversations", headers=api).json()["items"]
    assert [conversation["id"] for conversation in listed] == [conversation_id]

    with client.websocket_connect(f"/widget/{widget}/ws?visitor_token={visitor_token}") as visitor_socket:
        ready = visitor_socket.receive_json()
        assert ready["type"] == "ready"
        assert [message["text"] for message in ready["messages"]] == ["Where is my order?"]
        reply = client.post(
            f"/api/v1/conversations/{conversation_id}/messages", headers=api, json={"text": "It ships today."}
        )
        assert reply.status_code == 201, reply.text
        pushed = visitor_socket.receive_json(timeout=10)
        assert pushed["type"] == "message.created"
        assert pushed["message"]["text"] == "It ships today."
        assert pushed["message"]["sender"] == "agent"

    def delivered():
        items = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=api).json()["items"]
        return [m for m in items if m["direction"] == "out" and m["status"] == "delivered"]

    wait_for(delivered)
    history = client.get(f"/widget/{widget}/messages", headers=bearer(visitor_token)).json()["items"]
    assert [(m["sender"], m["text"]) for m in history] == [
        ("contact", "Where is my order?"),
        ("agent", "It ships today."),
    ]


def test_an_agent_typing_reaches_the_visitor_socket(client, demo):
    widget = inbox_of(demo, "webchat")["widget_token"]
    api = bearer(demo["api_token"])
    visitor_token = client.post(
        f"/widget/{widget}/messages", json={"text": "hello?", "client_id": "t1"}
    ).json()["visitor_token"]
    [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
    with client.websocket_connect(f"/widget/{widget}/ws?visitor_token={visitor_token}") as visitor_socket:
        assert visitor_socket.receive_json()["type"] == "ready"
        typing = client.post(
            f"/api/v1/conversations/{conversation['id']}/typing", headers=api, json={"typing": True}
        )
        assert typing.status_code == 202, typing.text
        assert visitor_socket.receive_json(timeout=10) == {"type": "typing", "typing": True}
