"""Assignment end to end: web chat visitors write, the worker routes by the inbox's strategy to online team members
with room, the rest wait in the queue (VIP first) and are served the moment a seat frees; claim, transfer,
requeue when an agent goes offline or stays silent; bad input and other workspaces refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlmodel import col, select

from hub import assignment
from hub.auth import issue_token
from hub.models import Agent, Conversation, Message, OutboxEvent
from normalizer.webhook_signature import verify_webhook_signature
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401  (a fixture)

ROUTER_URL = "https://router.example.com/omnihub"
SIGNING_KEY = b"routing-key-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SIGNING_KEY).decode()


def make_agents(settings, workspace_id: str, names: list[str]) -> dict[str, dict[str, str]]:
    """Agents of the workspace, each with an API token: name → {"id", "token"}."""

    async def make(hub) -> dict[str, dict[str, str]]:
        made = {}
        async with hub.database.session() as session:
            rows = [
                Agent(
                    workspace_id=workspace_id, email=f"{name}@assign.test", name=name, password_hash="unused"
                )
                for name in names
            ]
            session.add_all(rows)
            await session.commit()
        for name, row in zip(names, rows, strict=True):
            made[name] = {"id": row.id, "token": await issue_token(hub, row, "test", None)}
        return made

    return run(make, settings)


@pytest.fixture
def desk(client, demo, settings) -> dict[str, Any]:
    """The demo web chat inbox routed least-busy to team "Support" (ann, bob), and carl outside the team."""
    admin = demo["api_token"]
    agents = make_agents(settings, demo["workspace_id"], ["ann", "bob", "carl"])
    team = client.post(
        "/api/v1/teams",
        json={"name": "Support", "agent_ids": [agents["ann"]["id"], agents["bob"]["id"]]},
        headers=bearer(admin),
    )
    assert team.status_code == 201, team.text
    inbox = inbox_of(demo, "webchat")
    routed = client.put(
        f"/api/v1/inboxes/{inbox['id']}/routing",
        json={"strategy": "least_busy", "team_id": team.json()["id"]},
        headers=bearer(admin),
    )
    assert routed.status_code == 200, routed.text
    return {
        "admin": admin,
        "agents": agents,
        "team": team.json(),
        "inbox": inbox,
        "workspace_id": demo["workspace_id"],
    }


def presence(client, agent: dict[str, str], state: str) -> None:
    answer = client.put("/api/v1/me/presence", json={"presence": state}, headers=bearer(agent["token"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["presence"] == state


def capacity(client, desk: dict[str, Any], name: str, seats: int) -> None:
    answer = client.patch(
        f"/api/v1/agents/{desk['agents'][name]['id']}",
        json={"max_concurrent": seats},
        headers=bearer(desk["admin"]),
    )
    assert answer.status_code == 200, answer.text


def new_conversation(client, desk: dict[str, Any], text: str = "Hello?") -> str:
    sent = Visitor(client, desk["inbox"]["widget_token"]).say(text)
    return conversation_of(client, desk["admin"], sent["id"])


def conversation(client, desk: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(desk["admin"]))
    assert answer.status_code == 200, answer.text
    return answer.json()


def assigned_to(client, desk: dict[str, Any], conversation_id: str, agent_id: str | None) -> dict[str, Any]:
    """Wait until the worker has given the conversation to `agent_id` (None: until it waits in the queue)."""
    return wait_for(
        lambda: (
            (found := conversation(client, desk, conversation_id))["assignee_id"] == agent_id
            and found["status"] == ("assigned" if agent_id else "queued")
            and found
        )
    )


def queue_ids(client, token: str) -> list[str]:
    answer = client.get("/api/v1/queue", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return [entry["conversation"]["id"] for entry in answer.json()]


def outbox(settings, event_type: str) -> list[dict[str, Any]]:
    async def read(hub) -> list[dict[str, Any]]:
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(OutboxEvent)
                    .where(OutboxEvent.event_type == event_type)
                    .order_by(col(OutboxEvent.created_at))
                )
            ).all()
        return [row.payload for row in rows]

    return run(read, settings)


def test_only_an_online_team_member_with_room_gets_it_and_the_queue_drains_when_a_seat_frees(
    client, desk, settings
):
    ann, bob, carl = (desk["agents"][name] for name in ("ann", "bob", "carl"))
    presence(client, carl, "online")
    capacity(client, desk, "ann", 1)
    first = new_conversation(client, desk)
    assert first in queue_ids(client, desk["admin"])

    presence(client, ann, "online")
    assigned_to(client, desk, first, ann["id"])
    second = new_conversation(client, desk, "Anyone there?")
    assert assigned_to(client, desk, second, None)["assignee_id"] is None
    assert queue_ids(client, desk["admin"]) == [second]

    presence(client, bob, "away")
    resolved = client.post(f"/api/v1/conversations/{first}/resolve", headers=bearer(ann["token"]))
    assert resolved.status_code == 200
    assert assigned_to(client, desk, second, ann["id"])["assigned_at"]
    assert queue_ids(client, desk["admin"]) == []
    assigned = [
        event for event in outbox(settings, "conversation.assigned") if event["previous_assignee_id"] is None
    ]
    assert [event["conversation"]["id"] for event in assigned] == [first, second]


def test_vip_customers_wait_first_and_raising_capacity_serves_them(client, desk, settings):
    ann = desk["agents"]["ann"]
    capacity(client, desk, "ann", 0)
    presence(client, ann, "online")
    ordinary = new_conversation(client, desk, "ordinary")
    vip = new_conversation(client, desk, "vip")

    contact_id = conversation(client, desk, vip)["contact_id"]
    made_vip = client.patch(
        f"/api/v1/contacts/{contact_id}", json={"vip_level": 3}, headers=bearer(desk["admin"])
    )
    assert made_vip.status_code == 200, made_vip.text
    entries = client.get("/api/v1/queue", headers=bearer(desk["admin"])).json()
    assert [(entry["conversation"]["id"], entry["vip_level"], entry["position"]) for entry in entries] == [
        (vip, 3, 1),
        (ordinary, 0, 2),
    ]
    capacity(client, desk, "ann", 1)
    assigned_to(client, desk, vip, ann["id"])
    assert queue_ids(client, desk["admin"]) == [ordinary]


def test_an_agent_going_offline_returns_their_conversations_to_the_queue(client, desk, settings):
    ann, bob = desk["agents"]["ann"], desk["agents"]["bob"]
    presence(client, ann, "online")
    waiting = new_conversation(client, desk)
    assigned_to(client, desk, waiting, ann["id"])
    presence(client, ann, "offline")
    assigned_to(client, desk, waiting, None)
    requeued = outbox(settings, "conversation.requeued")
    assert [(event["previous_assignee_id"], event["reason"]) for event in requeued] == [
        (ann["id"], "agent_offline")
    ]
    presence(client, bob, "online")
    assigned_to(client, desk, waiting, bob["id"])


def presence_of(client, desk: dict[str, Any], agent_id: str) -> str:
    agents = client.get("/api/v1/agents", headers=bearer(desk["admin"])).json()
    return next(agent["presence"] for agent in agents if agent["id"] == agent_id)


def test_an_agent_in_two_tabs_keeps_away_and_their_conversations_until_the_last_tab_closes(client, desk):
    """Each inbox tab has its socket: a second one opening keeps the presence chosen, one closing changes nothing
    while another stays open, and the last one closing sets the agent offline (their conversations requeued)."""
    ann = desk["agents"]["ann"]
    address = f"/api/v1/agent/ws?token={ann['token']}"
    with client.websocket_connect(address) as first_tab:
        assert first_tab.receive_json()["type"] == "ready"
        assert presence_of(client, desk, ann["id"]) == "online"
        waiting = new_conversation(client, desk)
        assigned_to(client, desk, waiting, ann["id"])
        presence(client, ann, "away")
        with client.websocket_connect(address) as second_tab:
            assert second_tab.receive_json()["type"] == "ready"
            assert presence_of(client, desk, ann["id"]) == "away"
        assert presence_of(client, desk, ann["id"]) == "away"
        presence(client, ann, "online")
        with client.websocket_connect(address) as third_tab:
            assert third_tab.receive_json()["type"] == "ready"
        assert presence_of(client, desk, ann["id"]) == "online"
        assert conversation(client, desk, waiting)["assignee_id"] == ann["id"]
    assert presence_of(client, desk, ann["id"]) == "offline"
    assigned_to(client, desk, waiting, None)


def test_an_agent_silent_past_the_answer_timeout_loses_it_to_another(client, desk, settings):
    ann, bob = desk["agents"]["ann"], desk["agents"]["bob"]
    client.put(
        f"/api/v1/inboxes/{desk['inbox']['id']}/routing",
        json={"strategy": "round_robin", "team_id": desk["team"]["id"], "answer_timeout_seconds": 60},
        headers=bearer(desk["admin"]),
    ).raise_for_status()
    presence(client, ann, "online")
    silent, answered = new_conversation(client, desk, "one"), new_conversation(client, desk, "two")
    assigned_to(client, desk, silent, ann["id"])
    assigned_to(client, desk, answered, ann["id"])
    reply = client.post(
        f"/api/v1/conversations/{answered}/messages", json={"text": "On it!"}, headers=bearer(ann["token"])
    )
    assert reply.status_code == 201, reply.text
    presence(client, bob, "online")

    async def an_hour_later(hub) -> list[Any]:
        async with hub.database.session() as session:
            for conversation_id in (silent, answered):
                row = await session.get_one(Conversation, conversation_id)
                row.assigned_at = row.assigned_at - timedelta(hours=1)
                session.add(row)
            messages = (await session.exec(select(Message).where(Message.conversation_id == answered))).all()
            for message in messages:
                message.created_at = message.created_at - timedelta(minutes=30)
                session.add(message)
            await session.commit()
        return await assignment.reroute_workspace(hub, desk["workspace_id"])

    requeues = run(an_hour_later, settings)
    assert [(each.conversation_id, each.reason.value) for each in requeues] == [(silent, "answer_timeout")]
    assert conversation(client, desk, silent)["assignee_id"] == bob["id"]
    assert conversation(client, desk, answered)["assignee_id"] == ann["id"]


def test_claim_from_a_manual_queue(client, desk, other_token):  # noqa: F811
    ann, carl = desk["agents"]["ann"], desk["agents"]["carl"]
    client.put(
        f"/api/v1/inboxes/{desk['inbox']['id']}/routing",
        json={"strategy": "manual", "team_id": desk["team"]["id"]},
        headers=bearer(desk["admin"]),
    ).raise_for_status()
    presence(client, ann, "online")
    presence(client, carl, "online")
    waiting = new_conversation(client, desk)
    assert assigned_to(client, desk, waiting, None)
    assert queue_ids(client, other_token) == []

    path = f"/api/v1/conversations/{waiting}/claim"
    refused = client.post(path, headers=bearer(carl["token"]))
    assert refused.status_code == 409 and "not_in_team" in refused.json()["detail"]
    assert_error_shape(refused)
    assert client.post(path, headers=bearer(other_token)).status_code == 404
    claimed = client.post(path, headers=bearer(ann["token"]))
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee_id"] == ann["id"] and claimed.json()["status"] == "assigned"
    again = client.post(path, headers=bearer(ann["token"]))
    assert again.status_code == 409 and "already_assigned" in again.json()["detail"]


def test_transfer_to_an_agent_or_a_team_with_a_note(client, desk, settings, other_token):  # noqa: F811
    ann, bob, carl = (desk["agents"][name] for name in ("ann", "bob", "carl"))
    presence(client, ann, "online")
    waiting = new_conversation(client, desk)
    assigned_to(client, desk, waiting, ann["id"])
    path = f"/api/v1/conversations/{waiting}/transfer"

    offline = client.post(path, json={"agent_id": bob["id"]}, headers=bearer(ann["token"]))
    assert offline.status_code == 409 and "offline" in offline.json()["detail"]
    presence(client, carl, "online")
    moved = client.post(
        path, json={"agent_id": carl["id"], "note": "Wants a refund"}, headers=bearer(ann["token"])
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["assignee_id"] == carl["id"]
    notes = client.get(f"/api/v1/conversations/{waiting}/messages", headers=bearer(carl["token"])).json()[
        "items"
    ]
    assert [(note["direction"], note["text"]) for note in notes if note["direction"] == "note"] == [
        ("note", "Wants a refund")
    ]

    to_team = client.post(path, json={"team_id": desk["team"]["id"]}, headers=bearer(carl["token"]))
    assert to_team.status_code == 200, to_team.text
    assert to_team.json()["team_id"] == desk["team"]["id"]
    assigned_to(client, desk, waiting, ann["id"])
    transfers = outbox(settings, "conversation.transferred")
    assert [(event["to_agent_id"], event["to_team_id"], event["note"]) for event in transfers] == [
        (carl["id"], None, "Wants a refund"),
        (None, desk["team"]["id"], ""),
    ]

    for body in ({}, {"agent_id": carl["id"], "team_id": desk["team"]["id"]}):
        both = client.post(path, json=body, headers=bearer(ann["token"]))
        assert both.status_code == 422 and both.json()["code"] == "invalid_input", both.text
    other_agent = client.get("/api/v1/me", headers=bearer(other_token)).json()["agent"]["id"]
    for body in ({"agent_id": other_agent}, {"team_id": "no-such-team"}):
        foreign = client.post(path, json=body, headers=bearer(ann["token"]))
        assert foreign.status_code == 422, foreign.text
        assert_error_shape(foreign)


@pytest.fixture
def router() -> Iterator[respx.Router]:
    with respx.mock(assert_all_called=False) as mocked:
        yield mocked


def use_external(client, desk: dict[str, Any], **extra: Any) -> None:
    answer = client.put(
        f"/api/v1/inboxes/{desk['inbox']['id']}/routing",
        json={
            "strategy": "external",
            "fallback": "least_busy",
            "team_id": desk["team"]["id"],
            "external": {"url": ROUTER_URL, "secret": SECRET, "timeout_seconds": 2, **extra},
        },
        headers=bearer(desk["admin"]),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["external"] == {"url": ROUTER_URL, "timeout_seconds": 2.0, "secret_set": True}


def test_the_external_service_is_asked_signed_and_its_agent_takes_it(client, desk, router):
    ann, bob = desk["agents"]["ann"], desk["agents"]["bob"]
    use_external(client, desk)
    presence(client, ann, "online")
    presence(client, bob, "online")
    route = router.post(ROUTER_URL).respond(json={"agent_id": bob["id"]})
    waiting = new_conversation(client, desk)
    assigned_to(client, desk, waiting, bob["id"])
    request = route.calls.last.request
    sent = json.loads(request.content)
    assert sent["type"] == "routing.requested" and sent["conversation_id"] == waiting
    assert verify_webhook_signature(
        SIGNING_KEY,
        request.headers["webhook-id"],
        int(request.headers["webhook-timestamp"]),
        request.content,
        request.headers["webhook-signature"],
    )


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500), httpx.ConnectTimeout("no answer"), httpx.Response(200, json={"agent_id": 7})],
    ids=["server error", "timeout", "bad answer"],
)
def test_the_fallback_strategy_decides_when_the_external_service_fails(client, desk, router, failure):
    ann = desk["agents"]["ann"]
    use_external(client, desk)
    presence(client, ann, "online")
    route = router.post(ROUTER_URL)
    if isinstance(failure, Exception):
        route.side_effect = failure
    else:
        route.return_value = failure
    waiting = new_conversation(client, desk)
    assigned_to(client, desk, waiting, ann["id"])
    assert route.called


def test_bad_routing_settings_are_refused_and_change_nothing(client, desk, other_token):  # noqa: F811
    path = f"/api/v1/inboxes/{desk['inbox']['id']}/routing"
    before = client.get(path, headers=bearer(desk["admin"])).json()
    other_team = client.post("/api/v1/teams", json={"name": "Theirs"}, headers=bearer(other_token))
    assert other_team.status_code == 403
    cases = [
        ({"strategy": "fastest"}, 400),
        ({"strategy": "weighted", "weights": {"vip": -1}}, 400),
        ({"strategy": "least_busy", "answer_timeout_seconds": 0}, 400),
        ({"strategy": "least_busy", "surprise": True}, 400),
        ({"strategy": "external"}, 422),
        (
            {
                "strategy": "external",
                "fallback": "external",
                "external": {"url": ROUTER_URL, "secret": SECRET},
            },
            422,
        ),
        (
            {"strategy": "external", "external": {"url": "http://169.254.169.254/route", "secret": SECRET}},
            422,
        ),
        ({"strategy": "least_busy", "team_id": "no-such-team"}, 422),
    ]
    for body, status in cases:
        answer = client.put(path, json=body, headers=bearer(desk["admin"]))
        assert answer.status_code == status, (body, answer.text)
        assert_error_shape(answer)
    agent_token = desk["agents"]["ann"]["token"]
    assert client.put(path, json={"strategy": "manual"}, headers=bearer(agent_token)).status_code == 403
    assert client.put(path, json={"strategy": "manual"}, headers=bearer(other_token)).status_code == 403
    assert client.get(path, headers=bearer(other_token)).status_code == 404
    assert client.get(path, headers=bearer(desk["admin"])).json() == before
    assert before["strategy"] == "least_busy" and before["team_id"] == desk["team"]["id"]


def test_teams_and_agents_are_checked_and_kept_to_their_workspace(client, desk, other_token):  # noqa: F811
    admin, ann = desk["admin"], desk["agents"]["ann"]
    other_agent = client.get("/api/v1/me", headers=bearer(other_token)).json()["agent"]["id"]
    members = f"/api/v1/teams/{desk['team']['id']}/members"
    foreign = client.put(members, json={"agent_ids": [ann["id"], other_agent]}, headers=bearer(admin))
    assert foreign.status_code == 422 and foreign.json()["code"] == "agent_not_found"
    assert client.post("/api/v1/teams", json={"name": "Support"}, headers=bearer(admin)).status_code == 409
    assert client.post("/api/v1/teams", json={"name": "  "}, headers=bearer(admin)).status_code == 422
    assert (
        client.put(members, json={"agent_ids": [ann["id"]]}, headers=bearer(ann["token"])).status_code == 403
    )
    changed = client.put(members, json={"agent_ids": [ann["id"]]}, headers=bearer(admin))
    assert changed.status_code == 200 and changed.json()["agent_ids"] == [ann["id"]]
    teams = client.get("/api/v1/teams", headers=bearer(admin)).json()
    assert [(team["name"], team["agent_ids"]) for team in teams] == [("Support", [ann["id"]])]
    assert client.get("/api/v1/teams", headers=bearer(other_token)).json() == []

    agent_path = f"/api/v1/agents/{ann['id']}"
    for body in ({"max_concurrent": -1}, {"max_concurrent": "many"}, {"skills": ["a\nb"]}):
        assert client.patch(agent_path, json=body, headers=bearer(admin)).status_code == 400, body
    assert (
        client.patch(agent_path, json={"max_concurrent": 3}, headers=bearer(other_token)).status_code == 403
    )
    updated = client.patch(
        agent_path, json={"max_concurrent": 3, "skills": ["billing", "billing"]}, headers=bearer(admin)
    )
    assert updated.status_code == 200
    assert {key: updated.json()[key] for key in ("max_concurrent", "skills", "team_ids")} == {
        "max_concurrent": 3,
        "skills": ["billing"],
        "team_ids": [desk["team"]["id"]],
    }
    assert (
        client.put("/api/v1/me/presence", json={"presence": "busy"}, headers=bearer(ann["token"])).status_code
        == 400
    )
