"""The conversation list's `summaries`: each row's customer name and last message, masked as agents read
messages, notes left out."""

from __future__ import annotations

from tests.conftest import inbox_of, wait_for
from tests.hub.test_bot_conversations import Visitor
from tests.hub.test_contacts import api


def first_listed(client, demo, preview_start: str) -> dict:
    """The most recent conversation, once the customer's latest message (starting so) has been stored."""

    def stored() -> dict | None:
        page = api(client, demo, "GET", "/conversations").json()
        if not page["items"]:
            return None
        first = page["items"][0]
        return (
            first
            if (page["summaries"][first["id"]]["last_message"] or "").startswith(preview_start)
            else None
        )

    return wait_for(stored, timeout=10)


def test_each_listed_conversation_has_its_customer_and_last_message_masked_without_notes(
    client, demo
) -> None:
    visitor = Visitor(client, inbox_of(demo, "webchat")["widget_token"])
    visitor.say("first question")
    visitor.say("my card is 4111 1111 1111 1111")
    conversation = first_listed(client, demo, "my card")
    contact_id = conversation["contact_id"]
    assert api(client, demo, "PATCH", f"/contacts/{contact_id}", json={"name": "李雷"}).status_code == 200
    noted = api(
        client, demo, "POST", f"/conversations/{conversation['id']}/notes", json={"text": "VIP, be quick"}
    )
    assert noted.status_code == 201, noted.text

    page = api(client, demo, "GET", "/conversations").json()
    summary = page["summaries"][conversation["id"]]
    assert summary == {
        "contact_name": "李雷",
        "last_message": "my card is **** **** **** 1111",
        "last_message_direction": "in",
    }
    assert set(page["summaries"]) == {item["id"] for item in page["items"]}


def test_a_long_last_message_is_cut_for_the_row(client, demo) -> None:
    Visitor(client, inbox_of(demo, "webchat")["widget_token"]).say("x" * 500)
    conversation = first_listed(client, demo, "x")
    page = api(client, demo, "GET", "/conversations").json()
    assert page["summaries"][conversation["id"]]["last_message"] == "x" * 140
