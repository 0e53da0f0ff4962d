"""Malformed input answers a 4xx JSON error naming what is wrong, and changes nothing, on SQLite and PostgreSQL.

Each case here once answered a 500 with a traceback, or stored a value that broke something later.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from sqlalchemy import func, select

from hub.models import Contact, Conversation, InboundEvent, Inbox, Message, StoredFile
from hub.settings import Settings
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for

COUNTED = (Inbox, Contact, Conversation, Message, InboundEvent, StoredFile)
NUL_ID = "a%00b"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Every test here runs on both databases: PostgreSQL refuses NUL and over-long values where SQLite stores them."""
    if request.param == "sqlite":
        return settings
    url = request.getfixturevalue("demo_postgres_url")
    return settings.model_copy(update={"database_url": url})


@pytest.fixture
def seeded(client: TestClient, demo: dict[str, Any]) -> dict[str, str]:
    """One visitor's conversation, processed: the ids a malformed request may aim at."""
    widget = inbox_of(demo, "webchat")["widget_token"]
    first = client.post(f"/widget/{widget}/messages", json={"text": "hello", "client_id": "seed"})
    assert first.status_code == 201, first.text
    [conversation] = wait_for(
        lambda: client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"]
    )
    return {
        "widget": widget,
        "visitor_token": first.json()["visitor_token"],
        "conversation_id": conversation["id"],
    }


def row_counts(settings: Settings) -> dict[str, int]:
    async def count(hub) -> dict[str, int]:
        async with hub.database.session() as session:
            return {
                model.__tablename__: (
                    await session.execute(select(func.count()).select_from(model))
                ).scalar_one()
                for model in COUNTED
            }

    return run(count, settings)


def refused(answer: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    body = answer.json()
    assert body["code"] == code, body
    if field is not None:
        assert any(error["field"].startswith(field) for error in body["errors"]), body
    return body


def test_a_visitor_token_with_a_non_ascii_byte_is_refused(client, settings, seeded):
    before = row_counts(settings)
    forged = {"Authorization": b"Bearer v1.a.b.1.\xe9"}
    refused(
        client.post(
            f"/widget/{seeded['widget']}/messages", headers=forged, json={"text": "hi", "client_id": "c"}
        ),
        401,
        "invalid_visitor_token",
    )
    refused(client.get(f"/widget/{seeded['widget']}/messages", headers=forged), 401, "invalid_visitor_token")
    assert row_counts(settings) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "\xff\xfe", "client_id": "c"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"client_id": "c", "text": "hi", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"text": "hi", "client_id": ',
    ],
)
def test_bodies_that_are_not_utf8_json_are_refused(client, settings, demo, seeded, body):
    before = row_counts(settings)
    json_type = {"Content-Type": "application/json"}
    api = {**json_type, **bearer(demo["api_token"])}
    conversation = seeded["conversation_id"]
    for path, headers in [
        (f"/widget/{seeded['widget']}/messages", json_type),
        (f"/widget/{seeded['widget']}/messages", {**json_type, **bearer(seeded["visitor_token"])}),
        ("/api/v1/auth/login", json_type),
        ("/api/v1/inboxes", api),
        (f"/api/v1/conversations/{conversation}/messages", api),
        (f"/api/v1/conversations/{conversation}/notes", api),
        (f"/api/v1/conversations/{conversation}/assign", api),
    ]:
        refused(client.post(path, content=body, headers=headers), 400, "invalid_json")
    assert row_counts(settings) == before


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-11-01T08:00:00|01a217da-dd2e-79de-99b7-744bd4bf8767"),
        _cursor("0001-01-01T00:00:00+01:00|01a217da-dd2e-79de-99b7-744bd4bf8767"),
        _cursor("2026-11-01T08:00:00+00:00|a\x00b"),
        _cursor("2026-11-01T08:00:00+00:00"),
        "AAAA",
    ],
)
def test_a_cursor_this_api_did_not_make_is_refused(client, demo, seeded, cursor):
    answer = client.get("/api/v1/conversations", headers=bearer(demo["api_token"]), params={"cursor": cursor})
    refused(answer, 400, "invalid_cursor")


