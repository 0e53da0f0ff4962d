"""A CRM syncing its customers in by its own ids (`PUT /api/v1/contacts/by_external_id/{id}`), seeing them joined
with the channels' identities, and following contacts and failed replies through signed webhooks on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from litestar.testing import TestClient
from pydantic import BaseModel

from connectors import PermanentSendError
from hub.app import create_app
from hub.settings import Settings
from tests.conftest import assert_error_shape, bearer, run, wait_for
from tests.hub.signed_json_channel import SignedJsonChannel
from tests.hub.test_api import _other_workspace_token
from tests.hub.test_webhooks import deliveries, hooked, hooked_settings, receiver, subscribe  # noqa: F401
from tests.hub.webhook_receiver import Receiver, standard_webhooks_valid

CUSTOMER_PHONE = SignedJsonChannel.customer_phone
REFUSAL = "The recipient has blocked this business"


class RefusedSettings(BaseModel):
    """A test channel that needs no settings."""


class RefusingChannel(SignedJsonChannel):
    """A channel whose customer can write but never be answered: every reply is refused for good."""

    kind = "refusing"
    display_name = "Refusing"
    settings_model = RefusedSettings
    attempted: ClassVar[int] = 0

    async def send(self, outbound, context):
        raise PermanentSendError(REFUSAL)


def api(client: TestClient, token: str, method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, f"/api/v1{path}", headers=bearer(token), **kwargs)


def upsert(client: TestClient, token: str, external_id: str, **body: Any) -> Any:
    return api(client, token, "PUT", f"/contacts/by_external_id/{external_id}", json=body)


def channel_conversation(client: TestClient, token: str, message_id: str = "in-1") -> dict[str, Any]:
    """A customer writes on the refusing channel from CUSTOMER_PHONE; their conversation once stored."""
    client.app.state.hub.registry.register(RefusingChannel)
    inbox = api(
        client, token, "POST", "/inboxes", json={"kind": "refusing", "name": "Refusing", "settings": {}}
    )
    assert inbox.status_code == 201, inbox.text
    delivered = client.post(
        f"/webhooks/refusing/{inbox.json()['id']}",
        headers={"x-signature": "good"},
        content=json.dumps({"id": message_id, "text": "hello"}),
    )
    assert delivered.status_code == 200
    return wait_for(
        lambda: next(
            (
                item
                for item in api(client, token, "GET", "/conversations").json()["items"]
                if item["inbox_id"] == inbox.json()["id"]
            ),
            None,
        )
    )


def test_a_crm_creates_then_updates_its_customer_by_its_own_id(client, demo) -> None:
    token = demo["api_token"]
    created = upsert(
        client,
        token,
        "sf-0035g00000XyZ",
        name="Li Wei",
        attributes={"plan": "gold", "seats": 12},
        tags=["customer"],
        identities=[
            {"kind": "email", "value": "Li.Wei@Example.COM"},
            {"kind": "phone", "value": "+86 138 0013 8000"},
        ],
    )
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["name"] == "Li Wei" and contact["attributes"] == {"plan": "gold", "seats": 12}
    assert sorted((each["kind"], each["value"], each["verified"]) for each in contact["identities"]) == [
        ("email", "li.wei@example.com", True),
        ("external", "sf-0035g00000XyZ", True),
        ("phone", "+8613800138000", True),
    ]
    read = api(client, token, "GET", "/contacts/by_external_id/sf-0035g00000XyZ")
    assert read.status_code == 200 and read.json()["id"] == contact["id"]
    found = api(client, token, "GET", "/contacts", params={"q": "sf-0035g00000XyZ"}).json()["items"]
    assert [item["id"] for item in found] == [contact["id"]]

    updated = upsert(client, token, "sf-0035g00000XyZ", attributes={"plan": "platinum", "seats": None})
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == contact["id"]
    assert updated.json()["attributes"] == {"plan": "platinum"} and updated.json()["name"] == "Li Wei"
    assert len(api(client, token, "GET", "/contacts").json()["items"]) == len(
        {item["id"] for item in api(client, token, "GET", "/contacts").json()["items"]}
    )
    other_case = api(client, token, "GET", "/contacts/by_external_id/SF-0035G00000XYZ")
    assert other_case.status_code == 404 and other_case.json()["code"] == "contact_not_found"


def test_a_crm_customer_joins_the_contact_a_channel_made_and_merges_a_second_one(
    settings: Settings, demo
) -> None:
    token = demo["api_token"]
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        conversation = channel_conversation(client, token)
        joined = upsert(
            client, token, "hubspot-901", identities=[{"kind": "phone", "value": "(415) 555-0100"}]
        )
        assert joined.status_code == 200, joined.text
        assert joined.json()["id"] == conversation["contact_id"]
        assert {(each["kind"], each["value"]) for each in joined.json()["identities"]} == {
            ("phone", CUSTOMER_PHONE),
            ("external", "hubspot-901"),
        }

        second = upsert(
            client, token, "hubspot-902", identities=[{"kind": "email", "value": "ana@example.com"}]
        )
        assert second.status_code == 201
        merged = upsert(
            client, token, "hubspot-901", identities=[{"kind": "email", "value": "ANA@example.com"}]
        )
        assert merged.status_code == 200 and merged.json()["id"] == conversation["contact_id"]
        gone = api(client, token, "GET", f"/contacts/{second.json()['id']}")
        assert gone.status_code == 410 and gone.json()["code"] == "contact_merged"
        by_old_id = api(client, token, "GET", "/contacts/by_external_id/hubspot-902")
        assert by_old_id.json()["id"] == conversation["contact_id"]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("crm-1", {"identities": [{"kind": "phone", "value": "12"}]}, 422, "identities"),
        ("crm-1", {"identities": [{"kind": "email", "value": "no-at-sign"}]}, 422, "identities"),
        ("crm-1", {"identities": [{"kind": "wechat", "value": "o123"}]}, 400, "identities[0].kind"),
        ("crm-1", {"nickname": "Li"}, 400, "body"),
        ("crm-1", {"vip_level": 11}, 400, "vip_level"),
        ("crm%201", {}, 400, "external_id"),
        ("x" * 201, {}, 400, "external_id"),
    ],
    ids=["not a phone", "not an email", "unknown kind", "unknown field", "vip too high", "space", "too long"],
)
def test_bad_upserts_are_refused_naming_the_field_and_store_nothing(
    client, demo, path, body, status, field
) -> None:
    token = demo["api_token"]
    before = api(client, token, "GET", "/contacts").json()["items"]
    answer = api(client, token, "PUT", f"/contacts/by_external_id/{path}", json=body)
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    assert field in [error.get("field", error.get("key")) for error in answer.json().get("errors", [])], (
        answer.text
    )
    assert api(client, token, "GET", "/contacts").json()["items"] == before


def test_another_workspace_neither_reads_nor_joins_a_crm_customer(client, demo, settings) -> None:
    token = demo["api_token"]
    mine = upsert(client, token, "crm-7", identities=[{"kind": "email", "value": "li@example.com"}]).json()
    other = run(_other_workspace_token, settings)
    assert api(client, other, "GET", "/contacts/by_external_id/crm-7").status_code == 404
    theirs = upsert(client, other, "crm-7", identities=[{"kind": "email", "value": "li@example.com"}])
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert api(client, token, "GET", f"/contacts/{mine['id']}").json()["identities"] == mine["identities"]


def received_of(
    listening: Receiver, path: str, secret: str, event_type: str, count: int = 1
) -> list[dict[str, Any]]:
    """The signed events of `event_type` the receiver got on `path`, once `count` arrived, in `sequence` order
    (deliveries to one subscriber go out side by side, so they may arrive in another)."""

    def arrived() -> list[dict[str, Any]] | None:
        found = [
            each
            for each in listening.at(path)
            if each.event["type"] == event_type
            and standard_webhooks_valid(secret, each.headers, each.body, time.time())
        ]
        events = sorted((each.event for each in found), key=lambda event: event["sequence"])
        return events if len(found) >= count else None

    return wait_for(arrived, timeout=15)


@pytest.fixture
def crm(
    hooked: TestClient,  # noqa: F811
    demo,
    receiver: Receiver,  # noqa: F811
) -> Iterator[tuple[TestClient, Receiver, dict[str, Any]]]:
    integration = api(
        hooked, demo["api_token"], "POST", "/tokens", json={"name": "CRM", "scopes": ["read", "write"]}
    )
    assert integration.status_code == 201, integration.text
    subscription = subscribe(
        hooked,
        demo["api_token"],
        receiver.url("/crm"),
        ["contact.created", "contact.updated", "contact.merged", "contact.unmerged", "message.failed"],
    )
    yield hooked, receiver, {**subscription, "crm_token": integration.json()["token"]}


def test_contact_changes_reach_the_crm_as_signed_events(crm, demo) -> None:
    client, crm_receiver, subscription = crm
    secret, token = subscription["secret"], subscription["crm_token"]
    first = upsert(
        client, token, "crm-1", name="Ana", identities=[{"kind": "email", "value": "ana@example.com"}]
    )
    created = received_of(crm_receiver, "/crm", secret, "contact.created")[0]["data"]
    assert created["actor_type"] == "api_token" and created["contact"]["id"] == first.json()["id"]
    assert created["contact"]["name"] == "Ana"
    assert {each["value"] for each in created["contact"]["identities"]} == {"crm-1", "ana@example.com"}

    upsert(client, token, "crm-1", tags=["vip"], name="Ana")
    upsert(client, token, "crm-1", tags=["vip"])
    api(client, token, "PATCH", f"/contacts/{first.json()['id']}", json={"vip_level": 3})
    updates = received_of(crm_receiver, "/crm", secret, "contact.updated", 2)
    assert [(each["data"]["changed"], each["data"]["contact"]["tags"]) for each in updates] == [
        (["tags"], ["vip"]),
        (["vip_level"], ["vip"]),
    ]

    second = upsert(client, token, "crm-2").json()
    merge = api(
        client, token, "POST", f"/contacts/{first.json()['id']}/merge", json={"contact_id": second["id"]}
    )
    undone = api(client, token, "POST", f"/contacts/merges/{merge.json()['audit_id']}/undo")
    assert undone.status_code == 200, undone.text
    unmerged = received_of(crm_receiver, "/crm", secret, "contact.unmerged")[0]
    assert unmerged["data"] == {
        "surviving_contact_id": first.json()["id"],
        "restored_contact_id": second["id"],
        "merge_audit_id": merge.json()["audit_id"],
    }
    merged = received_of(crm_receiver, "/crm", secret, "contact.merged")[0]
    assert merged["sequence"] < unmerged["sequence"]
    dispatched = [item["event_type"] for item in deliveries(client, demo["api_token"], subscription["id"])]
    assert dispatched.count("contact.updated") == 2, "an upsert changing nothing is no event"


def test_a_reply_that_fails_for_good_reaches_the_crm_with_its_reason(crm, demo) -> None:
    client, crm_receiver, subscription = crm
    secret = subscription["secret"]
    token = demo["api_token"]
    conversation = channel_conversation(client, token)
    greeted = received_of(crm_receiver, "/crm", secret, "contact.created")[0]["data"]
    assert greeted["actor_type"] == "system" and greeted["contact"]["id"] == conversation["contact_id"]

    reply = api(client, token, "POST", f"/conversations/{conversation['id']}/messages", json={"text": "Hi!"})
    assert reply.status_code == 201
    failed = received_of(crm_receiver, "/crm", secret, "message.failed")[0]["data"]
    assert failed["reason"] == REFUSAL and failed["message"]["error"] == REFUSAL
    assert failed["message"]["id"] == reply.json()["id"] and failed["message"]["status"] == "failed"
    assert failed["conversation"]["id"] == conversation["id"]


def test_an_inbox_shows_its_health_with_the_last_failed_reply(client, demo) -> None:
    token = demo["api_token"]
    conversation = channel_conversation(client, token)
    path = f"/inboxes/{conversation['inbox_id']}/health"
    quiet = api(client, token, "GET", path).json()
    assert quiet["status"] == "active" and quiet["last_inbound_at"] is not None
    assert (
        quiet["last_failure"] is None
        and quiet["failed_replies_24h"] == 0
        and quiet["last_outbound_at"] is None
    )

    reply = api(client, token, "POST", f"/conversations/{conversation['id']}/messages", json={"text": "Hi!"})
    health = wait_for(lambda: (answer := api(client, token, "GET", path).json())["last_failure"] and answer)
    assert health["last_failure"]["message_id"] == reply.json()["id"]
    assert health["last_failure"]["error"] == REFUSAL and health["failed_replies_24h"] == 1

    assert api(client, token, "GET", "/inboxes/no%00such/health").status_code == 400
    missing = api(client, token, "GET", "/inboxes/00000000-0000-7000-8000-000000000000/health")
    assert missing.status_code == 404
    assert_error_shape(missing)


def test_a_receiver_that_is_down_gets_one_request_per_retry_not_one_per_waiting_event(
    hooked: TestClient,  # noqa: F811
    demo,
    receiver: Receiver,  # noqa: F811
) -> None:
    token = demo["api_token"]
    receiver.answer("/down", 503)
    subscription = subscribe(hooked, token, receiver.url("/down"), ["contact.created"])
    for number in range(10):
        assert upsert(hooked, token, f"crm-down-{number}").status_code == 201
    waiting = wait_for(
        lambda: (
            (items := deliveries(hooked, token, subscription["id"]))
            and len(items) == 10
            and max(item["attempts"] for item in items) >= 6
            and items
        ),
        timeout=20,
    )
    attempts = [item["attempts"] for item in waiting]
    assert all(item["status"] == "pending" for item in waiting)
    assert len(receiver.at("/down")) <= 2 * len(waiting) + max(attempts) + 2, (
        "each retry round should send one delivery, not every waiting one",
        attempts,
    )
