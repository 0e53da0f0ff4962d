"""Deleting a contact through the API: it goes the erase path, so the customer's data goes and the conversations
stay as anonymous counts; a customer with conversations needs `erase=true`, admins only, bad input refused."""

from __future__ import annotations

from typing import Any

from tests.conftest import assert_error_shape, bearer, inbox_of, run
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_contacts import _plain_agent_token


def delete_contact(client, token: str, contact_id: str, **query: Any) -> Any:
    return client.delete(f"/api/v1/contacts/{contact_id}", params=query, headers=bearer(token))


def test_a_contact_without_conversations_is_deleted_by_erasing_it(client, demo):
    token = demo["api_token"]
    made = client.put(
        "/api/v1/contacts/by_external_id/crm-77",
        json={"name": "Li Wei", "identities": [{"kind": "email", "value": "li.wei@example.com"}]},
        headers=bearer(token),
    )
    assert made.status_code == 201, made.text
    contact_id = made.json()["id"]
    deleted = delete_contact(client, token, contact_id)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["contact_ids"] == [contact_id] and deleted.json()["conversations"] == 0
    gone = client.get(f"/api/v1/contacts/{contact_id}", headers=bearer(token))
    assert gone.status_code == 410 and gone.json()["code"] == "contact_erased"
    found = client.get("/api/v1/contacts", params={"q": "li.wei@example.com"}, headers=bearer(token))
    assert found.json()["items"] == []
    again = delete_contact(client, token, contact_id)
    assert again.status_code == 410
    assert_error_shape(again)


def test_a_contact_with_conversations_is_deleted_only_with_erase(client, demo):
    token = demo["api_token"]
    sent = Visitor(client, inbox_of(demo, "webchat")["widget_token"]).say("my card is 4111 1111 1111 1111")
    conversation_id = conversation_of(client, token, sent["id"])
    contact_id = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(token)).json()[
        "contact_id"
    ]

    refused = delete_contact(client, token, contact_id)
    assert refused.status_code == 409, refused.text
    assert_error_shape(refused)
    assert refused.json()["code"] == "contact_has_conversations" and "erase=true" in refused.json()["detail"]
    assert client.get(f"/api/v1/contacts/{contact_id}", headers=bearer(token)).status_code == 200
    messages = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(token)).json()
    assert messages["items"][0]["text"] != ""

    erased = delete_contact(client, token, contact_id, erase="true")
    assert erased.status_code == 200, erased.text
    assert erased.json()["conversations"] == 1 and erased.json()["messages"] == 1
    assert client.get(f"/api/v1/contacts/{contact_id}", headers=bearer(token)).status_code == 410
    kept = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(token)).json()
    assert [message["text"] for message in kept["items"]] == [""], "the conversation stays, emptied"


def test_only_an_admin_deletes_a_contact_and_bad_input_is_refused(client, demo, settings):
    token = demo["api_token"]
    made = client.put("/api/v1/contacts/by_external_id/crm-78", json={"name": "Ann"}, headers=bearer(token))
    contact_id = made.json()["id"]
    agent = run(_plain_agent_token, settings)
    refused = delete_contact(client, agent, contact_id)
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
    bad_flag = delete_contact(client, token, contact_id, erase="maybe")
    assert bad_flag.status_code == 400
    assert_error_shape(bad_flag)
    unknown = delete_contact(client, token, "00000000-0000-7000-8000-000000000000")
    assert unknown.status_code == 404 and unknown.json()["code"] == "contact_not_found"
    assert client.get(f"/api/v1/contacts/{contact_id}", headers=bearer(token)).json()["name"] == "Ann"
