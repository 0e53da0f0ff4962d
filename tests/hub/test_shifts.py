"""Agent shifts end to end: admins set them per agent in the agent's time zone, bad ones are refused naming the
field, and routing gives nothing to an agent off shift until their shift covers the present."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
from litestar.testing import TestClient

from hub.app import create_app
from hub.jobs import WorkerHub
from tests.conftest import assert_error_shape, bearer
from tests.hub.test_assignment_api import (  # noqa: F401  (desk is a fixture)
    assigned_to,
    capacity,
    desk,
    new_conversation,
    presence,
)
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401  (a fixture)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_WEEK = {"time_zone": "Europe/Paris", "weekly": {day: ["00:00-24:00"] for day in DAYS}, "closed_dates": []}


@pytest.fixture
def client(settings, demo) -> Iterator[TestClient]:
    """The hub with its sweeper running every 0.2 s."""
    fast = settings.model_copy(update={"sweep_interval_seconds": 0.2})
    with TestClient(app=create_app(fast), base_url="http://testserver.local") as test_client:
        yield test_client


def off_shift_now() -> dict[str, object]:
    """One minute a week, three days from now: off shift whenever the test runs."""
    day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    return {"time_zone": "Asia/Shanghai", "weekly": {day: ["03:00-03:01"]}, "closed_dates": []}


def put_shifts(client, token: str, agent_id: str, body: dict[str, object]):
    return client.put(f"/api/v1/agents/{agent_id}/shifts", json=body, headers=bearer(token))


def test_shifts_are_stored_read_back_and_cleared(client, desk):  # noqa: F811
    admin, ann = desk["admin"], desk["agents"]["ann"]
    path = f"/api/v1/agents/{ann['id']}/shifts"
    assert client.get(path, headers=bearer(admin)).json() == {
        "time_zone": None,
        "weekly": {},
        "closed_dates": [],
        "on_shift_now": True,
    }
    night = {"time_zone": "Asia/Shanghai", "weekly": {"fri": ["22:00-06:00"]}, "closed_dates": ["2026-12-25"]}
    stored = put_shifts(client, admin, ann["id"], night)
    assert stored.status_code == 200, stored.text
    assert (
        client.get(path, headers=bearer(admin)).json()
        == stored.json()
        == {
            **night,
            "on_shift_now": stored.json()["on_shift_now"],
        }
    )
    assert put_shifts(client, admin, ann["id"], off_shift_now()).json()["on_shift_now"] is False
    cleared = put_shifts(client, admin, ann["id"], {})
    assert cleared.json() == {"time_zone": None, "weekly": {}, "closed_dates": [], "on_shift_now": True}


def test_bad_shifts_are_refused_naming_the_field_and_change_nothing(client, desk, other_token):  # noqa: F811
    admin, ann = desk["admin"], desk["agents"]["ann"]
    assert put_shifts(client, admin, ann["id"], ALL_WEEK).status_code == 200
    refusals = [
        ({**ALL_WEEK, "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({**ALL_WEEK, "weekly": {"mon": ["09:00-17:00", "16:30-20:00"]}}, "weekly.mon.1"),
        ({**ALL_WEEK, "weekly": {"tue": ["10:00-10:00"]}}, "weekly.tue.0"),
        ({**ALL_WEEK, "weekly": {"wed": ["25:00-26:00"]}}, "weekly.wed.0"),
        ({**ALL_WEEK, "weekly": {}, "time_zone": None, "closed_dates": ["2026-02-30"]}, "time_zone"),
        ({**ALL_WEEK, "closed_dates": ["2026-02-30"]}, "closed_dates.0"),
    ]
    for body, field in refusals:
        refused = put_shifts(client, admin, ann["id"], body)
        assert refused.status_code == 422, (body, refused.text)
        assert_error_shape(refused)
        assert refused.json()["errors"][0]["field"] == field, refused.json()
    malformed = put_shifts(client, admin, ann["id"], {**ALL_WEEK, "weekly": {"someday": ["09:00-10:00"]}})
    assert malformed.status_code == 400
    assert client.get(f"/api/v1/agents/{ann['id']}/shifts", headers=bearer(admin)).json() == {
        **ALL_WEEK,
        "on_shift_now": True,
    }
    assert put_shifts(client, ann["token"], ann["id"], {}).status_code == 403
    assert client.get(f"/api/v1/agents/{ann['id']}/shifts", headers=bearer(ann["token"])).status_code == 403
    other_admin_view = client.get(f"/api/v1/agents/{ann['id']}/shifts", headers=bearer(other_token))
    assert other_admin_view.status_code == 403
    assert client.get("/api/v1/agents/nobody-here/shifts", headers=bearer(admin)).status_code == 404


def test_an_agent_off_shift_gets_nothing_until_their_shift_covers_now(client, desk):  # noqa: F811
    admin, ann, bob = desk["admin"], desk["agents"]["ann"], desk["agents"]["bob"]
    assert put_shifts(client, admin, ann["id"], off_shift_now()).status_code == 200
    capacity(client, desk, "bob", 1)
    presence(client, ann, "online")
    presence(client, bob, "online")
    first = new_conversation(client, desk, "first")
    assigned_to(client, desk, first, bob["id"])
    second = new_conversation(client, desk, "second")
    assigned_to(client, desk, second, None)
    queue = client.get("/api/v1/queue", headers=bearer(admin)).json()
    assert [entry["conversation"]["id"] for entry in queue] == [second]

    assert put_shifts(client, admin, ann["id"], ALL_WEEK).status_code == 200
    assigned_to(client, desk, second, ann["id"])


def test_a_shift_that_begins_takes_the_waiting_conversation_within_a_sweep(client, desk):  # noqa: F811
    """Nothing announces a shift beginning: the sweeper serves the queues of workspaces whose agents work shifts."""
    admin, ann = desk["admin"], desk["agents"]["ann"]
    before_nine = datetime(2026, 11, 23, 8, 59, 30, tzinfo=UTC)
    clock = {"now": before_nine}
    worker = next(each for each in dramatiq.get_broker().middleware if isinstance(each, WorkerHub))
    for hub in (client.app.state.hub, worker.hub):
        hub.now = lambda: clock["now"]
    weekdays = {"time_zone": "UTC", "weekly": {"mon": ["09:00-17:00"]}}
    assert put_shifts(client, admin, ann["id"], weekdays).json()["on_shift_now"] is False
    presence(client, ann, "online")
    waiting = new_conversation(client, desk)
    assigned_to(client, desk, waiting, None)

    clock["now"] = before_nine + timedelta(minutes=1)
    assigned_to(client, desk, waiting, ann["id"])
