"""The unified customer view through the API: identify from the business's site (signed and not), contacts read,
searched and edited, merged with a preview and undone, and never shown to another workspace or visitor."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from hub.models import OutboxEvent
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for
from tests.hub.test_api import _other_workspace_token

CUSTOMER_EMAIL = "Li.Wei@Example.COM"


@pytest.fixture
def widget(demo) -> str:
    return inbox_of(demo, "webchat")["widget_token"]


@pytest.fixture
def secret(demo) -> str:
    """The web chat inbox's identity secret, as `omnihub demo --json` prints it for the business's backend."""
    return inbox_of(demo, "webchat")["identity_secret"]


def signed(secret: str, user_id: str) -> str:
    """What the business's backend computes: the hex HMAC-SHA256 of the user id (docs/identify.md)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def api(client: TestClient, demo: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, f"/api/v1{path}", headers=bearer(demo["api_token"]), **kwargs)


def visit(client: TestClient, demo: dict[str, Any], widget: str, text: str) -> tuple[str, dict[str, Any]]:
    """A new visitor writes once; its visitor token and its conversation once processed."""
    before = {item["id"] for item in api(client, demo, "GET", "/conversations").json()["items"]}
    token = client.post(f"/widget/{widget}/messages", json={"text": text, "client_id": "c1"}).json()[
        "visitor_token"
    ]
    conversation = wait_for(
        lambda: next(
            (
                item
                for item in api(client, demo, "GET", "/conversations").json()["items"]
                if item["id"] not in before
            ),
            None,
        )
    )
    return token, conversation


def identify(client: TestClient, widget: str, token: str, **claims: Any) -> Any:
    return client.post(f"/widget/{widget}/identify", json=claims, headers=bearer(token))


