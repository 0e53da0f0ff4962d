"""Workspace isolation over the whole route table: an admin token of workspace A gets 404 for every object of
workspace B on every operation of /api/v1 that names one, changes nothing of B's, and lists none of B's ids.

The operations come from the app's routes, so an endpoint added later is checked by default: a new path parameter
or a new request body needs an entry here, and the test fails until it has one."""

from __future__ import annotations

import inspect
from typing import Any

from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlmodel import select

from hub.models import AuditEntry, InboundEvent, Inbox, WebhookSubscription
from tests.conftest import assert_error_shape, bearer, run, wait_for
from tests.hub.test_knowledge_base_api import RETURNS
from tests.hub.workspaces import other_admin_token  # noqa: F401

API = "/api/v1/"
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/conversations/{conversation_id}/assign"): {"agent_id": None},
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): {"text": "hello", "client_id": "iso-1"},
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): {"text": "a note"},
    ("POST", "/api/v1/conversations/{conversation_id}/typing"): {"typing": True},
    ("PATCH", "/api/v1/kb/articles/{article_id}"): {"title": "Taken over"},
    ("PUT", "/api/v1/inboxes/{inbox_id}/bot"): {"enabled": True},
    ("PATCH", "/api/v1/webhooks/{subscription_id}"): {"url": "https://attacker.example.com/h"},
    ("PATCH", "/api/v1/contacts/{contact_id}"): {"name": "Taken over"},
    ("POST", "/api/v1/contacts/{contact_id}/merge"): {"contact_id": "00000000-0000-7000-8000-000000000000"},
    ("PATCH", "/api/v1/tickets/{ticket_id}"): {"subject": "Taken over"},
    ("PUT", "/api/v1/inboxes/{inbox_id}/sla"): {},
    ("PUT", "/api/v1/inboxes/{inbox_id}/business_hours"): {"out_of_hours_message": "Taken over"},
    ("PATCH", "/api/v1/inboxes/{inbox_id}"): {"name": "Taken over"},
    ("PATCH", "/api/v1/agents/{agent_id}"): {"max_concurrent": 99, "role": "admin", "name": "Taken over"},
    ("PUT", "/api/v1/teams/{team_id}/members"): {"agent_ids": []},
    ("PUT", "/api/v1/inboxes/{inbox_id}/routing"): {"strategy": "round_robin"},
    ("PUT", "/api/v1/agents/{agent_id}/shifts"): {"time_zone": "UTC", "weekly": {"mon": ["09:00-17:00"]}},
    ("POST", "/api/v1/conversations/{conversation_id}/transfer"): {
        "team_id": "00000000-0000-7000-8000-000000000000",
        "note": "Taken over",
    },
    ("POST", "/api/v1/conversations/{conversation_id}/status"): {"status": "pending"},
    ("PUT", "/api/v1/contacts/by_external_id/{external_id}"): {"name": "Taken over"},
    ("PUT", "/api/v1/conversations/{conversation_id}/labels"): {"labels": ["taken-over"]},
    ("PATCH", "/api/v1/canned_responses/{canned_response_id}"): {"content": "Taken over"},
    ("POST", "/api/v1/tickets/{ticket_id}/comments"): {"body": "Taken over", "public": True},
}
"""A valid body for each operation that takes one, so the answer is the lookup's and not the body's validation."""

UPSERTS = {("PUT", "/api/v1/contacts/by_external_id/{external_id}")}
"""Operations whose path is a key the caller chooses in its own workspace: A's call makes A's own object (201), and
B's object of the same key stays as it was (the snapshot compares it)."""


def _operations(client: TestClient) -> list[tuple[str, str, bool]]:
    """(method, path template, takes a body) of every /api/v1 operation naming an object in its path (Litestar's
    own OPTIONS answers name no object)."""
    found = []
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(API) or "{" not in route.path:
            continue
        template = route.path.replace(":str}", "}")
        for handler in route.route_handlers:
            takes_body = "data" in inspect.signature(handler.fn).parameters
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                found.append((method, template, takes_body))
    return sorted(found)


