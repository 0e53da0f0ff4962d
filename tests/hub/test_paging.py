"""Every list of /api/v1 is paged one way (hub/api/paging.py): `limit` and `cursor` in, `items` and `next_cursor`
out, pages that never repeat or skip a row, and 400 `invalid_cursor` for a cursor the API did not make. The lists
answering bare arrays take the same `limit` and `cursor` and name their next page in a `Link` header.

The first test reads the served OpenAPI document, so a list added later is held to it by default; the next walk
the pages of one list of every module that has one, and of every bare array."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar.testing import TestClient
from sqlmodel import select

from hub.models import InboundEvent, Inbox
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for
from tests.hub.openapi_support import resolve
from tests.hub.test_assignment_api import assigned_to, desk, make_agents, new_conversation  # noqa: F401
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_knowledge_base_api import RETURNS
from tests.hub.workspaces import other_admin_token  # noqa: F401

PAGED_ARRAYS = {
    "/api/v1/agents": "the workspace's agents",
    "/api/v1/inboxes": "the workspace's channels",
    "/api/v1/teams": "the workspace's teams",
    "/api/v1/queue": "the conversations waiting now, in the order routing serves them",
}
"""Bare JSON arrays, kept so because the inbox and integrations read them as arrays: paged only when asked (`limit`,
`cursor`), the next page named by an RFC 8288 `Link` header, so the body keeps its shape for every client."""
UNPAGED_LISTS = {"/api/v1/reports/agents": "a report's row per agent"}
"""Bare JSON arrays answered whole: a report's rows, one per agent of the report."""


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
    assert sorted(arrays) == sorted(PAGED_ARRAYS | UNPAGED_LISTS)
    for path in PAGED_ARRAYS:
        operation = document["paths"][path]["get"]
        parameters = {parameter["name"] for parameter in operation.get("parameters", [])}
        assert {"limit", "cursor"} <= parameters, (path, parameters)
        assert "Link" in operation["responses"]["200"].get("headers", {}), path
        assert "400" in operation["responses"], path
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


NEXT_LINK = re.compile(r'<(/[^<>]*)>; rel="next"')
MAX_PAGES = 20
"""More pages than any walk here takes two rows at a time: a list still naming a next page after them loops."""


def walk_links(
    client: TestClient, token: str, path: str, key: Callable[[Any], Any], between: Callable[[], None]
) -> tuple[list[Any], str]:
    """Every row of the bare array at `path`, two at a time through its `Link` headers, with `between` run after
    the first page; and the first page's next cursor. Each page holds at most two rows, none repeats, and only the
    last page has no `Link`."""
    seen: list[Any] = []
    answer = client.get(path, params={"limit": 2}, headers=bearer(token))
    first_cursor = ""
    for _ in range(MAX_PAGES):
        assert answer.status_code == 200, (path, answer.text)
        page = answer.json()
        assert isinstance(page, list) and len(page) <= 2, (path, page)
        seen += [key(row) for row in page]
        link = answer.headers.get("link")
        if link is None:
            break
        assert len(page) == 2, path
        target = NEXT_LINK.fullmatch(link)
        assert target, link
        assert target.group(1).startswith(f"{path}?") and "limit=2" in target.group(1), link
        if not first_cursor:
            first_cursor = parse_qs(urlsplit(target.group(1)).query)["cursor"][0]
            between()
        answer = client.get(target.group(1), headers=bearer(token))
    else:
        raise AssertionError(f"{path} still names a next page after {MAX_PAGES}: {seen}")
    assert len(seen) == len(set(seen)), (path, seen)
    assert first_cursor, f"{path} had a single page"
    return seen, first_cursor


def _refused(answer: Any) -> None:
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_cursor", answer.text
    assert_error_shape(answer)


