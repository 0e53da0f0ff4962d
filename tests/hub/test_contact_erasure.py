"""Erasing a contact on request (`POST /api/v1/contacts/{id}/erase`): personal data, messages and files go, the
anonymous counts stay, an audit entry records it, and the contact answers 410 `contact_erased` from then on."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from hub.models import AuditEntry, InboundEvent
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for
from tests.hub.test_contacts import api, contact_of_conversation, visit

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_an_erased_contact_loses_its_data_and_messages_but_reports_keep_their_counts(client, demo) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    token, conversation = visit(client, demo, widget, "I am Li Wei, li.wei@example.com")
    uploaded = client.post(
        f"/widget/{widget}/attachments", files={"file": ("id.png", PNG, "image/png")}, headers=bearer(token)
    ).json()
    client.post(
        f"/widget/{widget}/messages",
        json={"text": "my id card", "client_id": "c-file", "attachments": [{"url": uploaded["url"]}]},
        headers=bearer(token),
    )
    api(client, demo, "POST", f"/conversations/{conversation['id']}/messages", json={"text": "Thanks Li Wei"})
    _other_token, other = visit(client, demo, widget, "same person, other browser")
    contact_id = contact_of_conversation(client, demo, conversation["id"])
    tombstone = contact_of_conversation(client, demo, other["id"])
    api(client, demo, "PATCH", f"/contacts/{contact_id}", json={"name": "Li Wei", "notes": "prefers email"})
    api(client, demo, "PATCH", f"/contacts/{tombstone}", json={"name": "Li W."})
    api(client, demo, "POST", f"/contacts/{contact_id}/merge", json={"contact_id": tombstone})
    ticket = api(
        client,
        demo,
        "POST",
        "/tickets",
        json={"subject": "Li Wei's refund", "conversation_id": conversation["id"]},
    ).json()
    wait_for(lambda: len(messages(client, demo, conversation["id"])) == 3)

    reader = api(
        client, demo, "POST", "/tokens", json={"name": "agentish", "scopes": ["read", "write"]}
    ).json()
    refused = client.post(f"/api/v1/contacts/{contact_id}/erase", headers=bearer(reader["token"]))
    assert refused.status_code == 403
    assert_error_shape(refused)

    erased = api(client, demo, "POST", f"/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    counts = erased.json()
    assert set(counts["contact_ids"]) == {contact_id, tombstone}
    assert (counts["conversations"], counts["messages"], counts["files"], counts["tickets"]) == (2, 4, 1, 1)

    for gone_id in (contact_id, tombstone):
        gone = api(client, demo, "GET", f"/contacts/{gone_id}")
        assert gone.status_code == 410 and gone.json()["code"] == "contact_erased", gone.text
        assert_error_shape(gone)
    again = api(client, demo, "POST", f"/contacts/{contact_id}/erase")
    assert again.status_code == 410
    for query in ("Li Wei", "li.wei@example.com"):
        assert api(client, demo, "GET", "/contacts", params={"q": query}).json()["items"] == []
    assert contact_id not in api(client, demo, "GET", "/contacts/export").text

    kept = messages(client, demo, conversation["id"])
    assert len(kept) == 3, "the message rows stay as counts"
    assert all(item["text"] == "" and item["attachments"] == [] for item in kept)
    assert client.get(uploaded["url"].removeprefix("http://testserver.local")).status_code == 404
    assert api(client, demo, "GET", f"/conversations/{conversation['id']}").status_code == 200
    assert api(client, demo, "GET", f"/tickets/{ticket['id']}").json()["subject"] == "(erased)"
    history = client.get(f"/widget/{widget}/messages", headers=bearer(token)).json()["items"]
    assert not any("Li Wei" in item["text"] for item in history)

    async def stored(hub) -> tuple[list[dict[str, Any]], int]:
        async with hub.database.session() as session:
            audits = (
                await session.exec(
                    select(AuditEntry).where(AuditEntry.subject_id.in_([contact_id, tombstone]))
                )  # type: ignore[attr-defined]
            ).all()
            raw = (
                await session.exec(select(InboundEvent).where(InboundEvent.message.contains("Li Wei")))
            ).all()  # type: ignore[attr-defined]
            return [{"action": row.action, "details": row.details} for row in audits], len(raw)

    audits, raw_left = run(stored, client.app.state.hub.settings)
    assert raw_left == 0
    [entry] = [audit for audit in audits if audit["action"] == "contact.erased"]
    assert entry["details"]["messages"] == 4
    assert all("Li" not in str(audit["details"]) for audit in audits)


def messages(client, demo, conversation_id: str) -> list[dict[str, Any]]:
    return api(client, demo, "GET", f"/conversations/{conversation_id}/messages").json()["items"]


def test_erasing_an_unknown_contact_is_404(client, demo) -> None:
    answer = api(client, demo, "POST", "/contacts/00000000-0000-7000-8000-000000000000/erase")
    assert answer.status_code == 404
    assert_error_shape(answer)


def test_erasing_closes_open_conversations_silently_and_erases_rating_comments(client, demo) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    token, conversation = visit(client, demo, widget, "I am Li Wei")
    conversation_id = conversation["id"]
    assert api(client, demo, "POST", f"/conversations/{conversation_id}/resolve").status_code == 200
    rated = client.post(
        f"/widget/{widget}/csat",
        json={"conversation_id": conversation_id, "rating": 2, "comment": "Li Wei, 138 0013 8000"},
        headers=bearer(token),
    )
    assert rated.status_code == 201, rated.text
    client.post(
        f"/widget/{widget}/messages", json={"text": "still waiting", "client_id": "c2"}, headers=bearer(token)
    )
    wait_for(
        lambda: api(client, demo, "GET", f"/conversations/{conversation_id}").json()["status"] == "queued"
    )
    assert conversation_id in queued(client, demo)
    written = len(messages(client, demo, conversation_id))

    erased = api(client, demo, "POST", f"/contacts/{conversation['contact_id']}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["conversations_closed"] == 1

    closed = api(client, demo, "GET", f"/conversations/{conversation_id}").json()
    assert closed["status"] == "resolved" and closed["resolved_at"]
    assert closed["csat"]["rating"] == 2 and closed["csat"]["comment"] is None
    assert conversation_id not in queued(client, demo)
    assert len(messages(client, demo, conversation_id)) == written, "nothing is said to the customer"


def queued(client, demo) -> list[str]:
    return [entry["conversation"]["id"] for entry in api(client, demo, "GET", "/queue").json()]