def _workspace_b(client: TestClient, token: str, settings) -> dict[str, str]:
    """One object of every kind in workspace B, made through its own API where the API makes them."""
    inbox = client.post("/api/v1/inboxes", json={"kind": "webchat", "name": "B chat"}, headers=bearer(token))
    assert inbox.status_code == 201, inbox.text
    subscription = client.post(
        "/api/v1/webhooks",
        json={"url": "https://crm.b.example.invalid/h", "events": ["message.created"]},
        headers=bearer(token),
    ).json()
    said = client.post(
        f"/widget/{inbox.json()['widget_token']}/messages", json={"text": "B's customer", "client_id": "b1"}
    )
    assert said.status_code == 201, said.text
    conversation = wait_for(
        lambda: client.get("/api/v1/conversations", headers=bearer(token)).json()["items"]
    )[0]
    article = client.post("/api/v1/kb/articles", json=RETURNS, headers=bearer(token)).json()
    example = client.post(
        "/api/v1/kb/out-of-scope-examples", json={"text": "B's gym membership"}, headers=bearer(token)
    )
    assert example.status_code == 201, example.text
    agent_id = client.get("/api/v1/me", headers=bearer(token)).json()["agent"]["id"]
    team = client.post(
        "/api/v1/teams", json={"name": "B team", "agent_ids": [agent_id]}, headers=bearer(token)
    )
    assert team.status_code == 201, team.text
    ticket = client.post(
        "/api/v1/tickets",
        json={"subject": "B's ticket", "inbox_id": inbox.json()["id"]},
        headers=bearer(token),
    )
    assert ticket.status_code == 201, ticket.text
    api_token = client.post(
        "/api/v1/tokens", json={"name": "B CRM", "scopes": ["read"]}, headers=bearer(token)
    )
    delivery = wait_for(
        lambda: client.get(f"/api/v1/webhooks/{subscription['id']}/deliveries", headers=bearer(token)).json()[
            "items"
        ]
    )[0]

    async def dead_event(hub) -> str:
        async with hub.database.session() as session:
            row = (await session.exec(select(Inbox).where(Inbox.id == inbox.json()["id"]))).one()
            event = InboundEvent(
                workspace_id=row.workspace_id,
                inbox_id=row.id,
                dedupe_key="b-dead",
                message_id="0" * 36,
                message="{}",
                status="dead",
                error="parse failed",
            )
            session.add(event)
            await session.commit()
            return event.id

    async def audit_entry(hub) -> str:
        async with hub.database.session() as session:
            subscription_row = await session.get_one(WebhookSubscription, subscription["id"])
            entry = (
                await session.exec(
                    select(AuditEntry).where(AuditEntry.workspace_id == subscription_row.workspace_id)
                )
            ).first()
            assert entry is not None
            return entry.id

    crm_contact = client.put(
        "/api/v1/contacts/by_external_id/b-crm-1", json={"name": "B's CRM customer"}, headers=bearer(token)
    )
    assert crm_contact.status_code == 201, crm_contact.text
    canned_response = client.post(
        "/api/v1/canned_responses",
        json={"short_code": "b-hello", "content": "B's hello"},
        headers=bearer(token),
    )
    assert canned_response.status_code == 201, canned_response.text
    note = client.post(
        f"/api/v1/conversations/{conversation['id']}/notes",
        json={"text": "B's note for @Demo Admin"},
        headers=bearer(token),
    )
    assert note.status_code == 201, note.text
    return {
        "note_id": note.json()["id"],
        "canned_response_id": canned_response.json()["id"],
        "external_id": "b-crm-1",
        "inbox_id": inbox.json()["id"],
        "conversation_id": conversation["id"],
        "article_id": article["id"],
        "example_id": example.json()["id"],
        "subscription_id": subscription["id"],
        "delivery_id": delivery["id"],
        "token_id": api_token.json()["id"],
        "event_id": run(dead_event, settings),
        "contact_id": conversation["contact_id"],
        "message_id": said.json()["id"],
        "ticket_id": ticket.json()["id"],
        "audit_id": run(audit_entry, settings),
        "agent_id": agent_id,
        "team_id": team.json()["id"],
    }


