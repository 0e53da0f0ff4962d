"""@mentions recorded by the server: a note naming agents of its workspace as "@Their Name" gives each (its author
excepted) an unread mention listed at `GET /api/v1/me/mentions`, read when they open the conversation, gone with
the note, and never seen or marked from another workspace."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from hub.auth import issue_token
from hub.crypto import hash_password
from hub.mentions import named
from hub.models import Agent, OutboxEvent, Workspace
from tests.conftest import assert_error_shape, bearer, run
from tests.hub.test_conversation_lifecycle import frames_until
from tests.hub.test_conversation_notes import chat, note  # noqa: F401
from tests.hub.workspaces import token_of_another_workspace


def agent_of_demo(settings, name: str, email: str) -> tuple[str, str]:
    """A new agent of the demo workspace: (its id, an API token of it)."""

    async def make(hub) -> tuple[str, str]:
        async with hub.database.session() as session:
            workspace = (await session.exec(select(Workspace))).first()
            agent = Agent(
                workspace_id=workspace.id, email=email, name=name, password_hash=hash_password("x" * 12)
            )
            session.add(agent)
            await session.commit()
        return agent.id, await issue_token(hub, agent, "test", None)

    return run(make, settings)


def mentions_of(client, token: str, **query: Any) -> Any:
    return client.get("/api/v1/me/mentions", params=query, headers=bearer(token))


def mark_read(client, token: str, body: Any) -> Any:
    return client.post("/api/v1/me/mentions/read", json=body, headers=bearer(token))


@pytest.fixture
def team(settings, demo) -> dict[str, tuple[str, str]]:
    return {
        "ann": agent_of_demo(settings, "Ann", "ann@example.com"),
        "ann lee": agent_of_demo(settings, "Ann Lee", "ann.lee@example.com"),
        "bo": agent_of_demo(settings, "Bo", "bo@example.com"),
    }


def test_the_longest_name_that_fits_wins_in_any_case_and_not_inside_a_word() -> None:
    agents = [("ann", "Ann"), ("lee", "Ann Lee"), ("bo", "Bo"), ("nameless", "")]
    assert named("@ann lee, and @BO: look", agents) == ["lee", "bo"]
    assert named("@Ann, @Ann Leeward @bob mail@Bo @Bo2 @Bo", agents) == ["ann", "bo"]
    assert named("@Ann\n@Ann", agents) == ["ann"]
    assert named("no mention", agents) == [] and named("@", agents) == []
    assert named("@bo", [*agents, ("bo2", "BO")]) == ["bo", "bo2"]


def test_a_note_records_a_mention_for_the_named_agents_only(client, demo, settings, chat, team):  # noqa: F811
    ann_id, ann_token = team["ann"]
    lee_id, lee_token = team["ann lee"]
    _bo_id, bo_token = team["bo"]
    namesake = token_of_another_workspace(
        settings, workspace="Bo", email="bo@rival.example.com", role="agent"
    )
    with client.websocket_connect(f"/api/v1/agent/ws?token={lee_token}") as socket:
        assert socket.receive_json()["type"] == "ready"
        written = note(client, ann_token, chat, "@Ann Lee and @bo, please call back. @Ann noted.")
        frame = frames_until(socket, "note.mentioned")[-1]
    assert frame["note_id"] == written["id"] and frame["author_id"] == ann_id
    assert frame["agent_ids"][0] == lee_id and len(frame["agent_ids"]) == 2
    [lees] = mentions_of(client, lee_token, unread="true").json()["items"]
    assert lees["conversation_id"] == chat and lees["note_id"] == written["id"]
    assert lees["author_id"] == ann_id and lees["read_at"] is None and lees["created_at"]
    assert len(mentions_of(client, bo_token).json()["items"]) == 1
    assert mentions_of(client, ann_token).json()["items"] == []
    assert mentions_of(client, namesake).json()["items"] == []
    assert mentions_of(client, demo["api_token"]).json()["items"] == []

    async def recorded(hub) -> list[dict[str, Any]]:
        async with hub.database.session() as session:
            rows = await session.exec(select(OutboxEvent).where(OutboxEvent.event_type == "note.mentioned"))
            return [row.payload for row in rows]

    assert [event["agent_ids"] for event in run(recorded, settings)] == [frame["agent_ids"]]


def test_mentions_are_listed_newest_first_and_paged(client, chat, team):  # noqa: F811
    _ann_id, ann_token = team["ann"]
    _bo_id, bo_token = team["bo"]
    written = [note(client, ann_token, chat, f"@Bo number {number}")["id"] for number in range(3)]
    note(client, ann_token, chat, "nobody named")
    first = mentions_of(client, bo_token, limit=2).json()
    assert [each["note_id"] for each in first["items"]] == written[:0:-1]
    rest = mentions_of(client, bo_token, limit=2, cursor=first["next_cursor"]).json()
    assert [each["note_id"] for each in rest["items"]] == written[:1] and rest["next_cursor"] is None
    bad = mentions_of(client, bo_token, cursor="not an id")
    assert bad.status_code == 400
    assert_error_shape(bad)


def test_opening_the_conversation_marks_its_mentions_read(client, demo, chat, team):  # noqa: F811
    _ann_id, ann_token = team["ann"]
    _bo_id, bo_token = team["bo"]
    note(client, ann_token, chat, "@Bo first")
    note(client, ann_token, chat, "@Bo second")
    assert mark_read(client, ann_token, {"conversation_id": chat}).json() == {"marked": 0}
    assert len(mentions_of(client, bo_token, unread="true").json()["items"]) == 2
    answer = mark_read(client, bo_token, {"conversation_id": chat})
    assert answer.status_code == 200 and answer.json() == {"marked": 2}
    assert mentions_of(client, bo_token, unread="true").json()["items"] == []
    both = mentions_of(client, bo_token).json()["items"]
    assert len(both) == 2 and all(each["read_at"] for each in both)
    assert mark_read(client, bo_token, {"conversation_id": chat}).json() == {"marked": 0}


def test_a_deleted_note_takes_its_mentions_with_it(client, chat, team):  # noqa: F811
    _ann_id, ann_token = team["ann"]
    _bo_id, bo_token = team["bo"]
    kept = note(client, ann_token, chat, "@Bo keep this")
    dropped = note(client, ann_token, chat, "@Bo drop this")
    deleted = client.delete(f"/api/v1/conversations/{chat}/notes/{dropped['id']}", headers=bearer(ann_token))
    assert deleted.status_code == 204, deleted.text
    assert [each["note_id"] for each in mentions_of(client, bo_token).json()["items"]] == [kept["id"]]


def test_another_workspace_neither_sees_nor_marks_the_mentions(client, settings, chat, team):  # noqa: F811
    _ann_id, ann_token = team["ann"]
    _bo_id, bo_token = team["bo"]
    note(client, ann_token, chat, "@Bo over to you")
    namesake = token_of_another_workspace(
        settings, workspace="Bo", email="bo@rival.example.com", role="admin"
    )
    refused = mark_read(client, namesake, {"conversation_id": chat})
    assert refused.status_code == 404 and refused.json()["code"] == "conversation_not_found"
    assert mentions_of(client, namesake).json()["items"] == []
    assert len(mentions_of(client, bo_token, unread="true").json()["items"]) == 1


def test_bad_input_is_refused(client, demo, chat, team):  # noqa: F811
    _bo_id, bo_token = team["bo"]
    unknown = mark_read(client, bo_token, {"conversation_id": "0" * 36})
    assert unknown.status_code == 404 and unknown.json()["code"] == "conversation_not_found"
    assert_error_shape(unknown)
    for body in ({}, {"conversation_id": 7}, {"conversation_id": "not an id"}):
        refused = mark_read(client, bo_token, body)
        assert refused.status_code == 400, refused.text
        assert_error_shape(refused)
    assert "conversation_id" in mark_read(client, bo_token, {}).text
    assert mentions_of(client, bo_token, unread="maybe").status_code == 400
    assert mentions_of(client, bo_token, limit=0).status_code == 400


def test_an_integration_token_has_no_mentions(client, demo, chat):  # noqa: F811
    made = client.post(
        "/api/v1/tokens", json={"name": "CRM", "scopes": ["read", "write"]}, headers=bearer(demo["api_token"])
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    listed = mentions_of(client, token)
    assert listed.status_code == 403 and listed.json()["code"] == "agent_only"
    assert mark_read(client, token, {"conversation_id": chat}).status_code == 403
