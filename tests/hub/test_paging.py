"""Every list of /api/v1 is paged one way (hub/api/paging.py): `limit` and `cursor` in, `items` and `next_cursor`
out, pages that never repeat or skip a row, and 400 `invalid_cursor` for a cursor the API did not make.

The first test reads the served OpenAPI document, so a list added later is held to it by default; the second walks
the pages of one list of every module that has one."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from sqlmodel import select

from hub.models import InboundEvent, Inbox
from tests.conftest import bearer, inbox_of, run, wait_for
from tests.hub.openapi_support import resolve
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_knowledge_base_api import RETURNS

UNPAGED_LISTS = {
    "/api/v1/agents": "the workspace's agents",
    "/api/v1/inboxes": "the workspace's channels",
    "/api/v1/teams": "the workspace's teams",
    "/api/v1/queue": "the conversations waiting now, in the order routing serves them",
    "/api/v1/reports/agents": "a report's row per agent",
}
"""Bare JSON arrays kept as they are: each is bounded by what an admin configures (or by the queue), and the inbox
and integrations read them as arrays; paging them changes their shape for every client at once."""


def test_every_list_takes_limit_and_cursor_and_answers_items_and_next_cursor(client: TestClient) -> None:
    document = client.get("/schema/openapi.json").json()
    paged, arrays = [], []
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if not path.startswith("/api/v1/") or operation is None:
            continue
        answer = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if answer is None:
            continue
        schema = resolve(document, answer["schema"])
        if schema.get("type") == "array":
            arrays.append(path)
        elif "items" in schema.get("properties", {}):
            paged.append(path)
            parameters = {parameter["name"] for parameter in operation.get("parameters", [])}
            assert {"limit", "cursor"} <= parameters, (path, parameters)
            assert "next_cursor" in schema["properties"], path
            assert "next_cursor" in schema.get("required", []), path
    assert sorted(arrays) == sorted(UNPAGED_LISTS)
    assert len(paged) >= 14, paged


def walk(client: TestClient, token: str, path: str, key: str = "id") -> list[Any]:
    """Every row of the list at `path`, two at a time; each page holds at most two, none repeats."""
    seen: list[Any] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = client.get(path, params=params, headers=bearer(token))
        assert answer.status_code == 200, (path, answer.text)
        page = answer.json()
        assert len(page["items"]) <= 2, path
        seen += [item[key] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
        assert page["items"], path
    assert len(seen) == len(set(seen)), path
    return seen


def _dead_events(settings, inbox_id: str, count: int) -> None:
    async def park(hub) -> None:
        async with hub.database.session() as session:
            inbox = (await session.exec(select(Inbox).where(Inbox.id == inbox_id))).one()
            for number in range(count):
                session.add(
                    InboundEvent(
                        workspace_id=inbox.workspace_id,
                        inbox_id=inbox.id,
                        dedupe_key=f"paging-dead-{number}",
                        message_id=f"{number:036d}",
                        message="{}",
                        status="dead",
                        error="parse failed",
                    )
                )
            await session.commit()

    run(park, settings)


def test_the_lists_of_every_module_walk_page_by_page(client: TestClient, demo, settings) -> None:
    token = demo["api_token"]
    headers = bearer(token)
    webchat = inbox_of(demo, "webchat")
    conversations = [
        conversation_of(client, token, Visitor(client, webchat["widget_token"]).say(f"question {n}")["id"])
        for n in range(3)
    ]
    first = conversations[0]
    contact_id = client.get(f"/api/v1/conversations/{first}", headers=headers).json()["contact_id"]
    for n in range(3):
        assert client.post(
            f"/api/v1/conversations/{first}/notes", json={"text": f"note {n}"}, headers=headers
        ).is_success
        assert client.put(
            f"/api/v1/conversations/{conversations[n]}/labels",
            json={"labels": [f"l{n}", "common"]},
            headers=headers,
        ).is_success
        assert client.put(f"/api/v1/contacts/by_external_id/crm-{n}", json={"name": f"C{n}"}, headers=headers)
        assert client.post("/api/v1/tokens", json={"name": f"t{n}", "scopes": ["read"]}, headers=headers)
        assert client.post(
            "/api/v1/webhooks",
            json={"url": f"https://crm{n}.example.invalid/h", "events": ["ticket.created"]},
            headers=headers,
        ).is_success
        assert client.post(
            "/api/v1/kb/articles", json={**RETURNS, "title": f"{RETURNS['title']} {n}"}, headers=headers
        ).is_success
        assert client.post(
            "/api/v1/canned_responses", json={"short_code": f"c{n}", "content": "x"}, headers=headers
        ).is_success
    ticket = client.post("/api/v1/tickets", json={"subject": "t", "conversation_id": first}, headers=headers)
    assert ticket.status_code == 201
    for n in range(3):
        assert client.post(
            "/api/v1/tickets", json={"subject": f"t{n}", "inbox_id": webchat["id"]}, headers=headers
        )
        assert client.post(
            f"/api/v1/tickets/{ticket.json()['id']}/comments", json={"body": f"c{n}"}, headers=headers
        ).is_success
        assert client.post(
            f"/api/v1/conversations/{first}/messages", json={"text": f"reply {n}"}, headers=headers
        ).is_success
    _dead_events(settings, webchat["id"], 3)
    subscription = client.get("/api/v1/webhooks", headers=headers).json()["items"][0]["id"]
    wait_for(
        lambda: (
            len(client.get(f"/api/v1/webhooks/{subscription}/deliveries", headers=headers).json()["items"])
            >= 3
        )
    )

    lists = {
        "/api/v1/conversations": 3,
        f"/api/v1/conversations/{first}/messages": 7,
        f"/api/v1/conversations/{first}/notes": 3,
        "/api/v1/contacts": 6,
        f"/api/v1/contacts/{contact_id}/conversations": 1,
        "/api/v1/tickets": 4,
        f"/api/v1/tickets/{ticket.json()['id']}/comments": 3,
        "/api/v1/kb/articles": 3,
        "/api/v1/tokens": 3,
        "/api/v1/webhooks": 3,
        f"/api/v1/webhooks/{subscription}/deliveries": 4,
        "/api/v1/inbound-events": 3,
        "/api/v1/canned_responses": 3,
        "/api/v1/labels": 4,
    }
    for path, at_least in lists.items():
        key = "label" if path.endswith("/labels") else "id"
        walked = walk(client, token, path, key)
        whole = client.get(path, params={"limit": 100}, headers=headers).json()
        assert walked == [item[key] for item in whole["items"]], path
        assert whole["next_cursor"] is None and len(walked) >= at_least, (path, len(walked))
        refused = client.get(path, params={"cursor": "bm9wZQ"}, headers=headers)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_cursor", (path, refused.text)