def contact(client: TestClient, demo: dict[str, Any], contact_id: str) -> dict[str, Any]:
    answer = api(client, demo, "GET", f"/contacts/{contact_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def contact_of_conversation(client: TestClient, demo: dict[str, Any], conversation_id: str) -> str:
    return api(client, demo, "GET", f"/conversations/{conversation_id}").json()["contact_id"]


def test_a_signed_identify_links_the_visitor_and_any_spelling_of_its_phone_finds_it(
    client, demo, widget, secret
) -> None:
    token, conversation = visit(client, demo, widget, "where is my order?")
    answer = identify(
        client,
        widget,
        token,
        user_id="user-42",
        email=CUSTOMER_EMAIL,
        phone="+86 138 0013 8000",
        name="Li Wei",
        identifier_hash=signed(secret, "user-42").upper(),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"verified": True}
    contact_id = contact_of_conversation(client, demo, conversation["id"])
    found = contact(client, demo, contact_id)
    assert found["name"] == "Li Wei"
    identities = {(item["kind"], item["value"]): item["verified"] for item in found["identities"]}
    assert identities[("app_user", "user-42")] is True
    assert identities[("email", "li.wei@example.com")] is True
    assert identities[("phone", "+8613800138000")] is True
    assert [item["id"] for item in found["conversations"]["items"]] == [conversation["id"]]
    assert found["first_seen_at"] and found["last_seen_at"]
    for query in (
        "+86 13800138000",
        "8613800138000",
        "+86 138-0013-8000",
        "LI.WEI@example.com",
        "li wei",
        "user-42",
    ):
        items = api(client, demo, "GET", "/contacts", params={"q": query}).json()["items"]
        assert [item["id"] for item in items] == [contact_id], query


def test_a_second_signed_visit_of_the_same_user_merges_the_anonymous_conversations(
    client, demo, widget, secret
) -> None:
    first_token, first = visit(client, demo, widget, "hello from the laptop")
    identify(client, widget, first_token, user_id="user-7", identifier_hash=signed(secret, "user-7"))
    second_token, second = visit(client, demo, widget, "hello from the phone")
    anonymous = contact_of_conversation(client, demo, second["id"])
    answer = identify(
        client, widget, second_token, user_id="user-7", identifier_hash=signed(secret, "user-7")
    )
    assert answer.json() == {"verified": True}
    survivor = contact_of_conversation(client, demo, first["id"])
    assert contact_of_conversation(client, demo, second["id"]) == survivor != anonymous
    timeline = contact(client, demo, survivor)["conversations"]["items"]
    assert {item["id"] for item in timeline} == {first["id"], second["id"]}
    gone = api(client, demo, "GET", f"/contacts/{anonymous}")
    assert gone.status_code == 410
    assert_error_shape(gone)
    assert gone.json()["errors"] == [{"field": "merged_into", "message": survivor}]
    assert gone.headers["location"] == f"/api/v1/contacts/{survivor}"

    async def merged_events(hub) -> list[dict[str, Any]]:
        async with hub.database.session() as session:
            rows = (
                await session.exec(select(OutboxEvent).where(OutboxEvent.event_type == "contact.merged"))
            ).all()
        return [dict(row.payload) for row in rows]

    [event] = run(merged_events, client.app.state.hub.settings)
    assert event["surviving_contact_id"] == survivor and event["merged_contact_id"] == anonymous


def test_a_visitor_claiming_a_customers_email_without_the_signature_sees_and_joins_nothing(
    client, demo, widget, secret
) -> None:
    customer_token, customer = visit(client, demo, widget, "my card number changed")
    identify(
        client,
        widget,
        customer_token,
        user_id="user-9",
        email=CUSTOMER_EMAIL,
        identifier_hash=signed(secret, "user-9"),
    )
    customer_contact = contact_of_conversation(client, demo, customer["id"])
    attacker_token, attacker = visit(client, demo, widget, "hi")
    for claims in (
        {"email": "li.wei@EXAMPLE.com", "name": "Li Wei"},
        {
            "user_id": "user-9",
            "email": CUSTOMER_EMAIL,
            "identifier_hash": signed("a guessed secret", "user-9"),
        },
        {"user_id": "user-9", "email": CUSTOMER_EMAIL, "identifier_hash": ""},
    ):
        answer = identify(client, widget, attacker_token, **claims)
        assert answer.status_code == 200 and answer.json() == {"verified": False}, answer.text
    history = client.get(f"/widget/{widget}/messages", headers=bearer(attacker_token)).json()["items"]
    assert [item["text"] for item in history] == ["hi"]
    attacker_contact = contact_of_conversation(client, demo, attacker["id"])
    assert attacker_contact != customer_contact
    claimed = contact(client, demo, attacker_contact)
    assert claimed["attributes"]["unverified_claims"] == {"email": "li.wei@example.com"}
    assert {item["kind"] for item in claimed["identities"]} == {"webchat_visitor"}
    [suggestion] = claimed["merge_suggestions"]
    assert suggestion["contact_id"] == attacker_contact and suggestion["candidate_id"] == customer_contact
    assert contact(client, demo, customer_contact)["merge_suggestions"] == [suggestion]
    assert [item["id"] for item in contact(client, demo, customer_contact)["conversations"]["items"]] == [
        customer["id"]
    ]


def test_identify_refuses_bad_input_in_the_one_error_shape(client, demo, widget) -> None:
    token, _conversation = visit(client, demo, widget, "hi")
    cases = [
        (client.post(f"/widget/{widget}/identify", json={"email": "a@b.example"}), 401),
        (identify(client, widget, "v1.forged.token.1.sig", email="a@b.example"), 401),
        (identify(client, "no-such-widget", token, email="a@b.example"), 404),
        (identify(client, widget, token, user_id="u", identifier_hash="not hex"), 400),
        (identify(client, widget, token, email=["a@b.example"]), 400),
        (identify(client, widget, token, phone="12"), 422),
        (identify(client, widget, token, email="no-at-sign"), 422),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        assert_error_shape(answer)


def test_merge_previews_moves_and_undoes_exactly(client, demo, widget) -> None:
    _first_token, first = visit(client, demo, widget, "first")
    second_token, second = visit(client, demo, widget, "second")
    keep = contact_of_conversation(client, demo, first["id"])
    fold = contact_of_conversation(client, demo, second["id"])
    api(
        client,
        demo,
        "PATCH",
        f"/contacts/{keep}",
        json={"attributes": {"plan": "gold"}, "tags": ["vip"], "notes": "kept"},
    )
    api(
        client,
        demo,
        "PATCH",
        f"/contacts/{fold}",
        json={
            "name": "Folded",
            "attributes": {"plan": "free", "city": "Shanghai"},
            "tags": ["wechat", "vip"],
            "vip_level": 3,
        },
    )
    before = {contact_id: contact(client, demo, contact_id) for contact_id in (keep, fold)}

    preview = api(client, demo, "POST", f"/contacts/{keep}/merge", json={"contact_id": fold, "dry_run": True})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] is True and body["audit_id"] is None
    assert body["attributes"] == {"plan": "gold", "city": "Shanghai"}
    assert body["overridden_attributes"] == {"plan": "free"}
    assert body["tags"] == ["vip", "wechat"] and body["vip_level"] == 3 and body["name"] == "Folded"
    assert body["conversation_ids"] == [second["id"]]
    assert {contact_id: contact(client, demo, contact_id) for contact_id in (keep, fold)} == before

    merged = api(client, demo, "POST", f"/contacts/{keep}/merge", json={"contact_id": fold}).json()
    assert merged["dry_run"] is False and merged["audit_id"]
    assert api(client, demo, "GET", f"/contacts/{fold}").status_code == 410
    after = contact(client, demo, keep)
    assert after["attributes"] == {"plan": "gold", "city": "Shanghai"}
    assert {item["id"] for item in after["conversations"]["items"]} == {first["id"], second["id"]}
    again = api(client, demo, "POST", f"/contacts/{keep}/merge", json={"contact_id": fold})
    assert again.status_code == 422 and again.json()["code"] == "contact_merged"

    webchat = inbox_of(demo, "webchat")["id"]
    assert (
        api(client, demo, "PATCH", f"/inboxes/{webchat}", json={"reopen_window_hours": 0}).status_code == 200
    )
    api(client, demo, "POST", f"/conversations/{second['id']}/resolve")
    client.post(
        f"/widget/{widget}/messages",
        json={"text": "after the merge", "client_id": "c2"},
        headers=bearer(second_token),
    )
    [arrived] = wait_for(
        lambda: [
            item
            for item in contact(client, demo, keep)["conversations"]["items"]
            if item["id"] not in (first["id"], second["id"])
        ]
    )

    undone = api(client, demo, "POST", f"/contacts/merges/{merged['audit_id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json() == {"surviving_contact_id": keep, "restored_contact_id": fold}
    restored = {contact_id: contact(client, demo, contact_id) for contact_id in (keep, fold)}
    for contact_id in (keep, fold):
        assert {
            key: restored[contact_id][key]
            for key in ("name", "attributes", "tags", "vip_level", "notes", "identities")
        } == {
            key: before[contact_id][key]
            for key in ("name", "attributes", "tags", "vip_level", "notes", "identities")
        }
    assert {item["id"] for item in restored[fold]["conversations"]["items"]} == {second["id"], arrived["id"]}
    assert [item["id"] for item in restored[keep]["conversations"]["items"]] == [first["id"]]
    twice = api(client, demo, "POST", f"/contacts/merges/{merged['audit_id']}/undo")
    assert twice.status_code == 409
    assert_error_shape(twice)


def test_contacts_are_edited_searched_by_tag_and_refuse_bad_input(client, demo, widget) -> None:
    _token, conversation = visit(client, demo, widget, "hi")
    contact_id = contact_of_conversation(client, demo, conversation["id"])
    edited = api(
        client,
        demo,
        "PATCH",
        f"/contacts/{contact_id}",
        json={
            "name": "Ｗａｎｇ  Fang",
            "attributes": {"orders": 3, "gone": None},
            "tags": ["vip", "vip", "refund"],
            "vip_level": 2,
            "notes": "prefers mornings",
        },
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["name"], body["attributes"], body["tags"], body["vip_level"], body["notes"]) == (
        "Wang Fang",
        {"orders": 3},
        ["vip", "refund"],
        2,
        "prefers mornings",
    )
    removed = api(
        client, demo, "PATCH", f"/contacts/{contact_id}", json={"attributes": {"orders": None}}
    ).json()
    assert removed["attributes"] == {} and removed["tags"] == ["vip", "refund"]
    assert [
        item["id"] for item in api(client, demo, "GET", "/contacts", params={"tag": "refund"}).json()["items"]
    ] == [contact_id]
    assert api(client, demo, "GET", "/contacts", params={"tag": "ref"}).json()["items"] == []
    assert [
        item["id"] for item in api(client, demo, "GET", "/contacts", params={"q": "wang"}).json()["items"]
    ] == [contact_id]
    assert api(client, demo, "GET", "/contacts", params={"q": "100%"}).json()["items"] == []
    for answer, status in (
        (api(client, demo, "PATCH", f"/contacts/{contact_id}", json={"vip_level": 11}), 400),
        (api(client, demo, "PATCH", f"/contacts/{contact_id}", json={"tags": "vip"}), 400),
        (api(client, demo, "PATCH", f"/contacts/{contact_id}", json={"attributes": {"a b": 1}}), 400),
        (api(client, demo, "PATCH", f"/contacts/{contact_id}", json={"unknown": 1}), 400),
        (api(client, demo, "GET", "/contacts/not a valid id"), 400),
        (api(client, demo, "GET", "/contacts/0190a4d2-0000-7000-8000-000000000000"), 404),
        (api(client, demo, "POST", f"/contacts/{contact_id}/merge", json={"contact_id": contact_id}), 422),
        (api(client, demo, "POST", "/contacts/merges/0190a4d2-0000-7000-8000-000000000000/undo"), 404),
    ):
        assert answer.status_code == status, answer.text
        assert_error_shape(answer)


def test_another_workspace_never_reads_changes_or_merges_our_contacts(client, demo, widget, settings) -> None:
    _token, conversation = visit(client, demo, widget, "hi")
    ours = contact_of_conversation(client, demo, conversation["id"])
    api(client, demo, "PATCH", f"/contacts/{ours}", json={"name": "Ours", "tags": ["mine"]})
    other = bearer(run(_other_workspace_token, settings))
    for answer in (
        client.get(f"/api/v1/contacts/{ours}", headers=other),
        client.get(f"/api/v1/contacts/{ours}/conversations", headers=other),
        client.patch(f"/api/v1/contacts/{ours}", json={"name": "Theirs"}, headers=other),
        client.post(
            f"/api/v1/contacts/{ours}/merge", json={"contact_id": ours, "dry_run": True}, headers=other
        ),
    ):
        assert answer.status_code == 404, answer.text
    for params in ({}, {"q": "Ours"}, {"tag": "mine"}):
        assert client.get("/api/v1/contacts", params=params, headers=other).json()["items"] == []
    assert contact(client, demo, ours)["name"] == "Ours"


def test_export_lists_live_contacts_with_their_identities_and_never_runs_a_formula(
    client, demo, widget, settings
) -> None:
    _token, first = visit(client, demo, widget, "one")
    _token, second = visit(client, demo, widget, "two")
    keep = contact_of_conversation(client, demo, first["id"])
    fold = contact_of_conversation(client, demo, second["id"])
    api(
        client,
        demo,
        "PATCH",
        f"/contacts/{keep}",
        json={"name": '=HYPERLINK("http://evil")', "tags": ["vip"]},
    )
    api(client, demo, "POST", f"/contacts/{keep}/merge", json={"contact_id": fold})
    answer = api(client, demo, "GET", "/contacts/export")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    [header, row] = list(csv.reader(io.StringIO(answer.text)))
    assert header == ["id", "name", "vip_level", "tags", "identities", "attributes", "notes", "created_at"]
    assert row[0] == keep and row[1] == '\'=HYPERLINK("http://evil")' and row[3] == "vip"
    assert len(json.loads(row[4])) == 2
    other = bearer(run(_other_workspace_token, settings))
    assert list(csv.reader(io.StringIO(client.get("/api/v1/contacts/export", headers=other).text)))[1:] == []


async def _plain_agent_token(hub) -> str:
    from hub.auth import issue_token
    from hub.crypto import hash_password
    from hub.models import Agent, Workspace

    async with hub.database.session() as session:
        workspace = (await session.exec(select(Workspace))).first()
        agent = Agent(
            workspace_id=workspace.id,
            email="agent@example.com",
            name="Agent",
            password_hash=hash_password("x" * 12),
        )
        session.add(agent)
        await session.commit()
    return await issue_token(hub, agent, "test", None)


def test_card_and_id_numbers_are_masked_for_agents_until_an_admin_reveals_them(
    client, demo, widget, settings
) -> None:
    _token, conversation = visit(
        client, demo, widget, "card 4111 1111 1111 1111, ID 11010519491231002X, order 1234"
    )
    path = f"/conversations/{conversation['id']}/messages"
    [message] = wait_for(lambda: api(client, demo, "GET", path).json()["items"])
    assert message["text"] == "card **** **** **** 1111, ID **************002X, order 1234"
    agent = bearer(run(_plain_agent_token, settings))
    refused = client.post(f"/api/v1{path}/{message['id']}/reveal", headers=agent)
    assert refused.status_code == 403
    assert_error_shape(refused)
    revealed = api(client, demo, "POST", f"{path}/{message['id']}/reveal")
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["text"] == "card 4111 1111 1111 1111, ID 11010519491231002X, order 1234"
    other = bearer(run(_other_workspace_token, settings))
    assert client.post(f"/api/v1{path}/{message['id']}/reveal", headers=other).status_code in (403, 404)

    async def reveals(hub) -> list[tuple[str | None, str]]:
        from hub.models import AuditEntry

        async with hub.database.session() as session:
            rows = (
                await session.exec(select(AuditEntry).where(AuditEntry.action == "message.revealed"))
            ).all()
        return [(row.actor_id, row.subject_id) for row in rows]

    [(actor_id, subject_id)] = run(reveals, settings)
    assert subject_id == message["id"] and actor_id is not None
