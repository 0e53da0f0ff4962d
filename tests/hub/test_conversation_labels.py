"""Conversation labels through the API: a PUT replaces the set (normalised), the list filters by one, the workspace's
labels are counted, each change is an outbox event and a frame on the agents' socket; bad labels answer 400."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from hub.models import OutboxEvent
from tests.conftest import assert_error_shape, bearer, inbox_of, run
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_conversation_lifecycle import frames_until
from tests.hub.workspaces import other_admin_token  # noqa: F401


def label(client, token: str, conversation_id: str, labels: list[Any]) -> Any:
    return client.put(
        f"/api/v1/conversations/{conversation_id}/labels", json={"labels": labels}, headers=bearer(token)
    )


def listed(client, token: str, **query: Any) -> list[str]:
    answer = client.get("/api/v1/conversations", params=query, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return [conversation["id"] for conversation in answer.json()["items"]]


@pytest.fixture
def two_chats(client, demo) -> list[str]:
    """Two web chat visitors' conversations (newest first, as the list orders them)."""
    widget = inbox_of(demo, "webchat")["widget_token"]
    found = []
    for text in ("Refund my order", "Where is my parcel?"):
        sent = Visitor(client, widget).say(text)
        found.append(conversation_of(client, demo["api_token"], sent["id"]))
    return found[::-1]


def test_labels_replace_the_set_filter_the_list_and_are_counted(client, demo, settings, two_chats):
    token = demo["api_token"]
    newer, older = two_chats
    with client.websocket_connect(f"/api/v1/agent/ws?token={token}") as socket:
        assert socket.receive_json()["type"] == "ready"
        answer = label(client, token, older, ["  Refund ", "VIP", "refund", "退款"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == older and answer.json()["labels"] == ["refund", "vip", "退款"]
        frame = frames_until(socket, "conversation.labels_changed")[-1]
    assert frame["conversation"]["labels"] == ["refund", "vip", "退款"]
    assert frame["added"] == ["refund", "vip", "退款"] and frame["removed"] == []
    assert label(client, token, newer, ["vip"]).status_code == 200
    replaced = label(client, token, older, ["refund", "late-delivery"])
    assert replaced.json()["labels"] == ["late-delivery", "refund"]
    detail = client.get(f"/api/v1/conversations/{older}", headers=bearer(token)).json()
    assert detail["labels"] == ["late-delivery", "refund"]

    assert listed(client, token, label="refund") == [older]
    assert listed(client, token, label="VIP") == [newer]
    assert listed(client, token, label="vip", status="open") == [newer]
    assert listed(client, token, label="vip", status="resolved") == []
    assert listed(client, token, label="退款") == []
    counts = client.get("/api/v1/labels", headers=bearer(token)).json()
    assert counts == {
        "items": [
            {"label": "late-delivery", "conversations": 1},
            {"label": "refund", "conversations": 1},
            {"label": "vip", "conversations": 1},
        ],
        "next_cursor": None,
    }

    async def recorded(hub) -> list[dict[str, Any]]:
        async with hub.database.session() as session:
            rows = await session.exec(
                select(OutboxEvent).where(OutboxEvent.event_type == "conversation.labels_changed")
            )
            return [row.payload for row in rows]

    changes = run(recorded, settings)
    assert [(each["added"], each["removed"]) for each in changes] == [
        (["refund", "vip", "退款"], []),
        (["vip"], []),
        (["late-delivery"], ["vip", "退款"]),
    ]
    assert label(client, token, older, ["Refund", "late-delivery"]).status_code == 200
    assert len(run(recorded, settings)) == 3, "an unchanged set sends no event"
    assert label(client, token, older, []).json()["labels"] == []
    assert listed(client, token, label="refund") == []


def test_the_workspaces_labels_are_paged_in_label_order(client, demo, two_chats):
    token = demo["api_token"]
    assert label(client, token, two_chats[0], ["a", "b", "c"]).status_code == 200
    assert label(client, token, two_chats[1], ["b", "d", "é"]).status_code == 200
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/labels",
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=bearer(token),
        ).json()
        seen += [(each["label"], each["conversations"]) for each in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [("a", 1), ("b", 2), ("c", 1), ("d", 1), ("é", 1)]
    refused = client.get("/api/v1/labels", params={"cursor": "bm90IGEgbGFiZWw"}, headers=bearer(token))
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        (["two words"], "labels[0]"),
        (["ok", ""], "labels[1]"),
        (["a" * 41], "labels[0]"),
        (["<b>"], "labels[0]"),
        (["emoji🙂"], "labels[0]"),
        ([f"label-{number}" for number in range(21)], "labels"),
    ],
)
def test_a_bad_label_answers_400_naming_it_and_changes_nothing(client, demo, two_chats, labels, field):
    token = demo["api_token"]
    assert label(client, token, two_chats[0], ["kept"]).status_code == 200
    refused = label(client, token, two_chats[0], labels)
    assert refused.status_code == 400, refused.text
    assert_error_shape(refused)
    assert refused.json()["code"] == "invalid_label"
    assert refused.json()["errors"][0]["field"] == field
    detail = client.get(f"/api/v1/conversations/{two_chats[0]}", headers=bearer(token)).json()
    assert detail["labels"] == ["kept"]


def test_bad_label_requests_are_refused(client, demo, two_chats):
    token = demo["api_token"]
    for body in ({}, {"labels": "refund"}, {"labels": [1]}, {"labels": ["x"], "extra": 1}):
        answer = client.put(f"/api/v1/conversations/{two_chats[0]}/labels", json=body, headers=bearer(token))
        assert answer.status_code == 400, (body, answer.text)
        assert_error_shape(answer)
    bad_filter = client.get("/api/v1/conversations", params={"label": "two words"}, headers=bearer(token))
    assert bad_filter.status_code == 400 and bad_filter.json()["code"] == "invalid_label"
    assert client.put(f"/api/v1/conversations/{two_chats[0]}/labels", json={"labels": []}).status_code == 401


def test_another_workspace_neither_labels_nor_counts_this_ones(client, demo, two_chats, other_admin_token):  # noqa: F811
    assert label(client, demo["api_token"], two_chats[0], ["vip"]).status_code == 200
    assert label(client, other_admin_token, two_chats[0], ["stolen"]).status_code == 404
    assert client.get("/api/v1/labels", headers=bearer(other_admin_token)).json()["items"] == []
    assert listed(client, other_admin_token, label="vip") == []
