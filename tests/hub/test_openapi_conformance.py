"""The served OpenAPI document says what the hub really answers.

Every operation declares a typed schema for each body it takes and answers, every error status it can answer
in the one error shape; real answers of the running app (successes and errors) validate against the document,
with no key the document does not declare. The agent socket's frames are the declared Structs, key for key.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from sqlmodel import col, select

from hub.events import AnyWorkspaceEvent
from hub.models import OutboxEvent
from hub.runtime import Hub
from hub.settings import Settings
from hub.views import SocketError, SocketPong, SocketReady
from tests.conftest import bearer, inbox_of, run, wait_for
from tests.hub.openapi_support import Conformance, resolve

TYPED_OUTSIDE_JSON = {"/metrics"}
"""Prometheus text: a string schema is all there is to say."""
NOT_ERRORS = {("/readyz", "503"): "Readiness"}
"""A status of 500 or more that is not an error of the request: readiness names what is not ready."""


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    return client.get("/schema/openapi.json").json()


def test_every_operation_declares_typed_bodies_and_statuses(document: dict[str, Any]) -> None:
    operations = list(_operations(document))
    assert len(operations) >= 25, "the document lists the API"
    untyped = []
    for path, method, operation in operations:
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), (method, path)
        for status, response in responses.items():
            if status == "204":
                assert "content" not in response, (method, path)
                continue
            for media_type, content in response.get("content", {"": {}}).items():
                schema = content.get("schema", {})
                if _untyped(document, schema):
                    untyped.append(f"{method} {path} {status} {media_type}: {schema}")
            if int(status) >= 400:
                shape = NOT_ERRORS.get((path, status), "ErrorBody")
                assert response["content"] == {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}
                }, (method, path, status)
        if "requestBody" in operation:
            for media_type, content in operation["requestBody"]["content"].items():
                if _untyped(document, content["schema"]):
                    untyped.append(f"{method} {path} body {media_type}: {content['schema']}")
        if path.startswith("/api/v1/"):
            assert {"401", "500"} <= set(responses) or path == "/api/v1/auth/login", (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "400" in responses, (method, path)
    assert not untyped, "\n".join(untyped)


def test_the_error_shape_is_declared_once(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["code", "detail", "status_code"]
    assert set(error["properties"]) == {"status_code", "code", "detail", "errors"}
    field = resolve(document, error["properties"]["errors"]["items"])
    assert set(field["properties"]) == {"field", "message", "source"}


def test_statuses_are_declared_as_their_closed_sets(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    message_status = resolve(document, schemas["MessageView"]["properties"]["status"])
    assert set(message_status["enum"]) >= {"pending", "sending", "sent", "delivered", "failed"}
    conversation_status = resolve(document, schemas["ConversationView"]["properties"]["status"])
    assert set(conversation_status["enum"]) >= {"queued", "assigned", "resolved"}


def test_real_answers_validate_against_the_document(
    client: TestClient, demo: dict[str, Any], document: dict[str, Any]
) -> None:
    api = bearer(demo["api_token"])
    widget = inbox_of(demo, "webchat")
    seeded = client.post(f"/widget/{widget['widget_token']}/messages", json={"text": "hi", "client_id": "c1"})
    assert seeded.status_code == 201, seeded.text
    [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
    agent_id = client.get("/api/v1/me", headers=api).json()["agent"]["id"]
    here = f"/api/v1/conversations/{conversation['id']}"
    unknown = "0" * 36
    checked: list[tuple[str, str, int]] = []
    conformance = Conformance(document)

    def check(method: str, path: str, template: str, expected: int, **request: Any) -> Any:
        request.setdefault("headers", api)
        answer = client.request(method, path, **request)
        assert answer.status_code == expected, (method, path, answer.text[:500])
        conformance.check(template, method, answer)
        checked.append((method, template, expected))
        return answer

    check("GET", "/healthz", "/healthz", 200)
    check("GET", "/readyz", "/readyz", 200)
    check("GET", "/api/v1/me", "/api/v1/me", 200)
    check("GET", "/api/v1/me", "/api/v1/me", 401, headers={})
    check("GET", "/api/v1/agents", "/api/v1/agents", 200)
    check("GET", "/api/v1/inboxes", "/api/v1/inboxes", 200)
    check("GET", f"/api/v1/inboxes/{widget['id']}", "/api/v1/inboxes/{inbox_id}", 200)
    check("GET", f"/api/v1/inboxes/{unknown}", "/api/v1/inboxes/{inbox_id}", 404)
    check("GET", "/api/v1/inboxes/a%00b", "/api/v1/inboxes/{inbox_id}", 400)
    check("POST", "/api/v1/inboxes", "/api/v1/inboxes", 201, json={"kind": "webchat", "name": "Second"})
    check("POST", "/api/v1/inboxes", "/api/v1/inboxes", 422, json={"kind": "nosuch", "name": "x"})
    check("POST", "/api/v1/inboxes", "/api/v1/inboxes", 400, json={"name": 5})
    check("GET", "/api/v1/conversations", "/api/v1/conversations", 200, params={"limit": 1})
    check("GET", "/api/v1/conversations", "/api/v1/conversations", 400, params={"cursor": "bm90IG91cnM="})
    check("GET", here, "/api/v1/conversations/{conversation_id}", 200)
    check("GET", f"/api/v1/conversations/{unknown}", "/api/v1/conversations/{conversation_id}", 404)
    check("GET", f"{here}/messages", "/api/v1/conversations/{conversation_id}/messages", 200)
    reply = {
        "text": "hello",
        "client_id": "r1",
        "attachments": [{"kind": "link", "url": "https://example.com"}],
    }
    check("POST", f"{here}/messages", "/api/v1/conversations/{conversation_id}/messages", 201, json=reply)
    check(
        "POST",
        f"{here}/messages",
        "/api/v1/conversations/{conversation_id}/messages",
        422,
        json={"text": " "},
    )
    check(
        "POST", f"{here}/notes", "/api/v1/conversations/{conversation_id}/notes", 201, json={"text": "note"}
    )
    assign = "/api/v1/conversations/{conversation_id}/assign"
    check("POST", f"{here}/assign", assign, 200, json={"agent_id": agent_id})
    check("POST", f"{here}/assign", assign, 422, json={"agent_id": unknown})
    check(
        "POST", f"{here}/typing", "/api/v1/conversations/{conversation_id}/typing", 202, json={"typing": True}
    )
    check("POST", f"{here}/resolve", "/api/v1/conversations/{conversation_id}/resolve", 200)
    check(
        "POST",
        "/api/v1/attachments",
        "/api/v1/attachments",
        201,
        files={"file": ("a.txt", b"hello", "text/plain")},
    )
    check(
        "POST",
        "/api/v1/attachments",
        "/api/v1/attachments",
        422,
        files={"file": ("a.txt", b"", "text/plain")},
    )
    check("GET", "/api/v1/inbound-events", "/api/v1/inbound-events", 200)
    check("GET", f"/api/v1/inbound-events/{unknown}", "/api/v1/inbound-events/{event_id}", 404)
    check("POST", f"/api/v1/inbound-events/{unknown}/retry", "/api/v1/inbound-events/{event_id}/retry", 404)
    login = {"email": demo["admin_email"], "password": demo["admin_password"]}
    session = check("POST", "/api/v1/auth/login", "/api/v1/auth/login", 200, json=login, headers={}).json()
    check(
        "POST", "/api/v1/auth/login", "/api/v1/auth/login", 401, json={**login, "password": "no"}, headers={}
    )
    check("POST", "/api/v1/auth/login", "/api/v1/auth/login", 415, data=login, headers={})
    password = {"current_password": "wrong-password", "new_password": "another-password"}
    check(
        "POST",
        "/api/v1/auth/password",
        "/api/v1/auth/password",
        422,
        json=password,
        headers=bearer(session["access_token"]),
    )
    check("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", 204, headers=bearer(session["access_token"]))
    check("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", 401, headers=bearer(session["access_token"]))
    assert len({(method, path) for method, path, _status in checked}) >= 20


def test_the_agent_socket_sends_the_declared_frames(client: TestClient, demo: dict[str, Any]) -> None:
    api = bearer(demo["api_token"])
    widget = inbox_of(demo, "webchat")["widget_token"]
    frames = []
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as socket:
        frames.append(socket.receive_json())
        client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "c1"})
        [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
        client.post(f"/api/v1/conversations/{conversation['id']}/resolve", headers=api)
        socket.send_json({"type": "ping"})
        socket.send_text("not json")
        while frames[-1]["type"] != "error":
            frames.append(socket.receive_json(timeout=10))
    declared = SocketReady | SocketPong | SocketError | AnyWorkspaceEvent
    for frame in frames:
        assert msgspec.to_builtins(msgspec.convert(frame, declared)) == frame, frame
    kinds = [frame["type"] for frame in frames]
    assert kinds[0] == "ready" and kinds[-2:] == ["pong", "error"], kinds
    assert {"conversation.created", "message.created", "conversation.resolved"} <= set(kinds), kinds


def test_the_outbox_keeps_the_declared_events(
    client: TestClient, demo: dict[str, Any], settings: Settings
) -> None:
    api = bearer(demo["api_token"])
    widget = inbox_of(demo, "webchat")["widget_token"]
    client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "c1"})
    [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
    here = f"/api/v1/conversations/{conversation['id']}"
    client.post(f"{here}/notes", headers=api, json={"text": "note"})
    client.post(f"{here}/resolve", headers=api)

    async def outbox(hub: Hub) -> list[tuple[str, dict[str, Any]]]:
        async with hub.database.session() as session:
            rows = (await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.created_at)))).all()
        return [(row.event_type, row.payload) for row in rows]

    recorded = run(outbox, settings)
    for event_type, payload in recorded:
        event = msgspec.convert(payload, AnyWorkspaceEvent)
        assert event.__struct_config__.tag == event_type
        assert msgspec.to_builtins(event) == payload
    assert {"conversation.created", "message.created", "conversation.resolved"} <= {
        kind for kind, _ in recorded
    }


def _operations(document: dict[str, Any]) -> Any:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method.upper(), operation


def _untyped(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """No schema, or an object or array that says nothing of what it holds (what `dict[str, Any]` declares)."""
    schema = resolve(document, schema)
    if not schema:
        return True
    if "oneOf" in schema or "anyOf" in schema:
        return any(_untyped(document, each) for each in schema.get("oneOf", schema.get("anyOf", [])))
    kind = schema.get("type")
    if kind == "object":
        return not schema.get("properties")
    if kind == "array":
        return _untyped(document, schema.get("items", {}))
    return kind is None
