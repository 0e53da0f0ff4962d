"""A resolved conversation that opens again goes back to its agent, who handles it again from then: a new
handling span starts (reports' handle time), and the time it lay resolved is not counted."""

from __future__ import annotations

from sqlmodel import col, select

from hub.models import HandlingSpan
from tests.conftest import bearer, run, wait_for
from tests.hub.test_assignment_api import assigned_to, conversation, desk, presence  # noqa: F401  (desk is a fixture)
from tests.hub.test_bot_conversations import Visitor, conversation_of


def spans(settings, conversation_id: str) -> list[tuple[str, bool]]:
    """(agent, still open) of each handling span of the conversation, oldest first."""

    spans_of_it = (
        select(HandlingSpan.agent_id, HandlingSpan.ended_at)
        .where(HandlingSpan.conversation_id == conversation_id)
        .order_by(col(HandlingSpan.started_at))
    )

    async def read(hub) -> list[tuple[str, bool]]:
        async with hub.database.session() as session:
            return [(agent_id, ended_at is None) for agent_id, ended_at in await session.exec(spans_of_it)]

    return run(read, settings)


def set_status(client, routed, conversation_id: str, status: str) -> None:
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/status",
        json={"status": status},
        headers=bearer(routed["admin"]),
    )
    assert answer.status_code == 200, answer.text


def test_an_agents_reopen_and_a_customers_message_start_a_new_handling_span(client, desk, settings) -> None:  # noqa: F811
    ann = desk["agents"]["ann"]
    presence(client, ann, "online")
    visitor = Visitor(client, desk["inbox"]["widget_token"])
    conversation_id = conversation_of(client, desk["admin"], visitor.say("Hello?")["id"])
    assigned_to(client, desk, conversation_id, ann["id"])
    set_status(client, desk, conversation_id, "resolved")
    assert spans(settings, conversation_id) == [(ann["id"], False)]

    set_status(client, desk, conversation_id, "open")
    assert conversation(client, desk, conversation_id)["assignee_id"] == ann["id"]
    assert spans(settings, conversation_id) == [(ann["id"], False), (ann["id"], True)]

    set_status(client, desk, conversation_id, "resolved")
    visitor.say("One more question")
    wait_for(lambda: conversation(client, desk, conversation_id)["status"] == "assigned")
    assert spans(settings, conversation_id) == [(ann["id"], False), (ann["id"], False), (ann["id"], True)]
