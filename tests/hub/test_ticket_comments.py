"""Ticket comments through the API: an internal one stays with the ticket, a public one is also the agent's reply to
the customer on the ticket's conversation (the one send path: delivered, a first response, a message event); each
is a `ticket.commented` event; bad input and other workspaces are refused; erasing the customer empties them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_error_shape, bearer, run, wait_for
from tests.hub.test_contacts import _plain_agent_token
from tests.hub.test_conversation_lifecycle import frames_until
from tests.hub.test_tickets_api import api, customer_conversation, open_ticket, outbox, webchat  # noqa: F401
from tests.hub.workspaces import other_admin_token  # noqa: F401


def comment(client, headers, ticket_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/tickets/{ticket_id}/comments", json=body, headers=headers)


def comments(client, headers, ticket_id: str, **query: Any) -> Any:
    return client.get(f"/api/v1/tickets/{ticket_id}/comments", params=query, headers=headers)


@pytest.fixture
def linked(client, api, webchat) -> dict[str, Any]:  # noqa: F811
    """A customer's conversation and the ticket opened from it."""
    conversation = customer_conversation(client, api, webchat)
    return {
        "conversation": conversation,
        "ticket": open_ticket(client, api, subject="Late parcel", conversation_id=conversation["id"]),
    }


def texts(client, api, conversation_id: str) -> list[tuple[str, str]]:  # noqa: F811
    items = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=api).json()["items"]
    return [(message["direction"], message["text"]) for message in items]


def test_an_internal_comment_stays_internal_and_a_public_one_reaches_the_customer(
    client,
    demo,
    api,  # noqa: F811
    linked,
    settings,
):
    ticket, conversation = linked["ticket"], linked["conversation"]
    me = client.get("/api/v1/me", headers=api).json()["agent"]["id"]
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as socket:
        assert socket.receive_json()["type"] == "ready"
        internal = comment(client, api, ticket["id"], body="  Courier says Friday ")
        assert internal.status_code == 201, internal.text
        frame = frames_until(socket, "ticket.commented")[-1]
    assert internal.json()["body"] == "Courier says Friday" and internal.json()["public"] is False
    assert internal.json()["message_id"] is None and internal.json()["author_id"] == me
    assert frame["comment"] == internal.json() and frame["ticket"]["id"] == ticket["id"]
    assert texts(client, api, conversation["id"]) == [("in", "My parcel is late")]
    assert (
        client.get(f"/api/v1/tickets/{ticket['id']}", headers=api).json()["sla"]["first_responded_at"] is None
    )

    public = comment(client, api, ticket["id"], body="Your parcel arrives on Friday.", public=True)
    assert public.status_code == 201, public.text
    assert public.json()["public"] is True and public.json()["message_id"]
    assert texts(client, api, conversation["id"]) == [
        ("in", "My parcel is late"),
        ("out", "Your parcel arrives on Friday."),
    ]
    [reply] = [
        message
        for message in client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=api).json()[
            "items"
        ]
        if message["direction"] == "out"
    ]
    assert (
        reply["id"] == public.json()["message_id"] and reply["sender"] == "agent" and reply["sender_id"] == me
    )
    wait_for(
        lambda: (
            client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=api).json()["items"][
                -1
            ]["status"]
            in ("sent", "delivered")
        )
    )
    answered = client.get(f"/api/v1/tickets/{ticket['id']}", headers=api).json()
    assert answered["sla"]["first_responded_at"] == reply["created_at"], (
        "a public comment is a first response"
    )

    listed = comments(client, api, ticket["id"]).json()
    assert [each["id"] for each in listed["items"]] == [internal.json()["id"], public.json()["id"]]
    recorded = outbox(settings, "ticket.commented")
    assert [payload["comment"]["public"] for payload in recorded] == [False, True]


def test_comments_are_paged_and_an_agent_comments_too(
    client,
    api,  # noqa: F811
    linked,
    settings,
):
    agent = bearer(run(_plain_agent_token, settings))
    ticket_id = linked["ticket"]["id"]
    made = [comment(client, agent, ticket_id, body=f"step {number}").json()["id"] for number in range(5)]
    seen, cursor = [], None
    while True:
        page = comments(client, api, ticket_id, limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [each["id"] for each in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == made


def test_a_public_comment_needs_the_tickets_conversation(client, api, webchat):  # noqa: F811
    ticket = open_ticket(client, api, subject="Invoice", inbox_id=webchat["id"])
    refused = comment(client, api, ticket["id"], body="Sent you the invoice", public=True)
    assert refused.status_code == 422, refused.text
    assert_error_shape(refused)
    assert refused.json()["code"] == "ticket_without_conversation"
    assert comments(client, api, ticket["id"]).json()["items"] == []
    assert comment(client, api, ticket["id"], body="Invoice sent by post").status_code == 201


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"body": "   "}, 422),
        ({"body": "\x00\x01"}, 422),
        ({}, 400),
        ({"body": "x" * 10_001}, 400),
        ({"body": "hi", "public": "yes"}, 400),
        ({"body": "hi", "internal": True}, 400),
    ],
)
def test_bad_comments_are_refused_and_nothing_is_sent(client, api, linked, body, status):  # noqa: F811
    ticket, conversation = linked["ticket"], linked["conversation"]
    answer = comment(client, api, ticket["id"], **body)
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    assert comments(client, api, ticket["id"]).json()["items"] == []
    assert texts(client, api, conversation["id"]) == [("in", "My parcel is late")]


def test_another_workspace_neither_reads_nor_comments(client, api, linked, other_admin_token):  # noqa: F811
    ticket = linked["ticket"]
    other = bearer(other_admin_token)
    assert comments(client, other, ticket["id"]).status_code == 404
    stolen = comment(client, other, ticket["id"], body="hello", public=True)
    assert stolen.status_code == 404 and stolen.json()["code"] == "ticket_not_found"
    assert comments(client, api, ticket["id"]).json()["items"] == []


def test_erasing_the_customer_empties_the_comments_on_their_tickets(client, api, linked):  # noqa: F811
    ticket = linked["ticket"]
    assert comment(client, api, ticket["id"], body="Li Wei lives at 1 Main St").status_code == 201
    erased = client.post(f"/api/v1/contacts/{linked['conversation']['contact_id']}/erase", headers=api)
    assert erased.status_code == 200, erased.text
    assert [each["body"] for each in comments(client, api, ticket["id"]).json()["items"]] == ["(erased)"]
