"""The contact view lists the customer's tickets with their status, and tickets follow a merge and its undo."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.conftest import inbox_of
from tests.hub.test_contacts import api, contact, contact_of_conversation, visit


def open_ticket(
    client: TestClient, demo: dict[str, Any], conversation_id: str, subject: str
) -> dict[str, Any]:
    answer = api(
        client, demo, "POST", "/tickets", json={"subject": subject, "conversation_id": conversation_id}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def statuses(view: dict[str, Any]) -> dict[str, str]:
    return {item["subject"]: item["status"] for item in view["tickets"]["items"]}


def test_the_contact_view_shows_its_tickets_and_they_follow_a_merge_and_its_undo(
    client,
    demo,
) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    _token, first = visit(client, demo, widget, "my parcel is late")
    _token, second = visit(client, demo, widget, "refund please")
    keep = contact_of_conversation(client, demo, first["id"])
    fold = contact_of_conversation(client, demo, second["id"])
    late = open_ticket(client, demo, first["id"], "Late parcel")
    open_ticket(client, demo, second["id"], "Refund")
    changed = api(client, demo, "PATCH", f"/tickets/{late['id']}", json={"status": "pending"})
    assert changed.status_code == 200, changed.text

    assert statuses(contact(client, demo, keep)) == {"Late parcel": "pending"}
    assert statuses(contact(client, demo, fold)) == {"Refund": "new"}
    listed = api(client, demo, "GET", "/tickets", params={"contact_id": keep}).json()["items"]
    assert [item["subject"] for item in listed] == ["Late parcel"]

    preview = api(client, demo, "POST", f"/contacts/{keep}/merge", json={"contact_id": fold, "dry_run": True})
    assert len(preview.json()["ticket_ids"]) == 1
    merged = api(client, demo, "POST", f"/contacts/{keep}/merge", json={"contact_id": fold}).json()
    assert statuses(contact(client, demo, keep)) == {"Late parcel": "pending", "Refund": "new"}

    api(client, demo, "POST", f"/contacts/merges/{merged['audit_id']}/undo")
    assert statuses(contact(client, demo, keep)) == {"Late parcel": "pending"}
    assert statuses(contact(client, demo, fold)) == {"Refund": "new"}
