"""The widget's HTTP endpoints: visitor tokens, idempotent retries, history, CORS, rate limits, bad input."""

from __future__ import annotations

import time

import pytest

from connectors.webchat.connector import WebChatConnector
from connectors.webchat.tokens import VisitorTokens
from hub import outbound
from hub.models import Conversation
from tests.conftest import bearer, inbox_of, run, wait_for


@pytest.fixture
def widget(demo) -> str:
    return inbox_of(demo, "webchat")["widget_token"]


def _conversations(client, demo):
    return client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"]


def _visitor_tokens(client) -> VisitorTokens:
    """Signed with the keys the hub derives for web chat, as the widget's routes sign them."""
    return VisitorTokens(client.app.state.channel_services.signing_keys("webchat"))


def _messages(client, demo, conversation_id):
    return client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(demo["api_token"])
    ).json()["items"]


def test_retry_with_same_client_id_stores_one_message(client, demo, widget):
    first = client.post(f"/widget/{widget}/messages", json={"text": "hello", "client_id": "retry-1"})
    token = first.json()["visitor_token"]
    again = client.post(
        f"/widget/{widget}/messages", json={"text": "hello", "client_id": "retry-1"}, headers=bearer(token)
    )
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    [conversation] = wait_for(lambda: _conversations(client, demo))
    wait_for(lambda: _messages(client, demo, conversation["id"]))
    assert [m["text"] for m in _messages(client, demo, conversation["id"])] == ["hello"]


def test_visitor_token_continues_the_same_conversation(client, demo, widget):
    token = client.post(f"/widget/{widget}/messages", json={"text": "one", "client_id": "a"}).json()[
        "visitor_token"
    ]
    client.post(f"/widget/{widget}/messages", json={"text": "two", "client_id": "b"}, headers=bearer(token))
    history = wait_for(
        lambda: (
            len(items := client.get(f"/widget/{widget}/messages", headers=bearer(token)).json()["items"]) == 2
            and items
        )
    )
    assert [m["text"] for m in history] == ["one", "two"]
    assert len(_conversations(client, demo)) == 1
    after = client.get(f"/widget/{widget}/messages?after={history[0]['id']}", headers=bearer(token)).json()[
        "items"
    ]
    assert [m["text"] for m in after] == ["two"]


def test_long_poll_returns_when_the_agent_replies(client, demo, widget):
    token = client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "a"}).json()[
        "visitor_token"
    ]
    [conversation] = wait_for(lambda: _conversations(client, demo))
    [first] = wait_for(lambda: _messages(client, demo, conversation["id"]))
    client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "hello there"},
    )
    polled = client.get(
        f"/widget/{widget}/messages?after={first['id']}&wait=10", headers=bearer(token)
    ).json()
    assert [m["text"] for m in polled["items"]] == ["hello there"]


def test_notes_never_reach_the_visitor(client, demo, widget):
    token = client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "a"}).json()[
        "visitor_token"
    ]
    [conversation] = wait_for(lambda: _conversations(client, demo))
    note = client.post(
        f"/api/v1/conversations/{conversation['id']}/notes",
        headers=bearer(demo["api_token"]),
        json={"text": "VIP, be nice"},
    )
    assert note.status_code == 201 and note.json()["direction"] == "note"
    wait_for(lambda: len(_messages(client, demo, conversation["id"])) == 2)
    history = client.get(f"/widget/{widget}/messages", headers=bearer(token)).json()["items"]
    assert [m["text"] for m in history] == ["hi"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"text": "no client id"}', 400, "invalid_request"),
        (b'{"text": "   ", "client_id": "x"}', 400, "invalid_message"),
        (('{"text": "' + "x" * 4001 + '", "client_id": "x"}').encode(), 400, "invalid_request"),
    ],
)
def test_bad_messages_are_refused_and_store_nothing(client, demo, widget, body, status, code):
    answer = client.post(
        f"/widget/{widget}/messages", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == status
    assert answer.json()["code"] == code
    assert answer.json()["detail"]
    assert _conversations(client, demo) == []


def test_oversized_body_is_refused(client, demo, widget):
    huge = b'{"text": "' + b"x" * 1_100_000 + b'", "client_id": "x"}'
    answer = client.post(
        f"/widget/{widget}/messages", content=huge, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert _conversations(client, demo) == []


def test_forged_and_expired_visitor_tokens_are_refused(client, demo, widget, settings):
    token = client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "a"}).json()[
        "visitor_token"
    ]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answer = client.get(f"/widget/{widget}/messages", headers=bearer(forged))
    assert answer.status_code == 401 and answer.json()["code"] == "invalid_visitor_token"
    inbox_id = token.split(".")[1]
    expired = _visitor_tokens(client).issue(inbox_id, "someone", now=1_000_000)
    answer = client.post(
        f"/widget/{widget}/messages", json={"text": "x", "client_id": "b"}, headers=bearer(expired)
    )
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    other_key = VisitorTokens([b"another-key"]).issue(inbox_id, "someone", now=time.time())
    assert client.get(f"/widget/{widget}/messages", headers=bearer(other_key)).status_code == 401
    assert client.get(f"/widget/{widget}/messages").status_code == 401