def _snapshot(client: TestClient, token: str, ids: dict[str, str]) -> list[Any]:
    """What B sees of its objects, to compare after A's attempts."""
    return [
        client.get(f"/api/v1/inboxes/{ids['inbox_id']}", headers=bearer(token)).json(),
        client.get(f"/api/v1/inboxes/{ids['inbox_id']}/bot", headers=bearer(token)).json(),
        client.get(f"/api/v1/inboxes/{ids['inbox_id']}/routing", headers=bearer(token)).json(),
        client.get("/api/v1/agents", headers=bearer(token)).json(),
        client.get(f"/api/v1/agents/{ids['agent_id']}/shifts", headers=bearer(token)).json(),
        client.get("/api/v1/teams", headers=bearer(token)).json(),
        client.get(f"/api/v1/kb/articles/{ids['article_id']}", headers=bearer(token)).json(),
        client.get("/api/v1/kb/out-of-scope-examples", headers=bearer(token)).json(),
        client.get(f"/api/v1/webhooks/{ids['subscription_id']}", headers=bearer(token)).json(),
        client.get(f"/api/v1/inbound-events/{ids['event_id']}", headers=bearer(token)).json(),
        client.get(f"/api/v1/contacts/by_external_id/{ids['external_id']}", headers=bearer(token)).json(),
        client.get("/api/v1/canned_responses", headers=bearer(token)).json(),
        client.get(f"/api/v1/conversations/{ids['conversation_id']}/notes", headers=bearer(token)).json(),
        client.get(f"/api/v1/tickets/{ids['ticket_id']}/comments", headers=bearer(token)).json(),
        [
            token_view["id"]
            for token_view in client.get("/api/v1/tokens", headers=bearer(token)).json()["items"]
        ],
        {
            key: value
            for key, value in client.get(
                f"/api/v1/conversations/{ids['conversation_id']}", headers=bearer(token)
            )
            .json()
            .items()
            if key != "last_message_at"
        },
        [
            message["id"]
            for message in client.get(
                f"/api/v1/conversations/{ids['conversation_id']}/messages", headers=bearer(token)
            ).json()["items"]
        ],
    ]


def test_a_token_of_workspace_a_gets_404_for_every_object_of_workspace_b(
    client,
    demo,
    settings,
    other_admin_token,  # noqa: F811
):
    a_token, b_token = demo["api_token"], other_admin_token
    b = _workspace_b(client, b_token, settings)
    before = _snapshot(client, b_token, b)
    operations = _operations(client)
    assert len(operations) >= 20, operations
    for method, template, takes_body in operations:
        path = template
        for name, value in b.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"{method} {template}: give workspace B an object for its path parameter"
        body = BODIES.get((method, template))
        assert body is not None or not takes_body, f"{method} {template}: add a valid body to BODIES"
        answer = client.request(method, path, json=body, headers=bearer(a_token))
        if (method, template) in UPSERTS:
            assert answer.status_code == 201, (method, template, answer.status_code, answer.text[:300])
            continue
        assert answer.status_code == 404, (method, template, answer.status_code, answer.text[:300])
        assert_error_shape(answer)
    assert _snapshot(client, b_token, b) == before


def test_lists_of_workspace_a_name_nothing_of_workspace_b(client, demo, settings, other_admin_token):  # noqa: F811
    b = _workspace_b(client, other_admin_token, settings)
    a_token = demo["api_token"]
    listed = [
        (route.path, client.get(route.path, headers=bearer(a_token)))
        for route in client.app.routes
        if isinstance(route, HTTPRoute)
        and route.path.startswith(API)
        and "{" not in route.path
        and "GET" in route.methods
    ]
    assert len(listed) >= 8
    for path, answer in listed:
        assert answer.status_code == 200, (path, answer.text[:300])
        assert not [name for name, value in b.items() if value in answer.text], path


def test_a_delivery_of_workspace_b_is_not_reached_through_a_subscription_of_a(
    client,
    demo,
    settings,
    other_admin_token,  # noqa: F811
):
    b = _workspace_b(client, other_admin_token, settings)
    a_token = demo["api_token"]
    mine = client.post(
        "/api/v1/webhooks",
        json={"url": "https://crm.a.example.invalid/h", "events": ["message.created"]},
        headers=bearer(a_token),
    ).json()
    answer = client.post(
        f"/api/v1/webhooks/{mine['id']}/deliveries/{b['delivery_id']}/redeliver", headers=bearer(a_token)
    )
    assert answer.status_code == 404 and answer.json()["code"] == "delivery_not_found"
    read = client.get(f"/api/v1/webhooks/{mine['id']}/deliveries/{b['delivery_id']}", headers=bearer(a_token))
    assert read.status_code == 404 and read.json()["code"] == "delivery_not_found"


def test_searches_and_filters_of_workspace_a_find_nothing_of_workspace_b(
    client,
    demo,
    settings,
    other_admin_token,  # noqa: F811
):
    b = _workspace_b(client, other_admin_token, settings)
    for query in ({"q": "B's note"}, {"q": "B"}, {"team_id": b["team_id"]}, {"inbox_id": b["inbox_id"]}):
        answer = client.get("/api/v1/conversations", params=query, headers=bearer(demo["api_token"]))
        assert answer.status_code == 200 and answer.json()["items"] == [], (query, answer.text[:300])
    mine = client.get("/api/v1/conversations", params={"q": "B's note"}, headers=bearer(other_admin_token))
    assert [item["id"] for item in mine.json()["items"]] == [b["conversation_id"]]
