"""The visitor's journey: the widget socket's `page` frames kept on the contact (bounded, without query strings),
the browser's time zone and language, the channel the customer came from, shown live to agents and purged with
the contact."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.testing import TestClient

from hub.journey import MAX_PAGES
from hub.views import ContactPageViewed
from tests.conftest import bearer, inbox_of, wait_for

PAGE = {
    "type": "page",
    "url": "https://shop.example.com/orders?card=4111111111111111#pay",
    "title": "Your orders",
    "referrer": "https://search.example.com/?q=my+name",
    "time_zone": "Asia/Shanghai",
    "language": "zh-CN",
}


def api(client: TestClient, demo: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, f"/api/v1{path}", headers=bearer(demo["api_token"]), **kwargs)


def contact_of_visitor(client: TestClient, demo: dict[str, Any], page_url: str) -> dict[str, Any]:
    """The contact whose current page is `page_url` (the visitor never wrote, so there is no conversation)."""

    def find() -> dict[str, Any] | None:
        for item in api(client, demo, "GET", "/contacts").json()["items"]:
            detail = api(client, demo, "GET", f"/contacts/{item['id']}").json()
            if detail["current_page"] and detail["current_page"]["url"] == page_url:
                return detail
        return None

    return wait_for(find)


def test_pages_reach_the_contact_and_the_agents_live_without_their_query_strings(client, demo) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as agent:
        assert agent.receive_json()["type"] == "ready"
        with client.websocket_connect(f"/widget/{widget}/ws") as visitor:
            visitor.send_json({"visitor_token": None})
            ready = visitor.receive_json()
            assert ready["type"] == "ready"
            visitor.send_json(PAGE)
            visitor.send_json({**PAGE, "url": "https://shop.example.com/checkout", "title": "Checkout"})
            visitor.send_json({"type": "message", "text": "can I pay later?", "client_id": "c1"})
            assert visitor.receive_json()["type"] == "ack"
        live = agent.receive_json(timeout=10)
        while live["type"] != "contact.page_viewed":
            live = agent.receive_json(timeout=10)
    event = msgspec.convert(live, ContactPageViewed)
    assert event.page.url == "https://shop.example.com/orders"
    assert event.page.referrer == "https://search.example.com/"
    contact = contact_of_visitor(client, demo, "https://shop.example.com/checkout")
    assert contact["id"] == event.contact_id
    assert [page["title"] for page in contact["recent_pages"]] == ["Checkout", "Your orders"]
    assert "4111" not in str(contact) and "my+name" not in str(contact)
    assert (contact["time_zone"], contact["language"]) == ("Asia/Shanghai", "zh-CN")
    assert wait_for(
        lambda: api(client, demo, "GET", f"/contacts/{contact['id']}").json()["first_channel"]
    ) == ("webchat")


def test_the_trail_is_bounded_and_purged_with_the_contact(client, demo) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    with client.websocket_connect(f"/widget/{widget}/ws") as visitor:
        visitor.send_json({"visitor_token": None})
        assert visitor.receive_json()["type"] == "ready"
        for number in range(MAX_PAGES + 5):
            visitor.send_json({**PAGE, "url": f"https://shop.example.com/p/{number}"})
        visitor.send_json({"type": "message", "text": "hello", "client_id": "c1"})
        assert visitor.receive_json()["type"] == "ack"
    last = f"https://shop.example.com/p/{MAX_PAGES + 4}"
    contact = contact_of_visitor(client, demo, last)
    assert len(contact["recent_pages"]) == MAX_PAGES
    assert contact["recent_pages"][-1]["url"] == "https://shop.example.com/p/5"
    assert api(client, demo, "POST", f"/contacts/{contact['id']}/erase").status_code == 200
    assert api(client, demo, "GET", f"/contacts/{contact['id']}").status_code == 410

    async def pages_left(hub) -> int:
        from sqlmodel import select

        from hub.models import PageView

        async with hub.database.session() as session:
            return len(
                (await session.exec(select(PageView).where(PageView.contact_id == contact["id"]))).all()
            )

    from tests.conftest import run

    assert run(pages_left, client.app.state.hub.settings) == 0


def test_a_bad_page_frame_is_refused_and_the_socket_stays(client, demo) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    with client.websocket_connect(f"/widget/{widget}/ws") as visitor:
        visitor.send_json({"visitor_token": None})
        assert visitor.receive_json()["type"] == "ready"
        for bad in (
            {"type": "page", "url": "javascript:alert(1)"},
            {"type": "page", "url": "https://x.example/" + "a" * 3000},
            {"type": "page", "url": "https://x.example/", "time_zone": "<script>"},
        ):
            visitor.send_json(bad)
            refused = visitor.receive_json()
            assert refused["type"] == "error" and refused["code"] == "invalid_page", refused
        visitor.send_json({"type": "message", "text": "still here", "client_id": "c1"})
        assert visitor.receive_json()["type"] == "ack"


def browse(client: TestClient, widget: str, token: str, paths: list[str]) -> None:
    with client.websocket_connect(f"/widget/{widget}/ws") as visitor:
        visitor.send_json({"visitor_token": token})
        assert visitor.receive_json()["type"] == "ready"
        for path in paths:
            visitor.send_json({**PAGE, "url": f"https://shop.example.com{path}", "title": path})
        visitor.send_json({"type": "message", "text": "looking around", "client_id": f"c-{paths[0]}"})
        assert visitor.receive_json()["type"] == "ack"


def pages_of(client: TestClient, demo: dict[str, Any], conversation_id: str) -> list[str]:
    view = api(client, demo, "GET", f"/conversations/{conversation_id}").json()
    return [page["title"] for page in view["recent_pages"]]


def test_the_conversation_shows_its_contacts_pages_which_a_merge_moves_and_its_undo_gives_back(
    client, demo
) -> None:
    from tests.hub.test_contacts import visit

    widget = inbox_of(demo, "webchat")["widget_token"]
    token_a, first = visit(client, demo, widget, "hello from one tab")
    token_b, second = visit(client, demo, widget, "hello from another browser")
    browse(client, widget, token_a, ["/a1", "/a2"])
    browse(client, widget, token_b, ["/b1"])
    assert wait_for(lambda: pages_of(client, demo, first["id"]) == ["/a2", "/a1"])
    assert wait_for(lambda: pages_of(client, demo, second["id"]) == ["/b1"])

    merged = api(
        client,
        demo,
        "POST",
        f"/contacts/{first['contact_id']}/merge",
        json={"contact_id": second["contact_id"]},
    )
    assert merged.status_code == 200, merged.text
    for conversation in (first, second):
        assert sorted(pages_of(client, demo, conversation["id"])) == ["/a1", "/a2", "/b1"]

    undone = api(client, demo, "POST", f"/contacts/merges/{merged.json()['audit_id']}/undo")
    assert undone.status_code == 200, undone.text
    assert pages_of(client, demo, first["id"]) == ["/a2", "/a1"]
    assert pages_of(client, demo, second["id"]) == ["/b1"]

    assert api(client, demo, "POST", f"/contacts/{first['contact_id']}/erase").status_code == 200
    assert pages_of(client, demo, first["id"]) == []
