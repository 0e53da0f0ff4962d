"""The conversation's life end to end, through web chat and WeChat: resolve, pending, snooze until a time, reopen by
the customer within the inbox's window (a new linked conversation after it) or by an agent's reply, each change an
outbox event and a frame on the agents' socket; bad changes refused with a clear message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from hub.lifecycle import wake_snoozed
from hub.models import OutboxEvent
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_wechat_channel import deliveries, oa_text, post
from tests.hub.test_wechat_channel import wechat_api as wechat_api  # a fixture

OPEN = ("queued", "assigned")


def outbox(settings, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's lifecycle and message events in the outbox, in the order they were recorded."""

    async def read(hub) -> list[dict[str, Any]]:
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(OutboxEvent)
                    .where(col(OutboxEvent.subject_id).is_not(None))
                    .order_by(col(OutboxEvent.id))
                )
            ).all()
        return [
            {"type": row.event_type, **row.payload}
            for row in rows
            if row.subject_id == conversation_id
            or row.payload.get("conversation", {}).get("id") == conversation_id
        ]

    return run(read, settings)


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """The conversation's own events, leaving out who holds it (the agent's socket sets them online and offline,
    and routing follows)."""
    return [
        event["type"]
        for event in events
        if event["type"].startswith("conversation.")
        and event["type"] not in ("conversation.assigned", "conversation.requeued")
    ]


def frames_until(socket, event_type: str) -> list[dict[str, Any]]:
    """The socket's frames up to and including the first of `event_type`."""
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("type") != event_type:
        frames.append(socket.receive_json(timeout=10))
    return frames


def detail(client, token: str, conversation_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()


def texts(client, token: str, conversation_id: str) -> list[str]:
    answer = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(token))
    return [message["text"] for message in answer.json()["items"]]


def change(client, token: str, conversation_id: str, status: str, **extra: Any) -> Any:
    return client.post(
        f"/api/v1/conversations/{conversation_id}/status",
        json={"status": status, **extra},
        headers=bearer(token),
    )


@pytest.fixture
def chat(client, demo) -> dict[str, Any]:
    """A web chat visitor's conversation, and the admin's token."""
    visitor = Visitor(client, inbox_of(demo, "webchat")["widget_token"])
    sent = visitor.say("Where is my parcel?")
    token = demo["api_token"]
    return {"visitor": visitor, "token": token, "id": conversation_of(client, token, sent["id"])}


def test_the_customers_message_within_the_window_reopens_the_resolved_conversation(client, settings, chat):
    token, conversation_id = chat["token"], chat["id"]
    with client.websocket_connect(f"/api/v1/agent/ws?token={token}") as socket:
        assert socket.receive_json()["type"] == "ready"
        resolved = client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=bearer(token))
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved", resolved.text
        assert "conversation.status_changed" in [
            frame["type"] for frame in frames_until(socket, "conversation.resolved")
        ]

        chat["visitor"].say("It still has not come")
        frames = frames_until(socket, "conversation.reopened")
    assert frames[-1]["by"] == "customer" and frames[-1]["conversation"]["id"] == conversation_id
    [changed] = [frame for frame in frames if frame["type"] == "conversation.status_changed"]
    assert (changed["from_status"], changed["to_status"]) == ("resolved", "open")

    reopened = wait_for(lambda: (found := detail(client, token, conversation_id))["status"] in OPEN and found)
    assert reopened["resolved_at"] is None and reopened["next_conversation_id"] is None
    assert texts(client, token, conversation_id) == ["Where is my parcel?", "It still has not come"]
    assert len(client.get("/api/v1/conversations", headers=bearer(token)).json()["items"]) == 1
    assert kinds(outbox(settings, conversation_id)) == [
        "conversation.created",
        "conversation.status_changed",
        "conversation.resolved",
        "conversation.status_changed",
        "conversation.reopened",
    ]


