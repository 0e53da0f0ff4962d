"""The widget's pre-chat form setting and offline mode: /config says whether an agent could chat now (business hours
and routing's availability), and a message left with an email opens a ticket that the visitor's later messages
reach; bad input is refused in the one error shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_error_shape, bearer, inbox_of, wait_for
from tests.hub.test_business_hours import closed_now, put_hours
from tests.hub.test_contacts import contact, contact_of_conversation

LEFT = {
    "email": "mei@example.com",
    "name": "Mei",
    "text": "Please call me back\nabout order 7",
    "client_id": "l1",
}


@pytest.fixture
def api(demo) -> dict[str, str]:
    """The demo API token's headers (an admin's, who is also an agent)."""
    return bearer(demo["api_token"])


@pytest.fixture
def webchat(demo) -> dict[str, Any]:
    """The demo web chat inbox, with its widget token."""
    return inbox_of(demo, "webchat")


def _config(client, webchat) -> dict[str, Any]:
    answer = client.get(f"/widget/{webchat['widget_token']}/config")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _tickets(client, api) -> list[dict[str, Any]]:
    return client.get("/api/v1/tickets", headers=api).json()["items"]


def test_config_offers_to_leave_a_message_while_closed_or_no_agent_has_room(client, api, webchat):
    assert _config(client, webchat)["leave_message"] is False, "the inbox's offline form is off"
    changed = client.patch(
        f"/api/v1/inboxes/{webchat['id']}", json={"settings": {"offline_form": True}}, headers=api
    )
    assert changed.status_code == 200, changed.text
    wait_for(lambda: _config(client, webchat)["leave_message"] is True, timeout=5)
    online = client.put("/api/v1/me/presence", json={"presence": "online"}, headers=api)
    assert online.status_code == 200, online.text
    assert _config(client, webchat)["leave_message"] is False, "an agent has room"
    put_hours(client, api, webchat["id"], **closed_now())
    assert _config(client, webchat)["leave_message"] is True, "out of hours"


def test_the_prechat_setting_reaches_the_widget_and_bad_values_are_refused(client, api, webchat):
    assert _config(client, webchat)["prechat"] == "off"
    changed = client.patch(
        f"/api/v1/inboxes/{webchat['id']}", json={"settings": {"prechat": "required"}}, headers=api
    )
    assert changed.status_code == 200, changed.text
    wait_for(lambda: _config(client, webchat)["prechat"] == "required")
    refused = client.patch(
        f"/api/v1/inboxes/{webchat['id']}", json={"settings": {"prechat": "always"}}, headers=api
    )
    assert refused.status_code == 422, refused.text
    assert_error_shape(refused)


def test_a_left_message_opens_a_ticket_and_the_visitors_later_reply_reaches_it(client, api, demo, webchat):
    widget = webchat["widget_token"]
    left = client.post(f"/widget/{widget}/leave-message", json=LEFT)
    assert left.status_code == 201, left.text
    token = left.json()["visitor_token"]
    again = client.post(f"/widget/{widget}/leave-message", json=LEFT, headers=bearer(token))
    assert again.status_code == 200 and again.json()["duplicate"] is True

    [ticket] = wait_for(lambda: _tickets(client, api), timeout=20)
    assert ticket["source"] == "customer_message" and ticket["status"] == "new"
    assert ticket["subject"] == "Please call me back"
    assert ticket["description"] == LEFT["text"]
    owner = contact(client, demo, contact_of_conversation(client, demo, ticket["conversation_id"]))
    assert owner["attributes"]["unverified_claims"] == {"email": "mei@example.com"}
    assert owner["name"] == "Mei"

    later = client.post(
        f"/widget/{widget}/messages", json={"text": "Any news?", "client_id": "l2"}, headers=bearer(token)
    )
    assert later.status_code == 201, later.text
    messages = wait_for(
        lambda: (
            len(
                items := client.get(
                    f"/api/v1/conversations/{ticket['conversation_id']}/messages", headers=api
                ).json()["items"]
            )
            >= 2
            and items
        ),
        timeout=20,
    )
    assert [message["text"] for message in messages] == [LEFT["text"], "Any news?"]
    assert len(_tickets(client, api)) == 1


def test_leaving_a_message_refuses_bad_input_in_the_one_error_shape(client, webchat):
    widget = webchat["widget_token"]
    without_email = {key: value for key, value in LEFT.items() if key != "email"}
    cases = [
        (client.post(f"/widget/{widget}/leave-message", json=without_email), 400),
        (client.post(f"/widget/{widget}/leave-message", json={**LEFT, "email": ""}), 400),
        (client.post(f"/widget/{widget}/leave-message", json={**LEFT, "email": "no-at-sign"}), 422),
        (client.post(f"/widget/{widget}/leave-message", json={**LEFT, "text": ""}), 400),
        (client.post(f"/widget/{widget}/leave-message", json={**LEFT, "text": "x" * 4001}), 400),
        (client.post(f"/widget/{widget}/leave-message", json={**LEFT, "name": "n" * 101}), 400),
        (client.post("/widget/no-such-widget/leave-message", json=LEFT), 404),
        (
            client.post(
                f"/widget/{widget}/leave-message", json=LEFT, headers=bearer("v1.forged.token.1.sig")
            ),
            401,
        ),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        assert_error_shape(answer)


def test_a_visitor_of_another_inbox_cannot_leave_a_message_here(client, api, webchat):
    other = client.post("/api/v1/inboxes", json={"kind": "webchat", "name": "Other chat"}, headers=api)
    assert other.status_code == 201, other.text
    stranger = client.post(f"/widget/{other.json()['widget_token']}/leave-message", json=LEFT)
    assert stranger.status_code == 201, stranger.text
    refused = client.post(
        f"/widget/{webchat['widget_token']}/leave-message",
        json={**LEFT, "client_id": "l9"},
        headers=bearer(stranger.json()["visitor_token"]),
    )
    assert refused.status_code == 401, refused.text
    assert_error_shape(refused)
