"""Internal notes through the API: listed apart from the messages and paged, deleted by their author or an admin
only, each deletion an outbox event and a frame on the agents' socket so open inboxes drop the note."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from hub.models import OutboxEvent
from tests.conftest import assert_error_shape, bearer, inbox_of, run
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_contacts import _plain_agent_token
from tests.hub.test_conversation_lifecycle import frames_until
from tests.hub.workspaces import other_admin_token  # noqa: F401


def note(client, token: str, conversation_id: str, text: str) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/notes", json={"text": text}, headers=bearer(token)
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def notes(client, token: str, conversation_id: str, **query: Any) -> Any:
    return client.get(f"/api/v1/conversations/{conversation_id}/notes", params=query, headers=bearer(token))


@pytest.fixture
def chat(client, demo) -> str:
    sent = Visitor(client, inbox_of(demo, "webchat")["widget_token"]).say("My parcel is late")
    return conversation_of(client, demo["api_token"], sent["id"])


@pytest.fixture
def agent_token(settings, demo) -> str:
    return run(_plain_agent_token, settings)


def test_notes_are_listed_apart_from_the_messages_and_paged(client, demo, chat):
    token = demo["api_token"]
    written = [note(client, token, chat, f"note {number}")["id"] for number in range(5)]
    reply = client.post(
        f"/api/v1/conversations/{chat}/messages",
        json={"text": "On its way", "client_id": "r1"},
        headers=bearer(token),
    )
    assert reply.status_code == 201
    seen, cursor = [], None
    while True:
        page = notes(client, token, chat, limit=2, **({"cursor": cursor} if cursor else {})).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert [each["id"] for each in seen] == written
    assert {each["direction"] for each in seen} == {"note"}
    assert [each["text"] for each in seen] == [f"note {number}" for number in range(5)]
    bad = notes(client, token, chat, cursor="not an id")
    assert bad.status_code == 400
    assert_error_shape(bad)


def test_the_author_deletes_a_note_and_open_inboxes_hear_of_it(client, demo, settings, chat, agent_token):
    mine = note(client, agent_token, chat, "I called the courier")
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as socket:
        assert socket.receive_json()["type"] == "ready"
        deleted = client.delete(
            f"/api/v1/conversations/{chat}/notes/{mine['id']}", headers=bearer(agent_token)
        )
        assert deleted.status_code == 204, deleted.text
        frame = frames_until(socket, "note.deleted")[-1]
    assert frame == {
        "type": "note.deleted",
        "note_id": mine["id"],
        "conversation_id": chat,
        "actor_type": "agent",
    }
    assert notes(client, agent_token, chat).json()["items"] == []
    messages = client.get(f"/api/v1/conversations/{chat}/messages", headers=bearer(agent_token)).json()[
        "items"
    ]
    assert mine["id"] not in [message["id"] for message in messages]

    async def recorded(hub) -> list[dict[str, Any]]:
        async with hub.database.session() as session:
            rows = await session.exec(select(OutboxEvent).where(OutboxEvent.event_type == "note.deleted"))
            return [row.payload for row in rows]

    assert [each["note_id"] for each in run(recorded, settings)] == [mine["id"]]
    again = client.delete(f"/api/v1/conversations/{chat}/notes/{mine['id']}", headers=bearer(agent_token))
    assert again.status_code == 404 and again.json()["code"] == "note_not_found"


def test_only_its_author_or_an_admin_deletes_a_note(client, demo, chat, agent_token):
    admins = note(client, demo["api_token"], chat, "Refund approved")
    refused = client.delete(f"/api/v1/conversations/{chat}/notes/{admins['id']}", headers=bearer(agent_token))
    assert refused.status_code == 403, refused.text
    assert_error_shape(refused)
    assert refused.json()["code"] == "not_note_author"
    assert [each["id"] for each in notes(client, agent_token, chat).json()["items"]] == [admins["id"]]
    agents = note(client, agent_token, chat, "Customer prefers email")
    by_admin = client.delete(
        f"/api/v1/conversations/{chat}/notes/{agents['id']}", headers=bearer(demo["api_token"])
    )
    assert by_admin.status_code == 204
    assert [each["id"] for each in notes(client, agent_token, chat).json()["items"]] == [admins["id"]]


def test_a_message_is_not_deleted_as_a_note(client, demo, chat):
    token = demo["api_token"]
    [message] = client.get(f"/api/v1/conversations/{chat}/messages", headers=bearer(token)).json()["items"]
    answer = client.delete(f"/api/v1/conversations/{chat}/notes/{message['id']}", headers=bearer(token))
    assert answer.status_code == 404 and answer.json()["code"] == "note_not_found"
    bad_id = client.delete(f"/api/v1/conversations/{chat}/notes/not%20an%20id", headers=bearer(token))
    assert bad_id.status_code == 400
    assert_error_shape(bad_id)
    assert (
        len(client.get(f"/api/v1/conversations/{chat}/messages", headers=bearer(token)).json()["items"]) == 1
    )


def test_another_workspace_neither_reads_nor_deletes_the_notes(client, demo, chat, other_admin_token):  # noqa: F811
    written = note(client, demo["api_token"], chat, "secret")
    assert notes(client, other_admin_token, chat).status_code == 404
    path = f"/api/v1/conversations/{chat}/notes/{written['id']}"
    assert client.delete(path, headers=bearer(other_admin_token)).status_code == 404
    assert len(notes(client, demo["api_token"], chat).json()["items"]) == 1