def test_after_the_window_the_customers_wechat_message_starts_a_conversation_linked_to_the_resolved_one(
    client, demo, settings, wechat_api
):
    token, inbox = demo["api_token"], inbox_of(demo, "wechat_oa")
    window = client.patch(
        f"/api/v1/inboxes/{inbox['id']}", json={"reopen_window_hours": 0}, headers=bearer(token)
    )
    assert window.status_code == 200 and window.json()["reopen_window_hours"] == 0, window.text
    assert (
        post(
            client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("订单到哪了？", 770001))
        ).text
        == "success"
    )
    [first] = wait_for(lambda: client.get("/api/v1/conversations", headers=bearer(token)).json()["items"])
    assert (
        client.post(f"/api/v1/conversations/{first['id']}/resolve", headers=bearer(token)).status_code == 200
    )

    assert (
        post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("还没收到", 770002))).text
        == "success"
    )
    follow_up = wait_for(lambda: detail(client, token, first["id"])["next_conversation_id"])
    assert follow_up != first["id"]
    assert detail(client, token, follow_up)["previous_conversation_id"] == first["id"]
    assert texts(client, token, follow_up) == ["还没收到"]
    old = detail(client, token, first["id"])
    assert old["status"] == "resolved" and texts(client, token, first["id"]) == ["订单到哪了？"]
    assert "conversation.reopened" not in kinds(outbox(settings, first["id"]))


def test_a_default_inbox_keeps_a_week_for_reopening(client, demo):
    inbox = client.get(
        f"/api/v1/inboxes/{inbox_of(demo, 'webchat')['id']}", headers=bearer(demo["api_token"])
    )
    assert inbox.json()["reopen_window_hours"] == 168


@pytest.mark.parametrize("status", ["pending", "snoozed"])
def test_the_customers_message_opens_a_pending_or_snoozed_conversation(client, settings, chat, status):
    token, conversation_id = chat["token"], chat["id"]
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    changed = change(
        client, token, conversation_id, status, **({"snoozed_until": until} if status == "snoozed" else {})
    )
    assert changed.status_code == 200 and changed.json()["status"] == status, changed.text
    listed = client.get("/api/v1/conversations", params={"status": status}, headers=bearer(token)).json()[
        "items"
    ]
    assert [each["id"] for each in listed] == [conversation_id]

    chat["visitor"].say("Any news?")
    opened = wait_for(lambda: (found := detail(client, token, conversation_id))["status"] in OPEN and found)
    assert opened["snoozed_until"] is None
    listed = client.get("/api/v1/conversations", params={"status": "open"}, headers=bearer(token)).json()[
        "items"
    ]
    assert [each["id"] for each in listed] == [conversation_id]
    events = [
        event for event in outbox(settings, conversation_id) if event["type"] == "conversation.status_changed"
    ]
    assert [(event["from_status"], event["to_status"]) for event in events] == [
        ("open", status),
        (status, "open"),
    ]


def test_a_snoozed_conversation_wakes_when_its_time_comes(client, settings, chat):
    token, conversation_id = chat["token"], chat["id"]
    until = datetime.now(UTC) + timedelta(hours=1)
    snoozed = change(client, token, conversation_id, "snoozed", snoozed_until=until.isoformat())
    assert snoozed.status_code == 200, snoozed.text
    assert datetime.fromisoformat(snoozed.json()["snoozed_until"]) == until

    def sweep_at(at: datetime) -> int:
        """One wake-up round of the running hub's sweeper, at `at`."""
        hub = client.app.state.hub
        clock, hub.now = hub.now, lambda: at
        try:
            return client.blocking_portal.call(wake_snoozed, hub)
        finally:
            hub.now = clock

    assert sweep_at(until - timedelta(seconds=1)) == 0
    assert detail(client, token, conversation_id)["status"] == "snoozed"
    with client.websocket_connect(f"/api/v1/agent/ws?token={token}") as socket:
        assert socket.receive_json()["type"] == "ready"
        assert sweep_at(until) == 1
        frame = frames_until(socket, "conversation.status_changed")[-1]
    assert (frame["from_status"], frame["to_status"]) == ("snoozed", "open")
    woken = detail(client, token, conversation_id)
    assert woken["status"] in OPEN and woken["snoozed_until"] is None
    assert sweep_at(until + timedelta(hours=1)) == 0, "woken once"
    assert kinds(outbox(settings, conversation_id))[-3:] == [
        "conversation.status_changed",
        "conversation.snoozed",
        "conversation.status_changed",
    ]


