"""CSAT end to end over the widget's HTTP and socket: a visitor is asked to rate their conversation when it is
resolved, rates it once (1 to 5, with a comment), and the rating shows in the conversation, the outbox
(`csat.submitted`) and the reports; bad ratings, other visitors and unresolved conversations are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import assert_error_shape, bearer, wait_for
from tests.hub.test_assignment_api import conversation, desk, outbox  # noqa: F401  (desk is a fixture)
from tests.hub.test_bot_conversations import Visitor, conversation_of
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401  (a fixture)


def rate(client, routed: dict[str, Any], visitor: Visitor, body: dict[str, Any]):
    return client.post(
        f"/widget/{routed['inbox']['widget_token']}/csat", json=body, headers=bearer(visitor.token)
    )


def chat(client, routed: dict[str, Any], text: str = "Where is my parcel?") -> tuple[Visitor, str]:
    visitor = Visitor(client, routed["inbox"]["widget_token"])
    sent = visitor.say(text)
    return visitor, conversation_of(client, routed["admin"], sent["id"])


def resolve(client, routed: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    answer = client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=bearer(routed["admin"]))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_visitor_rates_their_resolved_conversation_once(client, desk, settings):  # noqa: F811
    started = datetime.now(UTC)
    visitor, conversation_id = chat(client, desk)
    refused = rate(client, desk, visitor, {"conversation_id": conversation_id, "rating": 5})
    assert refused.status_code == 409 and refused.json()["code"] == "conversation_not_resolved"
    resolve(client, desk, conversation_id)

    rated = rate(
        client,
        desk,
        visitor,
        {"conversation_id": conversation_id, "rating": 4, "comment": " Quick,\x07 thanks "},
    )
    assert rated.status_code == 201, rated.text
    assert rated.json() == {"conversation_id": conversation_id, "rating": 4}
    csat = conversation(client, desk, conversation_id)["csat"]
    assert (csat["rating"], csat["comment"]) == (4, "Quick, thanks") and csat["submitted_at"]
    [event] = outbox(settings, "csat.submitted")
    assert event["conversation"]["id"] == conversation_id and event["conversation"]["csat"] == csat

    again = rate(client, desk, visitor, {"conversation_id": conversation_id, "rating": 1})
    assert again.status_code == 409 and again.json()["code"] == "already_rated"
    assert_error_shape(again)
    assert conversation(client, desk, conversation_id)["csat"] == csat
    assert len(outbox(settings, "csat.submitted")) == 1

    window = {
        "from": (started - timedelta(minutes=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }
    figures = client.get("/api/v1/reports/summary", params=window, headers=bearer(desk["admin"])).json()
    assert figures["overall"]["csat"] == {
        "responses": 1,
        "average": 4.0,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0},
    }


def test_bad_ratings_and_other_visitors_are_refused(client, desk, other_token):  # noqa: F811
    visitor, conversation_id = chat(client, desk)
    stranger, strangers_conversation = chat(client, desk, "Hi, me too")
    resolve(client, desk, conversation_id)
    resolve(client, desk, strangers_conversation)
    for body in (
        {"conversation_id": conversation_id, "rating": 0},
        {"conversation_id": conversation_id, "rating": 6},
        {"conversation_id": conversation_id, "rating": 4.5},
        {"conversation_id": conversation_id, "rating": "five"},
        {"conversation_id": conversation_id},
        {"conversation_id": "../etc", "rating": 3},
        {"conversation_id": conversation_id, "rating": 3, "comment": "x" * 1001},
    ):
        answer = rate(client, desk, visitor, body)
        assert answer.status_code == 400, (body, answer.text)
        assert_error_shape(answer)
    theirs = rate(client, desk, visitor, {"conversation_id": strangers_conversation, "rating": 1})
    assert theirs.status_code == 404 and theirs.json()["code"] == "conversation_not_found"
    unknown = rate(client, desk, visitor, {"conversation_id": "no-such-conversation", "rating": 1})
    assert unknown.status_code == 404
    anonymous = client.post(
        f"/widget/{desk['inbox']['widget_token']}/csat",
        json={"conversation_id": conversation_id, "rating": 5},
    )
    assert anonymous.status_code == 401
    assert conversation(client, desk, strangers_conversation)["csat"] is None
    assert conversation(client, desk, conversation_id)["csat"] is None
    assert (
        rate(client, desk, stranger, {"conversation_id": strangers_conversation, "rating": 2}).status_code
        == 201
    )


def test_the_widget_is_asked_for_a_rating_live_when_it_comes_back_and_when_it_polls(client, desk):  # noqa: F811
    visitor, conversation_id = chat(client, desk)
    socket_path = f"/widget/{desk['inbox']['widget_token']}/ws?visitor_token={visitor.token}"
    with client.websocket_connect(socket_path) as socket:
        ready = socket.receive_json()
        assert ready["type"] == "ready" and "rating_due" not in ready
        resolve(client, desk, conversation_id)
        frame = wait_for(
            lambda: (frame := socket.receive_json(timeout=10))["type"] == "csat.requested" and frame
        )
        assert frame == {"type": "csat.requested", "conversation_id": conversation_id}
    with client.websocket_connect(socket_path) as socket:
        assert socket.receive_json()["rating_due"] == conversation_id
    polled = client.get(f"/widget/{desk['inbox']['widget_token']}/messages", headers=bearer(visitor.token))
    assert polled.json()["rating_due"] == conversation_id
    assert rate(client, desk, visitor, {"conversation_id": conversation_id, "rating": 5}).status_code == 201
    with client.websocket_connect(socket_path) as socket:
        assert "rating_due" not in socket.receive_json()
    polled = client.get(f"/widget/{desk['inbox']['widget_token']}/messages", headers=bearer(visitor.token))
    assert polled.json()["rating_due"] is None


def test_a_reopened_conversation_may_be_rated_again_once_resolved_again(client, desk, settings):  # noqa: F811
    visitor, conversation_id = chat(client, desk)
    resolve(client, desk, conversation_id)
    assert rate(client, desk, visitor, {"conversation_id": conversation_id, "rating": 5}).status_code == 201

    visitor.say("Sorry, the parcel is still not here")
    wait_for(lambda: conversation(client, desk, conversation_id)["status"] != "resolved")
    early = rate(client, desk, visitor, {"conversation_id": conversation_id, "rating": 3})
    assert early.status_code == 409 and early.json()["code"] == "conversation_not_resolved"

    resolve(client, desk, conversation_id)
    again = rate(client, desk, visitor, {"conversation_id": conversation_id, "rating": 2, "comment": "slow"})
    assert again.status_code == 201, again.text
    csat = conversation(client, desk, conversation_id)["csat"]
    assert (csat["rating"], csat["comment"]) == (2, "slow")
    twice = rate(client, desk, visitor, {"conversation_id": conversation_id, "rating": 1})
    assert twice.status_code == 409 and twice.json()["code"] == "already_rated"
    assert [event["conversation"]["csat"]["rating"] for event in outbox(settings, "csat.submitted")] == [5, 2]
