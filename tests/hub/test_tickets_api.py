"""Tickets through the API and the SLA watch: open, list, page and change them as the lifecycle allows; SLA due
times in the inbox's business hours; each breach emitted once; another workspace sees none of it."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from hub.models import OutboxEvent
from hub.sla_watch import watch_sla
from routing.hours import Weekday, WeeklyRange, WeeklySchedule, add_business_time
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401  (a fixture)


@pytest.fixture
def api(demo) -> dict[str, str]:
    return bearer(demo["api_token"])


@pytest.fixture
def webchat(demo) -> dict[str, Any]:
    return inbox_of(demo, "webchat")


def open_ticket(client, api, **body: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/tickets", json=body, headers=api)
    assert answer.status_code == 201, answer.text
    return answer.json()


def change(client, api, ticket_id: str, **body: Any):
    return client.patch(f"/api/v1/tickets/{ticket_id}", json=body, headers=api)


def customer_conversation(client, api, webchat, text: str = "My parcel is late") -> dict[str, Any]:
    sent = client.post(f"/widget/{webchat['widget_token']}/messages", json={"text": text, "client_id": "c1"})
    assert sent.status_code in (200, 201, 202), sent.text
    return wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])[0]


def outbox(settings, event_type: str) -> list[dict[str, Any]]:
    async def read(hub) -> list[dict[str, Any]]:
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(OutboxEvent)
                    .where(col(OutboxEvent.event_type) == event_type)
                    .order_by(col(OutboxEvent.created_at))
                )
            ).all()
        return [row.payload for row in rows]

    return run(read, settings)


def watch_at(settings, at: datetime) -> int:
    """One pass of the SLA watch as the worker runs it, at `at`."""

    async def watch(hub) -> int:
        hub.now = lambda: at
        return await watch_sla(hub)

    return run(watch, settings)


def test_a_ticket_is_opened_read_listed_and_paged(client, demo, api, webchat, settings):
    me = client.get("/api/v1/me", headers=api).json()["agent"]["id"]
    first = open_ticket(client, api, subject="  Refund for order 1042 ", inbox_id=webchat["id"])
    assert first["status"] == "new" and first["priority"] == "normal" and first["source"] == "api"
    assert first["subject"] == "Refund for order 1042" and first["assignee_id"] is None
    assert first["sla"]["first_response_due_at"] is None, "no SLA targets set on the inbox"
    assert first["summary"] == "", "opened on an inbox, from no conversation"
    urgent = open_ticket(
        client, api, subject="Card charged twice", inbox_id=webchat["id"], priority="urgent", assignee_id=me
    )
    third = open_ticket(client, api, subject="Invoice", inbox_id=webchat["id"], priority="low")

    assert client.get(f"/api/v1/tickets/{urgent['id']}", headers=api).json() == urgent
    listed = client.get("/api/v1/tickets", headers=api).json()
    assert [item["id"] for item in listed["items"]] == [third["id"], urgent["id"], first["id"]]
    page = client.get("/api/v1/tickets", params={"limit": 2}, headers=api).json()
    assert [item["id"] for item in page["items"]] == [third["id"], urgent["id"]]
    rest = client.get(
        "/api/v1/tickets", params={"limit": 2, "cursor": page["next_cursor"]}, headers=api
    ).json()
    assert [item["id"] for item in rest["items"]] == [first["id"]] and rest["next_cursor"] is None

    def ids(**params: str) -> list[str]:
        return [
            item["id"] for item in client.get("/api/v1/tickets", params=params, headers=api).json()["items"]
        ]

    assert ids(priority="urgent,low") == [third["id"], urgent["id"]]
    assert ids(assignee_id=me) == [urgent["id"]]
    assert ids(assignee_id="none") == [third["id"], first["id"]]
    assert ids(status="solved") == []
    assert ids(inbox_id=webchat["id"]) == [third["id"], urgent["id"], first["id"]]

    created = outbox(settings, "ticket.created")
    assert [payload["ticket"]["id"] for payload in created] == [first["id"], urgent["id"], third["id"]]


def test_a_ticket_opened_from_a_conversation_links_it_and_the_agents_reply_is_its_first_response(
    client, api, webchat
):
    conversation = customer_conversation(client, api, webchat)
    ticket = open_ticket(client, api, subject="Late parcel", conversation_id=conversation["id"])
    assert ticket["conversation_id"] == conversation["id"] and ticket["inbox_id"] == webchat["id"]
    assert ticket["contact_id"] == conversation["contact_id"]
    assert "My parcel is late" in ticket["summary"], "the conversation's summary: what was asked"
    linked = client.get("/api/v1/tickets", params={"conversation_id": conversation["id"]}, headers=api).json()
    assert [item["id"] for item in linked["items"]] == [ticket["id"]]

    note = client.post(
        f"/api/v1/conversations/{conversation['id']}/notes", json={"text": "checking"}, headers=api
    )
    assert note.status_code == 201
    assert (
        client.get(f"/api/v1/tickets/{ticket['id']}", headers=api).json()["sla"]["first_responded_at"] is None
    )
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"text": "On its way"}, headers=api
    )
    assert reply.status_code == 201
    answered = client.get(f"/api/v1/tickets/{ticket['id']}", headers=api).json()
    assert answered["status"] == "open", "an agent's reply opens a new ticket"
    assert answered["sla"]["first_responded_at"] == reply.json()["created_at"]


def test_status_follows_the_lifecycle_and_forbidden_changes_answer_409(client, api, webchat, settings):
    ticket = open_ticket(client, api, subject="Broken lamp", inbox_id=webchat["id"])
    path_id = ticket["id"]
    for status in ("pending", "open", "solved"):
        answer = change(client, api, path_id, status=status)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == status
    solved = client.get(f"/api/v1/tickets/{path_id}", headers=api).json()
    assert solved["sla"]["solved_at"] is not None

    for status, why in (("pending", "only a new or open ticket"), ("new", "back to new")):
        refused = change(client, api, path_id, status=status)
        assert refused.status_code == 409, refused.text
        assert_error_shape(refused)
        assert refused.json()["code"] == "invalid_transition" and why in refused.json()["detail"]
    assert change(client, api, path_id, status="closed").json()["status"] == "closed"
    final = change(client, api, path_id, status="open", priority="high")
    assert final.status_code == 409 and "while closed" in final.json()["detail"]
    unchanged = client.get(f"/api/v1/tickets/{path_id}", headers=api).json()
    assert unchanged["status"] == "closed" and unchanged["priority"] == "normal", (
        "a refused change changes nothing"
    )

    updates = [
        payload for payload in outbox(settings, "ticket.updated") if payload["ticket"]["id"] == path_id
    ]
    assert [(each["previous_status"], each["ticket"]["status"]) for each in updates] == [
        ("new", "pending"),
        ("pending", "open"),
        ("open", "solved"),
        ("solved", "closed"),
    ]
    assert all(each["changed"] == ["status"] for each in updates)


def test_priority_assignee_and_subject_change_and_unassign(client, api, webchat, settings):
    me = client.get("/api/v1/me", headers=api).json()["agent"]["id"]
    ticket = open_ticket(client, api, subject="Wrong size", inbox_id=webchat["id"])
    changed = change(client, api, ticket["id"], priority="high", assignee_id=me, subject="Wrong size shoes")
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["priority"], body["assignee_id"], body["subject"]) == ("high", me, "Wrong size shoes")
    assert change(client, api, ticket["id"], subject="Wrong size shoes").status_code == 200
    unassigned = change(client, api, ticket["id"], assignee_id=None).json()
    assert unassigned["assignee_id"] is None and unassigned["priority"] == "high"
    updates = [
        payload for payload in outbox(settings, "ticket.updated") if payload["ticket"]["id"] == ticket["id"]
    ]
    assert [each["changed"] for each in updates] == [["priority", "assignee_id", "subject"], ["assignee_id"]]


def test_bad_input_answers_the_one_error_shape(client, api, webchat):
    ticket = open_ticket(client, api, subject="Lost parcel", inbox_id=webchat["id"])
    cases = [
        ({"subject": "x"}, 422, "invalid_input"),
        ({"subject": "   ", "inbox_id": webchat["id"]}, 422, "invalid_input"),
        ({"subject": "x", "inbox_id": webchat["id"], "priority": "asap"}, 400, "invalid_request"),
        ({"subject": "x", "inbox_id": webchat["id"], "colour": "red"}, 400, "invalid_request"),
        ({"subject": "x" * 201, "inbox_id": webchat["id"]}, 400, "invalid_request"),
        ({"subject": "x", "inbox_id": "0" * 8 + "-0000-7000-8000-" + "0" * 12}, 404, "inbox_not_found"),
        ({"subject": "x", "inbox_id": webchat["id"], "assignee_id": "nobody"}, 422, "agent_not_found"),
    ]
    for body, status, code in cases:
        answer = client.post("/api/v1/tickets", json=body, headers=api)
        assert answer.status_code == status, (body, answer.text)
        assert_error_shape(answer)
        assert answer.json()["code"] == code, (body, answer.text)
    for body, status in (
        ({"status": "done"}, 400),
        ({"subject": ""}, 422),
        ({"assignee_id": "nobody"}, 422),
        ({"owner": "me"}, 400),
    ):
        answer = change(client, api, ticket["id"], **body)
        assert answer.status_code == status, (body, answer.text)
        assert_error_shape(answer)
    bad_cursor = client.get("/api/v1/tickets", params={"cursor": "not-one-of-ours"}, headers=api)
    assert bad_cursor.status_code == 400 and bad_cursor.json()["code"] == "invalid_cursor"
    missing = client.get("/api/v1/tickets/0190a000-0000-7000-8000-000000000000", headers=api)
    assert missing.status_code == 404 and missing.json()["code"] == "ticket_not_found"
    assert client.get("/api/v1/tickets").status_code == 401


def test_another_workspace_can_neither_read_nor_change_nor_open_on_ours(
    client,
    api,
    webchat,
    other_token,  # noqa: F811
):
    ours = open_ticket(client, api, subject="Private matter", inbox_id=webchat["id"])
    conversation = customer_conversation(client, api, webchat)
    other = bearer(other_token)
    assert client.get("/api/v1/tickets", headers=other).json() == {"items": [], "next_cursor": None}
    assert client.get(f"/api/v1/tickets/{ours['id']}", headers=other).status_code == 404
    for body in ({"status": "solved"}, {"priority": "low"}, {"assignee_id": None}):
        answer = change(client, other, ours["id"], **body)
        assert answer.status_code == 404, answer.text
        assert_error_shape(answer)
    for body in ({"inbox_id": webchat["id"]}, {"conversation_id": conversation["id"]}):
        answer = client.post("/api/v1/tickets", json={"subject": "hijack", **body}, headers=other)
        assert answer.status_code == 404, answer.text
    my_agent = client.get("/api/v1/me", headers=api).json()["agent"]["id"]
    theirs = open_ticket(client, other, subject="Theirs", inbox_id=_other_inbox(client, other))
    foreign_assignee = change(client, other, theirs["id"], assignee_id=my_agent)
    assert foreign_assignee.status_code == 422 and foreign_assignee.json()["code"] == "agent_not_found"
    assert client.get(f"/api/v1/tickets/{ours['id']}", headers=api).json() == ours


def _other_inbox(client, other) -> str:
    created = client.post(
        "/api/v1/inboxes", json={"kind": "webchat", "name": "Theirs", "settings": {}}, headers=other
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_sla_due_times_count_only_business_hours(client, api, webchat):
    hours = {
        "time_zone": "UTC",
        "weekly": {day: ["09:00-09:01"] for day in ("mon", "tue", "wed", "thu", "fri")},
    }
    assert (
        client.put(f"/api/v1/inboxes/{webchat['id']}/business_hours", json=hours, headers=api).status_code
        == 200
    )
    targets = {
        "urgent": {"first_response_minutes": 3, "resolution_minutes": 5},
        "low": {"resolution_minutes": 2},
    }
    answer = client.put(f"/api/v1/inboxes/{webchat['id']}/sla", json=targets, headers=api)
    assert answer.status_code == 200, answer.text
    ticket = open_ticket(client, api, subject="Down", inbox_id=webchat["id"], priority="urgent")
    schedule = WeeklySchedule(
        "UTC", tuple(WeeklyRange(Weekday(day), time(9, 0), time(9, 1)) for day in range(5))
    )
    opened = datetime.fromisoformat(ticket["created_at"])
    due = datetime.fromisoformat(ticket["sla"]["first_response_due_at"])
    assert due == add_business_time(schedule, opened, timedelta(minutes=3))
    assert due - opened > timedelta(days=2), "three open minutes a day: at least three working days"
    assert datetime.fromisoformat(ticket["sla"]["resolution_due_at"]) == add_business_time(
        schedule, opened, timedelta(minutes=5)
    )
    lowered = change(client, api, ticket["id"], priority="low").json()
    assert lowered["sla"]["first_response_due_at"] is None
    assert datetime.fromisoformat(lowered["sla"]["resolution_due_at"]) == add_business_time(
        schedule, opened, timedelta(minutes=2)
    )


def test_the_sla_watch_emits_each_breach_once(client, api, webchat, settings):
    targets = {"high": {"first_response_minutes": 30, "resolution_minutes": 120}}
    assert client.put(f"/api/v1/inboxes/{webchat['id']}/sla", json=targets, headers=api).status_code == 200
    late = open_ticket(client, api, subject="Nobody answers", inbox_id=webchat["id"], priority="high")
    conversation = customer_conversation(client, api, webchat)
    answered = open_ticket(
        client, api, subject="Answered", conversation_id=conversation["id"], priority="high"
    )
    client.post(f"/api/v1/conversations/{conversation['id']}/messages", json={"text": "Hello"}, headers=api)
    opened = datetime.fromisoformat(late["created_at"])

    assert watch_at(settings, opened + timedelta(minutes=29)) == 0
    assert watch_at(settings, opened + timedelta(minutes=31)) == 1
    assert watch_at(settings, opened + timedelta(minutes=32)) == 0, "emitted once"
    breached = client.get(f"/api/v1/tickets/{late['id']}", headers=api).json()
    assert breached["sla"]["first_response_breached_at"] is not None
    assert breached["sla"]["resolution_breached_at"] is None
    assert (
        client.get(f"/api/v1/tickets/{answered['id']}", headers=api).json()["sla"][
            "first_response_breached_at"
        ]
        is None
    )

    assert change(client, api, answered["id"], status="solved").status_code == 200

    async def two_watches_at_once(hub) -> list[int]:
        hub.now = lambda: opened + timedelta(hours=3)
        return list(await asyncio.gather(watch_sla(hub), watch_sla(hub)))

    assert sum(run(two_watches_at_once, settings)) == 1, "only the late ticket's resolution, once"
    assert watch_at(settings, opened + timedelta(days=30)) == 0
    events = outbox(settings, "ticket.sla_breached")
    assert sorted((each["ticket"]["id"], each["metric"]) for each in events) == sorted(
        [(late["id"], "first_response"), (late["id"], "resolution")]
    )
    first = next(each for each in events if each["metric"] == "first_response")
    assert datetime.fromisoformat(first["due_at"]) == opened + timedelta(minutes=30)


def test_a_first_response_made_late_is_a_breach_even_when_the_watch_comes_after_it(
    client, api, webchat, settings
):
    targets = {"normal": {"first_response_minutes": 1}}
    assert client.put(f"/api/v1/inboxes/{webchat['id']}/sla", json=targets, headers=api).status_code == 200
    conversation = customer_conversation(client, api, webchat)
    ticket = open_ticket(client, api, subject="Slow", conversation_id=conversation["id"])
    opened = datetime.fromisoformat(ticket["created_at"])

    async def reply_late(hub) -> None:
        from hub import outbound
        from hub.models import Conversation

        hub.now = lambda: opened + timedelta(minutes=5)
        async with hub.database.session() as session:
            row = await session.get_one(Conversation, conversation["id"])
        await outbound.create_message(
            hub, row, text="Sorry for the wait", direction="out", sender_type="agent", sender_id=None
        )

    run(reply_late, settings)
    assert watch_at(settings, opened + timedelta(minutes=6)) == 1
    [breach] = outbox(settings, "ticket.sla_breached")
    assert breach["metric"] == "first_response" and breach["ticket"]["id"] == ticket["id"]


def test_the_sweeper_loop_emits_a_breach(client, api, webchat, settings):
    targets = {"high": {"resolution_minutes": 10}}
    assert client.put(f"/api/v1/inboxes/{webchat['id']}/sla", json=targets, headers=api).status_code == 200
    ticket = open_ticket(client, api, subject="Overdue", inbox_id=webchat["id"], priority="high")
    opened = datetime.fromisoformat(ticket["created_at"])

    async def sweep_until_breached(hub) -> None:
        from hub.sweeper import run_sweeper

        hub.now = lambda: opened + timedelta(minutes=11)
        sweeper = asyncio.create_task(run_sweeper(hub))
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while not await _breached(hub, ticket["id"]):
                assert asyncio.get_running_loop().time() < deadline, "the sweeper emitted no breach"
                await asyncio.sleep(0.05)
        finally:
            sweeper.cancel()

    run(sweep_until_breached, settings)
    [breach] = outbox(settings, "ticket.sla_breached")
    assert breach["metric"] == "resolution" and breach["ticket"]["id"] == ticket["id"]


async def _breached(hub, ticket_id: str) -> bool:
    from hub.models import Ticket

    async with hub.database.session() as session:
        return (await session.get_one(Ticket, ticket_id)).resolution_breached_at is not None


def test_the_customers_message_reopens_a_pending_or_solved_ticket_and_never_a_closed_one(
    client, api, webchat
):
    from tests.hub.test_bot_conversations import Visitor

    visitor = Visitor(client, webchat["widget_token"])
    visitor.say("The zip is broken")
    [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
    ticket = open_ticket(client, api, subject="Broken zip", conversation_id=conversation["id"])

    def status() -> str:
        return client.get(f"/api/v1/tickets/{ticket['id']}", headers=api).json()["status"]

    for waiting in ("pending", "solved"):
        assert change(client, api, ticket["id"], status=waiting).json()["status"] == waiting
        visitor.say(f"Any news? ({waiting})")
        wait_for(lambda: status() == "open", timeout=20)
    assert change(client, api, ticket["id"], status="solved").status_code == 200
    assert change(client, api, ticket["id"], status="closed").status_code == 200
    visitor.say("One more thing")
    wait_for(
        lambda: (
            len(
                [
                    item
                    for item in client.get(
                        f"/api/v1/conversations/{conversation['id']}/messages", headers=api
                    ).json()["items"]
                    if item["direction"] == "in"
                ]
            )
            == 4
        ),
        timeout=20,
    )
    assert status() == "closed", "a closed ticket is final"