@pytest.mark.parametrize(
    ("files", "data"),
    [
        ({"file": (None, "not a file")}, None),
        ({"document": ("a.txt", b"hi", "text/plain")}, None),
        ([("file", ("a.txt", b"hi")), ("file", ("b.txt", b"ho"))], None),
        (None, {"file": "not a file"}),
    ],
)
def test_an_upload_whose_file_field_is_not_one_file_is_refused(client, settings, demo, seeded, files, data):
    before = row_counts(settings)
    answer = client.post("/api/v1/attachments", headers=bearer(demo["api_token"]), files=files, data=data)
    assert 400 <= answer.status_code < 500, answer.text
    assert_error_shape(answer)
    assert row_counts(settings) == before


@pytest.mark.parametrize(
    ("content_type", "stored_as"),
    [
        ("text/plain\x01x", "text/plain"),
        ("image/png\r\nX-Injected: 1", "image/png"),
        ("text/pl\x7fain", "text/plain"),
        ("x" * 200 + "/plain", "text/plain"),
        ("IMAGE/PNG; charset=binary", "image/png"),
    ],
)
def test_a_malformed_content_type_is_not_stored_and_the_file_downloads(client, demo, content_type, stored_as):
    uploaded = client.post(
        "/api/v1/attachments",
        headers=bearer(demo["api_token"]),
        files={"file": ("notes.txt" if stored_as == "text/plain" else "x.png", b"hi", content_type)},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["mime_type"] == stored_as
    download = client.get(uploaded.json()["url"].removeprefix("http://testserver.local"))
    assert download.status_code == 200 and download.content == b"hi"
    assert download.headers["content-type"].split(";")[0] == stored_as


def _nul_requests(
    seeded: dict[str, str], api: dict[str, str]
) -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(method, path, request arguments, field the answer names) with a NUL where an id, token or email goes."""
    widget, conversation = seeded["widget"], seeded["conversation_id"]
    visitor = bearer(seeded["visitor_token"])
    return [
        ("GET", f"/widget/{NUL_ID}/config", {}, "widget_token"),
        ("POST", f"/widget/{NUL_ID}/messages", {"json": {"text": "hi", "client_id": "c"}}, "widget_token"),
        ("GET", f"/widget/{widget}/messages", {"params": {"after": "a\x00b"}, "headers": visitor}, "after"),
        ("POST", f"/widget/{widget}/messages", {"json": {"text": "hi", "client_id": "a\x00b"}}, "client_id"),
        (
            "POST",
            f"/widget/{widget}/messages",
            {"json": {"text": "hi", "client_id": "c", "page_url": "https://a\x00"}, "headers": visitor},
            "page_url",
        ),
        (
            "POST",
            "/api/v1/auth/login",
            {"json": {"email": "admin\x00@demo.omnihub.local", "password": "x"}},
            "email",
        ),
        ("GET", f"/webhooks/wechat_oa/{NUL_ID}", {}, "inbox_id"),
        ("POST", f"/webhooks/wechat_oa/{NUL_ID}", {"content": b"<xml/>"}, "inbox_id"),
        ("POST", f"/webhooks/wechat{NUL_ID}/0", {"content": b"<xml/>"}, "kind"),
        ("POST", f"/webhooks/wechat_oa/0/status{NUL_ID}", {"content": b"<xml/>"}, "sub_path"),
        ("GET", f"/api/v1/inboxes/{NUL_ID}", {"headers": api}, "inbox_id"),
        ("GET", f"/api/v1/conversations/{NUL_ID}", {"headers": api}, "conversation_id"),
        ("GET", f"/api/v1/conversations/{NUL_ID}/messages", {"headers": api}, "conversation_id"),
        ("POST", f"/api/v1/conversations/{NUL_ID}/resolve", {"headers": api}, "conversation_id"),
        ("GET", "/api/v1/conversations", {"headers": api, "params": {"inbox_id": "a\x00b"}}, "inbox_id"),
        (
            "GET",
            "/api/v1/conversations",
            {"headers": api, "params": {"assignee_id": "a\x00b"}},
            "assignee_id",
        ),
        ("GET", "/api/v1/conversations", {"headers": api, "params": {"status": "open\x00"}}, "status"),
        (
            "GET",
            f"/api/v1/conversations/{conversation}/messages",
            {"headers": api, "params": {"after": "\x00"}},
            "after",
        ),
        (
            "POST",
            f"/api/v1/conversations/{conversation}/assign",
            {"headers": api, "json": {"agent_id": "a\x00b"}},
            "agent_id",
        ),
        (
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            {"headers": api, "json": {"text": "hi", "client_id": "a\x00b"}},
            "client_id",
        ),
        ("POST", "/api/v1/inboxes", {"headers": api, "json": {"kind": "web\x00chat", "name": "x"}}, "kind"),
        (
            "POST",
            "/api/v1/inboxes",
            {"headers": api, "json": {"kind": "webchat", "name": "Shop", "settings": {"greeting": "hi\x00"}}},
            "settings",
        ),
        (
            "POST",
            "/api/v1/inboxes",
            {
                "headers": api,
                "json": {
                    "kind": "webchat",
                    "name": "Shop",
                    "settings": {"allowed_origins": ["https://a\x00"]},
                },
            },
            "settings",
        ),
        ("GET", f"/attachments/{NUL_ID}/a.txt", {}, "file_id"),
    ]


def test_a_nul_in_any_id_token_or_email_is_refused_naming_the_field(client, settings, demo, seeded):
    before = row_counts(settings)
    for method, path, arguments, field in _nul_requests(seeded, bearer(demo["api_token"])):
        answer = client.request(method, path, **arguments)
        assert answer.status_code == 400, f"{method} {path} {arguments}: {answer.status_code} {answer.text}"
        refused(answer, 400, "invalid_request", field)
    assert row_counts(settings) == before


def test_a_widget_preflight_with_a_nul_in_its_token_is_not_found(client):
    answer = client.options(
        f"/widget/{NUL_ID}/messages",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    refused(answer, 404, "widget_not_found")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "n" * 500_000),
        ("name", "n" * 101),
        ("client_id", "c" * 101),
        ("client_id", ""),
        ("page_url", "https://shop.example/" + "p" * 2000),
        ("text", "t" * 4001),
    ],
)
def test_over_long_widget_fields_are_refused(client, settings, seeded, field, value):
    before = row_counts(settings)
    message = {"text": "hi", "client_id": "c", field: value}
    answer = client.post(
        f"/widget/{seeded['widget']}/messages", json=message, headers=bearer(seeded["visitor_token"])
    )
    refused(answer, 400, "invalid_request", field)
    assert row_counts(settings) == before


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        ({"text": "t" * 10_001}, "text"),
        ({"text": "hi", "client_id": "c" * 101}, "client_id"),
        (
            {
                "attachments": [
                    {"kind": "link", "url": "https://a.example", "meta": {"description": "d" * 900_000}}
                ]
            },
            "attachments[0].meta",
        ),
        (
            {
                "attachments": [
                    {"kind": "link", "url": "https://a.example", "meta": {f"k{n}": n for n in range(21)}}
                ]
            },
            "attachments[0].meta",
        ),
        (
            {
                "attachments": [
                    {"kind": "link", "url": "https://a.example", "meta": {"nested": {"deep": [1]}}}
                ]
            },
            "attachments[0].meta",
        ),
        (
            {"attachments": [{"kind": "link", "url": "https://a.example", "name": "n" * 101}]},
            "attachments[0].name",
        ),
        (
            {
                "attachments": [
                    {"kind": "file", "url": "https://a.example", "mime_type": "text/plain\r\nX: 1"}
                ]
            },
            "attachments[0].mime_type",
        ),
        ({"attachments": [{"kind": "link", "url": "https://a.example"}] * 11}, "attachments"),
    ],
)
def test_over_long_or_malformed_reply_fields_are_refused(client, settings, demo, seeded, reply, field):
    before = row_counts(settings)
    answer = client.post(
        f"/api/v1/conversations/{seeded['conversation_id']}/messages",
        json=reply,
        headers=bearer(demo["api_token"]),
    )
    refused(answer, 400, "invalid_request", field)
    assert row_counts(settings) == before


def test_free_text_is_cleaned_of_control_characters(client, settings, demo, seeded):
    sent = client.post(
        f"/widget/{seeded['widget']}/messages",
        headers=bearer(seeded["visitor_token"]),
        json={"text": "tab\there\x00\x1b[31m red", "client_id": "clean", "name": "Ann\x00\x07 Lee\x1b"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["text"] == "tab\there[31m red"

    async def contact_names(hub) -> list[str | None]:
        async with hub.database.session() as session:
            return list((await session.execute(select(Contact.name))).scalars())

    assert wait_for(lambda: "Ann Lee" in run(contact_names, settings))
    reply = client.post(
        f"/api/v1/conversations/{seeded['conversation_id']}/notes",
        headers=bearer(demo["api_token"]),
        json={
            "text": "see\x00 this\x7f",
            "attachments": [
                {"kind": "link", "url": "https://a.example", "name": "Re\x00turns\x1b", "meta": {}}
            ],
        },
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["text"] == "see this"
    assert reply.json()["attachments"][0]["name"] == "Returns"


def test_a_reply_repeated_with_its_client_id_is_stored_once(client, settings, demo, seeded):
    path = f"/api/v1/conversations/{seeded['conversation_id']}/messages"
    first = client.post(path, json={"text": "once", "client_id": "r-1"}, headers=bearer(demo["api_token"]))
    again = client.post(path, json={"text": "once", "client_id": "r-1"}, headers=bearer(demo["api_token"]))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    messages = client.get(path, headers=bearer(demo["api_token"])).json()["items"]
    assert [message["text"] for message in messages].count("once") == 1


BAD_FRAMES = [
    "not json",
    "[1, 2]",
    "5",
    '"text"',
    "[" * 100_000 + "]" * 100_000,
    '{"type": "ping", "pad": "' + "x" * 1_048_576 + '"}',
]
"""Frames that are not a JSON object, or too deep or too large to be one: each answers an error, the socket stays."""


def test_the_agent_socket_answers_bad_frames_and_stays_open(client, demo):
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as socket:
        assert socket.receive_json()["type"] == "ready"
        for frame in BAD_FRAMES:
            socket.send_text(frame)
            assert socket.receive_json()["code"] == "invalid_json", frame[:40]
        socket.send_bytes(b"\xff\x00")
        assert socket.receive_json()["code"] == "invalid_json"
        socket.send_json({"type": "ping\x00", "token": 5})
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}


@pytest.mark.parametrize("first", [{"token": 5}, {"token": ["omh_x"]}, [1], "not json", "[" * 100_000])
def test_the_agent_socket_closes_on_a_malformed_first_frame(client, first):
    with client.websocket_connect("/api/v1/agent/ws") as socket:
        socket.send_text(first if isinstance(first, str) else json.dumps(first))
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 4400


@pytest.mark.parametrize("first", [{"visitor_token": 5}, {"visitor_token": {"v": 1}}, [1], "not json"])
def test_the_widget_socket_closes_on_a_malformed_first_frame(client, seeded, first):
    with client.websocket_connect(f"/widget/{seeded['widget']}/ws") as socket:
        socket.send_text(first if isinstance(first, str) else json.dumps(first))
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 4400


def test_the_widget_socket_refuses_a_non_ascii_visitor_token(client, seeded):
    with client.websocket_connect(f"/widget/{seeded['widget']}/ws") as socket:
        socket.send_json({"visitor_token": "v1.a.b.1.\u00e9"})
        assert socket.receive_json()["code"] == "invalid_visitor_token"
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 4401


def test_the_widget_socket_answers_bad_frames_stores_nothing_and_stays_open(client, settings, seeded):
    with client.websocket_connect(
        f"/widget/{seeded['widget']}/ws?visitor_token={seeded['visitor_token']}"
    ) as socket:
        assert socket.receive_json()["type"] == "ready"
        before = row_counts(settings)
        for frame in BAD_FRAMES:
            socket.send_text(frame)
            assert socket.receive_json()["code"] == "invalid_json", frame[:40]
        socket.send_bytes(b"\xff\x00")
        assert socket.receive_json()["code"] == "invalid_json"
        socket.send_json({"type": ["message"]})
        assert socket.receive_json()["code"] == "unknown_frame"
        for message in [
            {"text": 5, "client_id": "c"},
            {"text": "hi", "client_id": ["c"]},
            {"text": "hi"},
            {"text": "hi", "client_id": "a\x00b"},
            {"text": "hi", "client_id": "c", "name": "n" * 101},
            {"text": "hi", "client_id": "c", "page_url": "https://shop.example/\x00"},
            {"text": "t" * 4001, "client_id": "c"},
        ]:
            socket.send_json({"type": "message", **message})
            assert socket.receive_json()["code"] == "invalid_message", message
        assert row_counts(settings) == before
        socket.send_json({"type": "message", "text": "still here", "client_id": "after"})
        assert "ack" in {socket.receive_json()["type"], socket.receive_json()["type"]}