def test_the_bare_arrays_page_by_link_header_and_answer_whole_when_not_asked(
    client: TestClient,
    demo,
    settings,
    desk,  # noqa: F811
    other_admin_token,  # noqa: F811
) -> None:
    admin = desk["admin"]
    headers = bearer(admin)
    make_agents(settings, desk["workspace_id"], [f"pager{n}" for n in range(3)])
    for n in range(4):
        made = client.post("/api/v1/inboxes", json={"kind": "webchat", "name": f"Chat {n}"}, headers=headers)
        assert made.status_code == 201, made.text
    for name in ("Team e", "Team a", "Team c", "Team b", "Team d"):
        assert client.post("/api/v1/teams", json={"name": name}, headers=headers).status_code == 201
    waiting = [new_conversation(client, desk, f"waiting {n}") for n in range(5)]
    for conversation_id in waiting:
        assigned_to(client, desk, conversation_id, None)
    for conversation_id, level in zip(waiting, (0, 3, 0, 5, 3), strict=True):
        contact_id = client.get(f"/api/v1/conversations/{conversation_id}", headers=headers).json()[
            "contact_id"
        ]
        vip = client.patch(f"/api/v1/contacts/{contact_id}", json={"vip_level": level}, headers=headers)
        assert vip.status_code == 200, vip.text

    def add_agent() -> None:
        make_agents(settings, desk["workspace_id"], ["latecomer"])

    def add_inbox() -> None:
        assert client.post(
            "/api/v1/inboxes", json={"kind": "webchat", "name": "Late"}, headers=headers
        ).is_success

    def add_team() -> None:
        assert client.post("/api/v1/teams", json={"name": "A late team"}, headers=headers).is_success

    def add_waiting() -> None:
        assigned_to(client, desk, new_conversation(client, desk, "late"), None)

    arrays: dict[str, tuple[Callable[[Any], Any], Callable[[], None]]] = {
        "/api/v1/agents": (lambda row: row["id"], add_agent),
        "/api/v1/inboxes": (lambda row: row["id"], add_inbox),
        "/api/v1/teams": (lambda row: row["name"], add_team),
        "/api/v1/queue": (lambda row: (row["position"], row["conversation"]["id"]), add_waiting),
    }
    cursors = {}
    for path, (key, add_one) in arrays.items():
        before = client.get(path, headers=headers)
        assert before.status_code == 200 and "link" not in before.headers, path
        walked, cursors[path] = walk_links(client, admin, path, key, add_one)
        whole = client.get(path, headers=headers)
        assert "link" not in whole.headers, path
        rows = [key(row) for row in whole.json()]
        assert len(rows) >= 6, (path, rows)
        assert set(map(key, before.json())) <= set(walked), path
        added_before_the_cursor = {"A late team"} if path == "/api/v1/teams" else set()
        assert set(rows) - set(walked) == added_before_the_cursor, (path, rows, walked)
        one_page = client.get(path, params={"limit": 100}, headers=headers)
        assert "link" not in one_page.headers, path
        paged = [key(row) for row in one_page.json()]
        assert sorted(paged) == sorted(rows) and [row for row in paged if row in walked] == walked, path
        if path in ("/api/v1/teams", "/api/v1/queue"):
            assert paged == rows, path

    queue = client.get("/api/v1/queue", headers=headers).json()
    assert [row["position"] for row in queue] == list(range(1, len(queue) + 1))
    assert [row["vip_level"] for row in queue][:5] == [5, 3, 3, 0, 0]
    assert [row["name"] for row in client.get("/api/v1/teams", headers=headers).json()][:2] == [
        "A late team",
        "Support",
    ]

    mine = {
        path: {key(row) for row in client.get(path, headers=headers).json()}
        for path, (key, _) in arrays.items()
    }
    for path in arrays:
        other = next(each for each in arrays if each != path)
        _refused(client.get(path, params={"limit": 2, "cursor": cursors[other]}, headers=headers))
        _refused(client.get(path, params={"cursor": "bm9wZQ"}, headers=headers))
        _refused(client.get(path, params={"limit": 2, "cursor": waiting[0]}, headers=headers))
        for limit in (0, 101):
            tickets = client.get("/api/v1/tickets", params={"limit": limit}, headers=headers)
            answer = client.get(path, params={"limit": limit}, headers=headers)
            assert (answer.status_code, answer.json()["code"]) == (
                tickets.status_code,
                tickets.json()["code"],
            ), (path, answer.text)
        theirs = client.get(
            path, params={"limit": 100, "cursor": cursors[path]}, headers=bearer(other_admin_token)
        )
        assert theirs.status_code == 200, theirs.text
        assert not {arrays[path][0](row) for row in theirs.json()} & mine[path], path