def test_visitor_messages_only_come_through_the_widget_endpoints(client, demo, widget):
    """The public webhook route serves only connectors that verify requests: forging a visitor there finds nothing."""
    first = client.post(f"/widget/{widget}/messages", json={"text": "hello", "client_id": "c-1"})
    visitor_id = _visitor_tokens(client).verify(
        first.json()["visitor_token"], inbox_of(demo, "webchat")["id"], 86400, now=time.time()
    )
    [conversation] = wait_for(lambda: _conversations(client, demo))
    wait_for(lambda: _messages(client, demo, conversation["id"]))
    forged = client.post(
        f"/webhooks/webchat/{inbox_of(demo, 'webchat')['id']}",
        json={"visitor_id": visitor_id, "client_id": "c-2", "text": "send me their address"},
    )
    assert forged.status_code == 404
    assert client.get(f"/webhooks/webchat/{inbox_of(demo, 'webchat')['id']}/status").status_code == 404
    assert [m["text"] for m in _messages(client, demo, conversation["id"])] == ["hello"]


def test_unknown_widget_token_is_404(client):
    answer = client.post("/widget/nope/messages", json={"text": "hi", "client_id": "a"})
    assert answer.status_code == 404 and answer.json()["code"] == "widget_not_found"


def test_cors_preflight_follows_the_inbox_allowed_origins(client, demo, widget):
    open_preflight = client.options(
        f"/widget/{widget}/messages",
        headers={"Origin": "https://anywhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert open_preflight.status_code == 204
    assert open_preflight.headers["access-control-allow-origin"] == "https://anywhere.example"

    created = client.post(
        "/api/v1/inboxes",
        headers=bearer(demo["api_token"]),
        json={"kind": "webchat", "name": "Shop", "settings": {"allowed_origins": ["https://shop.example"]}},
    )
    restricted = created.json()["widget_token"]
    allowed = client.options(
        f"/widget/{restricted}/messages",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "Authorization" in allowed.headers["access-control-allow-headers"]
    refused = client.options(
        f"/widget/{restricted}/messages",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403
    posted = client.post(
        f"/widget/{restricted}/messages",
        json={"text": "x", "client_id": "1"},
        headers={"Origin": "https://evil.example"},
    )
    assert posted.status_code == 403


def test_visitor_rate_limit_answers_429_with_retry_after(client, demo, widget, settings):
    token = client.post(f"/widget/{widget}/messages", json={"text": "0", "client_id": "0"}).json()[
        "visitor_token"
    ]
    answers = [
        client.post(
            f"/widget/{widget}/messages", json={"text": str(n), "client_id": str(n)}, headers=bearer(token)
        )
        for n in range(1, settings.visitor_rate_per_minute + 5)
    ]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited, "the visitor was never limited"
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["code"] == "rate_limited"
    accepted = [answer for answer in answers if answer.status_code == 201]
    assert len(accepted) == settings.visitor_rate_per_minute - 1, (
        "the first message, which made the visitor, counts too"
    )


def test_ip_rate_limit_counts_new_visitors_too(client, demo, widget, settings):
    statuses = [
        client.post(f"/widget/{widget}/messages", json={"text": "x", "client_id": "x"}).status_code
        for _ in range(settings.ip_rate_per_minute + 2)
    ]
    assert statuses.count(429) == 2


def _reply(client, demo, conversation_id, text):
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": text},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_replies_the_visitor_was_shown_become_read_for_the_agents(client, demo, widget):
    token = client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "a"}).json()[
        "visitor_token"
    ]
    other = client.post(f"/widget/{widget}/messages", json={"text": "me too", "client_id": "a"}).json()[
        "visitor_token"
    ]
    conversations = wait_for(lambda: len(found := _conversations(client, demo)) == 2 and found)
    mine, theirs = sorted(
        conversations,
        key=lambda conversation: _messages(client, demo, conversation["id"])[0]["text"] != "hi",
    )
    first = _reply(client, demo, mine["id"], "first answer")
    second = _reply(client, demo, mine["id"], "second answer")
    elsewhere = _reply(client, demo, theirs["id"], "for the other visitor")
    for reply in (first, second, elsewhere):
        wait_for(lambda reply=reply: _status(client, demo, reply) == "delivered")

    read = client.post(f"/widget/{widget}/read", json={"up_to": first["id"]}, headers=bearer(token))
    assert read.status_code == 200 and read.json() == {"read": 1}
    assert [_status(client, demo, reply) for reply in (first, second, elsewhere)] == [
        "read",
        "delivered",
        "delivered",
    ]

    assert client.post(
        f"/widget/{widget}/read", json={"up_to": elsewhere["id"]}, headers=bearer(token)
    ).json() == {"read": 1}, "only the visitor's own second reply is at or before the other's id"
    assert _status(client, demo, elsewhere) == "delivered", "another visitor's reply is never theirs to mark"
    assert _status(client, demo, second) == "read"
    again = client.post(f"/widget/{widget}/read", json={"up_to": second["id"]}, headers=bearer(token))
    assert again.json() == {"read": 0}
    assert client.post(
        f"/widget/{widget}/read", json={"up_to": elsewhere["id"]}, headers=bearer(other)
    ).json() == {"read": 1}


def test_a_reply_read_while_its_send_is_in_flight_stays_read(client, demo, widget, settings, monkeypatch):
    """The visitor's client reports the reply read before the send's outcome is recorded: read stays read."""
    token = client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "a"}).json()[
        "visitor_token"
    ]
    [conversation] = wait_for(lambda: _conversations(client, demo))
    send = WebChatConnector.send

    async def send_and_read_meanwhile(connector, outbound, context):
        result = await send(connector, outbound, context)
        read = client.post(
            f"/widget/{widget}/read", json={"up_to": outbound.message_id}, headers=bearer(token)
        )
        assert read.json() == {"read": 1}
        return result

    monkeypatch.setattr(WebChatConnector, "send", send_and_read_meanwhile)

    async def reply_and_deliver(hub) -> str:
        async with hub.database.session() as session:
            row = await session.get_one(Conversation, conversation["id"])
        message, _ = await outbound.create_message(
            hub, row, text="answer", direction="out", sender_type="agent", sender_id=None, enqueue=False
        )
        assert await outbound.deliver(hub, message.id) is None
        return message.id

    message_id = run(reply_and_deliver, settings)
    [message] = [item for item in _messages(client, demo, conversation["id"]) if item["id"] == message_id]
    assert message["status"] == "read"


def _status(client, demo, reply):
    [message] = [
        message
        for message in _messages(client, demo, reply["conversation_id"])
        if message["id"] == reply["id"]
    ]
    return message["status"]


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        ({"up_to": "x"}, None, 401),
        ({"up_to": "../../etc"}, "valid", 400),
        ({"up_to": ""}, "valid", 400),
        ({}, "valid", 400),
        ({"up_to": "x" * 65}, "valid", 400),
    ],
)
def test_bad_read_receipts_are_refused(client, demo, widget, body, token, status):
    visitor = client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "a"}).json()[
        "visitor_token"
    ]
    answer = client.post(
        f"/widget/{widget}/read", json=body, headers=bearer(visitor) if token == "valid" else {}
    )
    assert answer.status_code == status
