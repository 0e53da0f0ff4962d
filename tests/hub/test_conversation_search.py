"""The conversation list's search and server-side filters: `q` finds conversations by their messages (notes
included) or their customer, pages with a stable cursor and stays in its workspace; `team_id` and `channel`
filter every page, not only the loaded one; a NUL, an over-long text or an unknown channel spelling answers 400."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_error_shape, bearer, inbox_of
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.workspaces import other_admin_token  # noqa: F401


def listed(client, token: str, **query: Any) -> list[str]:
    answer = client.get("/api/v1/conversations", params=query, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return [conversation["id"] for conversation in answer.json()["items"]]


def every_page(client, token: str, **query: Any) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/conversations", params=params, headers=bearer(token)).json()
        found += [conversation["id"] for conversation in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


@pytest.fixture
def chats(client, demo) -> dict[str, str]:
    """Four web chat conversations by what their customer wrote."""
    widget = inbox_of(demo, "webchat")["widget_token"]
    texts = ("My REFUND is late", "Where is my parcel?", "refund please, order 9", "100% wrong size")
    return {
        text: conversation_of(client, demo["api_token"], Visitor(client, widget).say(text)["id"])
        for text in texts
    }


def test_search_finds_messages_notes_and_customers_in_list_order(client, demo, chats) -> None:
    token = demo["api_token"]
    everything = listed(client, token, limit=100)
    refunds = [chats["My REFUND is late"], chats["refund please, order 9"]]
    assert listed(client, token, q="refund") == [id for id in everything if id in refunds]
    assert listed(client, token, q="  Refund  ") == listed(client, token, q="refund")
    assert listed(client, token, q="100%") == [chats["100% wrong size"]]
    assert listed(client, token, q="%") == [chats["100% wrong size"]]
    assert listed(client, token, q="nothing like this") == []

    parcel = chats["Where is my parcel?"]
    noted = client.post(
        f"/api/v1/conversations/{parcel}/notes", json={"text": "courier lost it"}, headers=bearer(token)
    )
    assert noted.status_code == 201, noted.text
    assert listed(client, token, q="courier LOST") == [parcel]

    detail = client.get(f"/api/v1/conversations/{parcel}", headers=bearer(token)).json()
    renamed = client.patch(
        f"/api/v1/contacts/{detail['contact_id']}", json={"name": "王芳"}, headers=bearer(token)
    )
    assert renamed.status_code == 200, renamed.text
    assert listed(client, token, q="芳") == [parcel]
    assert listed(client, token, q=detail["identity"]["value"]) == [parcel]


def test_search_pages_with_a_stable_cursor_and_keeps_the_other_filters(client, demo, chats) -> None:
    token = demo["api_token"]
    everything = listed(client, token, limit=100)
    matching = [id for id in everything if id != chats["100% wrong size"]]
    assert every_page(client, token, q="re", limit=1) == matching
    assert every_page(client, token, q="re", limit=2) == matching
    assert listed(client, token, q="refund", status="resolved") == []


@pytest.mark.parametrize(
    "query",
    [
        {"q": "refund\x00"},
        {"q": "line\nbreak"},
        {"q": "x" * 201},
        {"channel": "Web Chat"},
        {"team_id": "no/such"},
    ],
)
def test_bad_search_and_filter_values_answer_400(client, demo, query) -> None:
    answer = client.get("/api/v1/conversations", params=query, headers=bearer(demo["api_token"]))
    assert answer.status_code == 400, answer.text
    assert_error_shape(answer)
    assert next(iter(query)) in answer.text


def test_team_and_channel_filter_every_page(client, demo, chats) -> None:
    token = demo["api_token"]
    team = client.post("/api/v1/teams", json={"name": "Refunds"}, headers=bearer(token))
    assert team.status_code == 201, team.text
    handed = [chats["My REFUND is late"], chats["100% wrong size"]]
    for conversation_id in handed:
        moved = client.post(
            f"/api/v1/conversations/{conversation_id}/transfer",
            json={"team_id": team.json()["id"], "note": "refunds"},
            headers=bearer(token),
        )
        assert moved.status_code == 200, moved.text

    everything = listed(client, token, limit=100)
    assert every_page(client, token, team_id=team.json()["id"], limit=1) == [
        id for id in everything if id in handed
    ]
    assert every_page(client, token, channel="webchat", limit=3) == everything
    assert listed(client, token, channel="email") == []
    assert listed(client, token, channel="webchat", q="parcel") == [chats["Where is my parcel?"]]


def test_search_and_team_filter_stay_in_their_workspace(client, demo, chats, other_admin_token):  # noqa: F811
    assert listed(client, other_admin_token, q="refund") == []
    assert listed(client, other_admin_token, q="re", limit=100) == []
    team = client.post("/api/v1/teams", json={"name": "Rivals"}, headers=bearer(other_admin_token)).json()
    assert listed(client, demo["api_token"], team_id=team["id"]) == []
