"""Reports end to end: the figures recorded as conversations happen (time in queue, first agent reply, hand-overs,
handling spans, CSAT) come back from /api/v1/reports as percentiles per channel and per agent, as hourly coverage
and per day, for a range, a channel and an agent, also as CSV; bad ranges and filters are refused naming them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from hub.models import Agent, Contact, Conversation, HandlingSpan, Identity
from tests.conftest import assert_error_shape, bearer, run, wait_for
from tests.hub.test_assignment_api import (  # noqa: F401  (desk is a fixture)
    desk,
    make_agents,
    new_conversation,
    presence,
)
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401  (a fixture)

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)


def seed(settings, demo, rows: list[dict[str, Any]], spans: list[dict[str, Any]] = ()) -> list[str]:
    """Conversations with given figures (`kind` names the demo inbox), and handling spans; their ids."""

    async def insert(hub) -> list[str]:
        inboxes = {inbox["kind"]: inbox["id"] for inbox in demo["inboxes"]}
        async with hub.database.session() as session:
            contact = Contact(workspace_id=demo["workspace_id"], name="Seeded")
            session.add(contact)
            await session.flush()
            identity = Identity(
                workspace_id=demo["workspace_id"],
                contact_id=contact.id,
                kind="email",
                value="seed@example.com",
            )
            session.add(identity)
            await session.flush()
            made = [
                Conversation(
                    workspace_id=demo["workspace_id"],
                    inbox_id=inboxes[row.pop("kind", "webchat")],
                    contact_id=contact.id,
                    identity_id=identity.id,
                    **row,
                )
                for row in rows
            ]
            session.add_all(made)
            await session.flush()
            session.add_all(
                HandlingSpan(
                    workspace_id=demo["workspace_id"], conversation_id=made[span.pop("of")].id, **span
                )
                for span in spans
            )
            await session.commit()
        return [conversation.id for conversation in made]

    return run(insert, settings)


def report(client, token: str, name: str, **query: str) -> Any:
    answer = client.get(f"/api/v1/reports/{name}", params=query, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()


def at(minutes: float) -> datetime:
    return MONDAY + timedelta(hours=10, minutes=minutes)


RANGE = {"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=1)).isoformat()}


@pytest.fixture
def seeded(client, demo, settings) -> dict[str, Any]:
    """Five webchat conversations (four with agent replies after 1, 2, 3 and 10 minutes), one email one, and one of
    the week before (outside the range); ann and bob hold them."""
    agents = make_agents(settings, demo["workspace_id"], ["ann", "bob"])
    ann, bob = agents["ann"]["id"], agents["bob"]["id"]

    def conversation(reply: float | None, **figures: Any) -> dict[str, Any]:
        return {"created_at": at(0), "first_response_at": None if reply is None else at(reply), **figures}

    ids = seed(
        settings,
        demo,
        [
            conversation(
                1, assignee_id=ann, resolved_at=at(30), queue_seconds=30, csat_rating=5, status="resolved"
            ),
            conversation(
                2, assignee_id=ann, resolved_at=at(60), queue_seconds=90, csat_rating=4, status="resolved"
            ),
            conversation(
                3, assignee_id=bob, queue_seconds=600, handoffs=1, bot_replied=True, status="assigned"
            ),
            conversation(10, assignee_id=bob, queue_seconds=60, csat_rating=1, status="assigned"),
            conversation(None, bot_replied=True, resolved_at=at(5), status="resolved"),
            conversation(4, kind="email", assignee_id=ann, queue_seconds=0, status="assigned"),
            {**conversation(1, assignee_id=ann), "created_at": at(0) - timedelta(days=7)},
        ],
        [
            {"of": 0, "agent_id": ann, "started_at": at(0.5), "ended_at": at(30)},
            {"of": 1, "agent_id": ann, "started_at": at(1.5), "ended_at": at(11.5)},
            {"of": 1, "agent_id": ann, "started_at": at(40), "ended_at": at(50)},
            {"of": 2, "agent_id": ann, "started_at": at(10), "ended_at": at(12)},
            {"of": 2, "agent_id": bob, "started_at": at(12), "ended_at": None},
        ],
    )
    return {"ann": ann, "bob": bob, "ids": ids, "admin": demo["api_token"]}


def test_the_summary_gives_percentiles_deflection_handoffs_and_csat_per_channel(client, seeded):
    summary = report(client, seeded["admin"], "summary", **RANGE)
    assert (summary["from"], summary["to"]) == ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")
    overall = summary["overall"]
    assert overall["conversations"] == 6
    assert overall["first_response"] == {
        "count": 5,
        "p50_seconds": 180.0,
        "p90_seconds": 600.0,
        "p99_seconds": 600.0,
    }
    assert overall["resolution"] == {
        "count": 3,
        "p50_seconds": 1800.0,
        "p90_seconds": 3600.0,
        "p99_seconds": 3600.0,
    }
    assert overall["time_in_queue"] == {
        "count": 5,
        "p50_seconds": 60.0,
        "p90_seconds": 600.0,
        "p99_seconds": 600.0,
    }
    assert (overall["bot_conversations"], overall["bot_deflected"], overall["bot_deflection_rate"]) == (
        2,
        1,
        0.5,
    )
    assert overall["handoffs"] == 1
    assert overall["csat"] == {
        "responses": 3,
        "average": pytest.approx(10 / 3),
        "distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1},
    }
    by_channel = {figures["channel"]: figures for figures in summary["by_channel"]}
    assert {channel: figures["conversations"] for channel, figures in by_channel.items()} == {
        "email": 1,
        "webchat": 5,
    }
    assert by_channel["email"]["first_response"]["p50_seconds"] == 240.0

    webchat = report(client, seeded["admin"], "summary", channel="webchat", **RANGE)
    assert webchat["channel"] == "webchat"
    assert webchat["overall"] == {
        key: value for key, value in by_channel["webchat"].items() if key != "channel"
    }
    bobs = report(client, seeded["admin"], "summary", agent_id=seeded["bob"], **RANGE)["overall"]
    assert bobs["conversations"] == 2 and bobs["csat"]["average"] == 1.0
    week_before = {"from": (MONDAY - timedelta(days=7)).isoformat(), "to": MONDAY.isoformat()}
    assert report(client, seeded["admin"], "summary", **week_before)["overall"]["conversations"] == 1


def test_the_agents_report_gives_each_agent_their_figures_and_average_handle_time(client, seeded):
    agents = {row["name"]: row for row in report(client, seeded["admin"], "agents", **RANGE)}
    assert {"ann", "bob"} <= set(agents)
    ann, bob = agents["ann"], agents["bob"]
    assert (ann["conversations"], bob["conversations"]) == (3, 2)
    # ann: 29.5 min on the first, 10 + 10 min on the second, 2 min on the third.
    assert (ann["handled"], ann["average_handle_seconds"]) == (3, pytest.approx((29.5 + 20 + 2) * 60 / 3))
    assert (bob["handled"], bob["average_handle_seconds"]) == (0, None)
    assert bob["first_response"]["p50_seconds"] == 180.0 and bob["handoffs"] == 1
    only_ann = report(client, seeded["admin"], "agents", agent_id=seeded["ann"], **RANGE)
    assert [row["agent_id"] for row in only_ann] == [seeded["ann"]]
    assert only_ann[0]["handled"] == 3
    email_only = {
        row["name"]: row for row in report(client, seeded["admin"], "agents", channel="email", **RANGE)
    }
    assert (email_only["ann"]["conversations"], email_only["ann"]["handled"]) == (1, 0)


def test_reports_export_as_csv(client, seeded):
    answer = client.get("/api/v1/reports/export", params=RANGE, headers=bearer(seeded["admin"]))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(row["channel"], row["conversations"]) for row in rows] == [
        ("all", "6"),
        ("email", "1"),
        ("webchat", "5"),
    ]
    assert rows[0]["first_response.p90_seconds"] == "600.0" and rows[0]["csat.distribution.5"] == "1"
    agents = client.get(
        "/api/v1/reports/export", params={**RANGE, "report": "agents"}, headers=bearer(seeded["admin"])
    )
    by_name = {row["name"]: row for row in csv.DictReader(io.StringIO(agents.text))}
    assert by_name["ann"]["handled"] == "3" and by_name["bob"]["average_handle_seconds"] == ""
    daily = client.get(
        "/api/v1/reports/export", params={**RANGE, "report": "daily"}, headers=bearer(seeded["admin"])
    )
    assert list(csv.DictReader(io.StringIO(daily.text))) == [
        {"date": "2026-11-16", "conversations": "6", "resolved": "3", "csat_average": str(10 / 3)}
    ]
    assert (
        client.get(
            "/api/v1/reports/export", params={"report": "nothing"}, headers=bearer(seeded["admin"])
        ).status_code
        == 400
    )


def test_conversations_per_day_in_the_reports_time_zone(client, seeded):
    days = report(client, seeded["admin"], "daily", time_zone="America/Los_Angeles", **RANGE)
    assert days["time_zone"] == "America/Los_Angeles"
    # Monday 10:00 UTC is Monday 02:00 in Los Angeles; the range starts on Sunday there.
    assert [(day["date"], day["conversations"]) for day in days["days"]] == [
        ("2026-11-15", 0),
        ("2026-11-16", 6),
    ]


def test_coverage_counts_agents_on_shift_against_last_weeks_arrivals(client, demo, settings, seeded):
    admin = seeded["admin"]
    for agent_id, weekly in (
        (seeded["ann"], {"mon": ["09:00-12:00"]}),
        (seeded["bob"], {"mon": ["11:00-13:00"]}),
    ):
        put = client.put(
            f"/api/v1/agents/{agent_id}/shifts",
            json={"time_zone": "UTC", "weekly": weekly},
            headers=bearer(admin),
        )
        assert put.status_code == 200, put.text
    always = len(run(_agents_without_shifts(demo["workspace_id"]), settings))
    week_later = MONDAY + timedelta(days=7)
    coverage = report(
        client,
        admin,
        "coverage",
        **{"from": week_later.isoformat(), "to": (week_later + timedelta(hours=14)).isoformat()},
    )
    hours = coverage["hours"]
    assert len(hours) == 14 and hours[0]["hour_start"] == "2026-11-23T00:00:00Z"
    assert [hour["agents_on_shift"] - always for hour in hours[8:14]] == [0, 1, 1, 2, 1, 0]
    assert [hour["arrivals_last_week"] for hour in hours[9:12]] == [0, 6, 0]
    webchat_only = report(
        client,
        admin,
        "coverage",
        channel="webchat",
        agent_id=seeded["ann"],
        **{
            "from": (week_later + timedelta(hours=10)).isoformat(),
            "to": (week_later + timedelta(hours=11)).isoformat(),
        },
    )
    assert webchat_only["hours"] == [
        {
            "hour_start": "2026-11-23T10:00:00Z",
            "agents_on_shift": 1,
            "arrivals_last_week": 5,
            "arrivals_per_agent": 5.0,
        }
    ]


def _agents_without_shifts(workspace_id: str):
    async def read(hub) -> list[str]:
        async with hub.database.session() as session:
            agents = (await session.exec(select(Agent).where(Agent.workspace_id == workspace_id))).all()
        return [agent.id for agent in agents if not agent.shifts]

    return read


def test_figures_are_recorded_as_the_conversation_happens(client, desk):  # noqa: F811
    admin, ann, bob = desk["admin"], desk["agents"]["ann"], desk["agents"]["bob"]
    started = datetime.now(UTC)
    conversation_id = new_conversation(client, desk, "Where is my parcel?")
    queue = wait_for(lambda: client.get("/api/v1/queue", headers=bearer(admin)).json())
    assert [entry["conversation"]["id"] for entry in queue] == [conversation_id]
    presence(client, ann, "online")
    presence(client, bob, "online")
    first = _held_by(client, admin, conversation_id)
    other = bob if first == ann["id"] else ann
    replied = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "Let me look."},
        headers=bearer(ann["token"] if first == ann["id"] else bob["token"]),
    )
    assert replied.status_code == 201, replied.text
    moved = client.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        json={"agent_id": other["id"], "note": "Parcel question"},
        headers=bearer(admin),
    )
    assert moved.status_code == 200, moved.text
    resolved = client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=bearer(other["token"]))
    assert resolved.status_code == 200
    view = resolved.json()
    assert view["first_response_at"] and view["resolved_at"] and view["csat"] is None

    span = {
        "from": (started - timedelta(minutes=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }
    overall = report(client, admin, "summary", channel="webchat", **span)["overall"]
    assert overall["conversations"] == 1 and overall["handoffs"] == 1
    for figure in ("first_response", "resolution", "time_in_queue"):
        assert overall[figure]["count"] == 1 and overall[figure]["p50_seconds"] > 0, figure
    assert overall["time_in_queue"]["p50_seconds"] < overall["first_response"]["p50_seconds"]
    assert (overall["bot_conversations"], overall["bot_deflected"]) == (0, 0)
    agents = {row["agent_id"]: row for row in report(client, admin, "agents", **span)}
    assert agents[first]["handled"] == agents[other["id"]]["handled"] == 1
    assert agents[other["id"]]["conversations"] == 1 and agents[first]["conversations"] == 0


def _held_by(client, token: str, conversation_id: str) -> str:
    return wait_for(
        lambda: client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(token)).json()[
            "assignee_id"
        ]
    )


def test_bad_ranges_and_filters_are_refused_naming_them(client, demo, other_token):  # noqa: F811
    admin = demo["api_token"]
    other_agent = client.get("/api/v1/me", headers=bearer(other_token)).json()["agent"]["id"]
    refusals = [
        ("summary", {"from": "2026-11-20T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "from"),
        ("summary", {"from": "2025-01-01T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "to"),
        ("agents", {"channel": "carrier_pigeon"}, "channel"),
        ("summary", {"agent_id": other_agent}, "agent_id"),
        ("daily", {"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ("coverage", {"from": "2026-10-01T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "to"),
    ]
    for name, query, field in refusals:
        answer = client.get(f"/api/v1/reports/{name}", params=query, headers=bearer(admin))
        assert answer.status_code == 422, (name, query, answer.text)
        assert_error_shape(answer)
        assert answer.json()["errors"][0]["field"] == field
    assert (
        client.get("/api/v1/reports/summary", params={"from": "yesterday"}, headers=bearer(admin)).status_code
        == 400
    )
    assert client.get("/api/v1/reports/summary", headers=bearer(other_token)).status_code == 403
    assert client.get("/api/v1/reports/summary").status_code == 401
    assert report(client, admin, "summary")["overall"]["conversations"] == 0