def test_an_agents_reply_into_a_resolved_conversation_reopens_it_before_the_reply_is_recorded(
    client, settings, chat
):
    token, conversation_id = chat["token"], chat["id"]
    assert (
        client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=bearer(token)).status_code
        == 200
    )
    with client.websocket_connect(f"/api/v1/agent/ws?token={token}") as socket:
        assert socket.receive_json()["type"] == "ready"
        reply = client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "It left our warehouse today."},
            headers=bearer(token),
        )
        assert reply.status_code == 201, reply.text
        frames = frames_until(socket, "message.created")
    types = [frame["type"] for frame in frames]
    assert types.index("conversation.reopened") < types.index("message.created")
    assert frames[-1]["conversation"]["status"] in OPEN, "the reply's own event shows it open"
    assert next(frame for frame in frames if frame["type"] == "conversation.reopened")["by"] == "agent"
    assert detail(client, token, conversation_id)["status"] in OPEN
    recorded = [event["type"] for event in outbox(settings, conversation_id)]
    assert recorded.index("conversation.reopened") < len(recorded) - 1 - recorded[::-1].index(
        "message.created"
    )


def test_every_status_can_be_reached_and_left_by_an_agent(client, chat):
    token, conversation_id = chat["token"], chat["id"]
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    for status, extra, expected in [
        ("pending", {}, ("pending",)),
        ("snoozed", {"snoozed_until": later}, ("snoozed",)),
        ("open", {}, OPEN),
        ("resolved", {}, ("resolved",)),
        ("open", {}, OPEN),
    ]:
        answer = change(client, token, conversation_id, status, **extra)
        assert answer.status_code == 200 and answer.json()["status"] in expected, (status, answer.text)


@pytest.mark.parametrize(
    ("body", "status_code", "field"),
    [
        ({"status": "archived"}, 400, "status"),
        ({"status": "snoozed"}, 422, "snoozed_until"),
        ({"status": "snoozed", "snoozed_until": "2020-01-01T00:00:00Z"}, 422, "snoozed_until"),
        ({"status": "snoozed", "snoozed_until": "2999-01-01T00:00:00"}, 422, "snoozed_until"),
        ({"status": "pending", "snoozed_until": "2999-01-01T00:00:00Z"}, 422, "snoozed_until"),
        ({"status": "open", "note": "?"}, 400, None),
    ],
)
def test_bad_status_changes_are_refused_and_change_nothing(client, chat, body, status_code, field):
    token, conversation_id = chat["token"], chat["id"]
    before = detail(client, token, conversation_id)
    answer = client.post(f"/api/v1/conversations/{conversation_id}/status", json=body, headers=bearer(token))
    assert answer.status_code == status_code, answer.text
    assert_error_shape(answer)
    if field is not None:
        assert field in answer.json()["detail"]
    assert detail(client, token, conversation_id)["status"] == before["status"]


def test_changes_that_make_no_sense_now_are_refused_with_409_saying_why(client, chat):
    token, conversation_id = chat["token"], chat["id"]
    already_open = change(client, token, conversation_id, "open")
    assert already_open.status_code == 409 and already_open.json()["code"] == "invalid_transition"
    assert "already open" in already_open.json()["detail"]
    assert (
        client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=bearer(token)).status_code
        == 200
    )
    for attempt in (
        client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=bearer(token)),
        change(client, token, conversation_id, "pending"),
        change(
            client,
            token,
            conversation_id,
            "snoozed",
            snoozed_until=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        ),
    ):
        assert attempt.status_code == 409, attempt.text
        assert_error_shape(attempt)
        assert attempt.json()["code"] == "invalid_transition" and "resolved" in attempt.json()["detail"]
    assert detail(client, token, conversation_id)["status"] == "resolved"


@pytest.mark.parametrize("hours", [-1, 24 * 366, "a week"])
def test_a_reopen_window_out_of_range_is_refused(client, demo, hours):
    inbox = inbox_of(demo, "webchat")
    answer = client.patch(
        f"/api/v1/inboxes/{inbox['id']}",
        json={"reopen_window_hours": hours},
        headers=bearer(demo["api_token"]),
    )
    assert answer.status_code == 400, answer.text
    assert_error_shape(answer)
    assert "reopen_window_hours" in answer.json()["detail"]
    kept = client.get(f"/api/v1/inboxes/{inbox['id']}", headers=bearer(demo["api_token"])).json()
    assert kept["reopen_window_hours"] == 168
