"""Business hours and SLA targets per inbox through the API, and what a customer writing out of hours gets in web
chat: the inbox's out-of-hours message once per conversation, and a ticket or a wait by the inbox's setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import assert_error_shape, bearer, inbox_of, wait_for
from tests.hub.test_bot_conversations import Visitor
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401  (a fixture)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOSED_NOTICE = "We are closed now and answer from 9:00 tomorrow."


@pytest.fixture
def api(demo) -> dict[str, str]:
    return bearer(demo["api_token"])


@pytest.fixture
def webchat(demo) -> dict[str, Any]:
    return inbox_of(demo, "webchat")


def closed_now() -> dict[str, Any]:
    """Open one minute a week, three days from now: closed whenever the test runs."""
    day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    return {"time_zone": "UTC", "weekly": {day: ["00:00-00:01"]}}


def put_hours(client, api, inbox_id: str, **body: Any) -> dict[str, Any]:
    answer = client.put(f"/api/v1/inboxes/{inbox_id}/business_hours", json=body, headers=api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_business_hours_are_stored_read_and_judged_by_routing(client, api, webchat):
    path = f"/api/v1/inboxes/{webchat['id']}/business_hours"
    assert client.get(path, headers=api).json() == {
        "time_zone": None,
        "weekly": {},
        "closed_dates": [],
        "out_of_hours_message": "",
        "out_of_hours_action": "wait",
        "open_now": True,
    }
    today = datetime.now(UTC).date()
    hours = {
        "time_zone": "Asia/Shanghai",
        "weekly": {"mon": ["09:00-12:00", "13:00-18:00"], "sat": ["22:00-06:00"]},
        "closed_dates": [(today + timedelta(days=30)).isoformat()],
        "out_of_hours_message": "  我们下班了  ",
        "out_of_hours_action": "ticket",
    }
    stored = put_hours(client, api, webchat["id"], **hours)
    assert stored == {**hours, "out_of_hours_message": "我们下班了", "open_now": stored["open_now"]}
    assert client.get(path, headers=api).json() == stored
    assert put_hours(client, api, webchat["id"], **closed_now())["open_now"] is False
    always = {"time_zone": "Europe/Berlin", "weekly": {day: ["00:00-24:00"] for day in DAYS}}
    assert put_hours(client, api, webchat["id"], **always)["open_now"] is True
    assert put_hours(client, api, webchat["id"])["time_zone"] is None, "nothing given: always open"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"time_zone": "Mars/Olympus", "weekly": {"mon": ["09:00-18:00"]}}, 422, "time_zone"),
        ({"weekly": {"mon": ["09:00-18:00"]}}, 422, "time_zone"),
        ({"time_zone": "UTC", "weekly": {"mon": ["9-18"]}}, 422, "weekly.mon.0"),
        ({"time_zone": "UTC", "weekly": {"tue": ["09:00-25:00"]}}, 422, "weekly.tue.0"),
        ({"time_zone": "UTC", "weekly": {"wed": ["09:00-18:00", "09:00-12:00-18:00"]}}, 422, "weekly.wed.1"),
        (
            {"time_zone": "UTC", "weekly": {"mon": ["09:00-18:00"]}, "closed_dates": ["1 May"]},
            422,
            "closed_dates.0",
        ),
        ({"time_zone": "UTC", "weekly": {"monday": ["09:00-18:00"]}}, 400, None),
        ({"out_of_hours_action": "sleep"}, 400, None),
        ({"opening": "soon"}, 400, None),
    ],
)
def test_business_hours_routing_cannot_read_are_refused_naming_the_field(
    client, api, webchat, body, status, field
):
    answer = client.put(f"/api/v1/inboxes/{webchat['id']}/business_hours", json=body, headers=api)
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    if field is not None:
        assert [error["field"] for error in answer.json()["errors"]] == [field]
    assert (
        client.get(f"/api/v1/inboxes/{webchat['id']}/business_hours", headers=api).json()["time_zone"] is None
    )


def test_sla_targets_are_stored_and_bad_ones_refused(client, api, webchat):
    path = f"/api/v1/inboxes/{webchat['id']}/sla"
    empty = {"low": None, "normal": None, "high": None, "urgent": None}
    assert client.get(path, headers=api).json() == empty
    targets = {
        "urgent": {"first_response_minutes": 30, "resolution_minutes": 240},
        "normal": {"resolution_minutes": 60},
    }
    stored = client.put(path, json=targets, headers=api).json()
    assert stored == {
        **empty,
        "urgent": {"first_response_minutes": 30, "resolution_minutes": 240},
        "normal": {"first_response_minutes": None, "resolution_minutes": 60},
    }
    assert client.get(path, headers=api).json() == stored
    for body in (
        {"critical": {"first_response_minutes": 5}},
        {"urgent": {"first_response_minutes": 0}},
        {"urgent": {"first_response_minutes": "soon"}},
        {"urgent": {"first_reply_minutes": 5}},
    ):
        answer = client.put(path, json=body, headers=api)
        assert answer.status_code == 400, (body, answer.text)
        assert_error_shape(answer)
    assert client.get(path, headers=api).json() == stored


def test_another_workspace_cannot_read_or_change_our_inboxs_hours_or_targets(
    client,
    api,
    webchat,
    other_token,  # noqa: F811
):
    other = bearer(other_token)
    for suffix, body in (("business_hours", closed_now()), ("sla", {"urgent": {"resolution_minutes": 1}})):
        path = f"/api/v1/inboxes/{webchat['id']}/{suffix}"
        assert client.get(path, headers=other).status_code == 404
        answer = client.put(path, json=body, headers=other)
        assert answer.status_code == 404 and answer.json()["code"] == "inbox_not_found"
    assert (
        client.get(f"/api/v1/inboxes/{webchat['id']}/business_hours", headers=api).json()["open_now"] is True
    )


def _notices(visitor: Visitor) -> list[dict[str, Any]]:
    return [message for message in visitor.history() if message["text"] == CLOSED_NOTICE]


def _tickets(client, api) -> list[dict[str, Any]]:
    return client.get("/api/v1/tickets", headers=api).json()["items"]


def _customer_messages_stored(client, api, count: int) -> list[dict[str, Any]]:
    def stored() -> list[dict[str, Any]] | None:
        conversations = client.get("/api/v1/conversations", headers=api).json()["items"]
        if not conversations:
            return None
        items = client.get(f"/api/v1/conversations/{conversations[0]['id']}/messages", headers=api).json()[
            "items"
        ]
        return items if len([item for item in items if item["direction"] == "in"]) >= count else None

    return wait_for(stored, timeout=20)


def test_out_of_hours_the_customer_is_told_once_and_a_ticket_opens(client, api, webchat):
    put_hours(
        client,
        api,
        webchat["id"],
        **closed_now(),
        out_of_hours_message=CLOSED_NOTICE,
        out_of_hours_action="ticket",
    )
    visitor = Visitor(client, webchat["widget_token"])
    visitor.say("Is my order shipped?\nOrder 1042")
    wait_for(lambda: _notices(visitor), timeout=20)
    [ticket] = wait_for(lambda: _tickets(client, api), timeout=20)
    assert ticket["source"] == "out_of_hours" and ticket["status"] == "new"
    assert ticket["subject"] == "Is my order shipped?"
    assert ticket["description"] == "Is my order shipped?\nOrder 1042"
    assert "Is my order shipped?" in ticket["summary"]

    visitor.say("Hello?")
    messages = _customer_messages_stored(client, api, 2)
    assert ticket["conversation_id"] == messages[0]["conversation_id"]
    visitor.say("Anyone?")
    _customer_messages_stored(client, api, 3)
    wait_for(lambda: client.app.state.hub.jobs.depth() == 0, timeout=20)
    assert len(_notices(visitor)) == 1, "told once per conversation"
    assert len(_tickets(client, api)) == 1
    [notice] = _notices(visitor)
    assert notice["sender"] == "system"


def test_out_of_hours_with_wait_the_customer_is_told_and_no_ticket_opens(client, api, webchat):
    put_hours(client, api, webchat["id"], **closed_now(), out_of_hours_message=CLOSED_NOTICE)
    visitor = Visitor(client, webchat["widget_token"])
    visitor.say("Hi there")
    wait_for(lambda: _notices(visitor), timeout=20)
    wait_for(lambda: client.app.state.hub.jobs.depth() == 0, timeout=20)
    assert _tickets(client, api) == []
    [conversation] = client.get("/api/v1/conversations", headers=api).json()["items"]
    assert conversation["status"] in ("queued", "assigned"), "it waits for an agent"


def test_within_hours_nobody_is_told_anything(client, api, webchat):
    always = {"time_zone": "Asia/Shanghai", "weekly": {day: ["00:00-24:00"] for day in DAYS}}
    put_hours(
        client, api, webchat["id"], **always, out_of_hours_message=CLOSED_NOTICE, out_of_hours_action="ticket"
    )
    visitor = Visitor(client, webchat["widget_token"])
    visitor.say("Hi there")
    _customer_messages_stored(client, api, 1)
    wait_for(lambda: client.app.state.hub.jobs.depth() == 0, timeout=20)
    assert _notices(visitor) == [] and _tickets(client, api) == []
