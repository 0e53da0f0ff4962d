"""The hub routing a burst of conversations in one batch through routing's decision."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from hub.assignment import route_conversations
from hub.models import Agent, AuditEntry, Contact, Conversation, Identity, Inbox, utcnow
from tests.conftest import inbox_of, run


def _queue_conversations(demo: dict[str, Any], count: int, *, capacity: int, strategy: str):
    """`count` new conversations in the demo web chat inbox, and two online agents taking `capacity` each."""
    inbox_id = inbox_of(demo, "webchat")["id"]

    async def prepare(hub) -> tuple[list[str], list[str]]:
        now = utcnow()
        async with hub.database.session() as session:
            inbox = await session.get(Inbox, inbox_id)
            inbox.routing_strategy = strategy
            agents = [
                Agent(
                    workspace_id=demo["workspace_id"],
                    email=f"agent{n}@routing.test",
                    name=f"Agent {n}",
                    password_hash="unused",
                    presence="online",
                    max_concurrent=capacity,
                    created_at=now - timedelta(minutes=10 - n),
                )
                for n in range(2)
            ]
            contacts = [
                Contact(workspace_id=demo["workspace_id"], name=f"Customer {n}") for n in range(count)
            ]
            identities = [
                Identity(
                    workspace_id=demo["workspace_id"],
                    contact_id=contact.id,
                    kind="webchat_visitor",
                    value=f"visitor-{n}",
                )
                for n, contact in enumerate(contacts)
            ]
            conversations = [
                Conversation(
                    workspace_id=demo["workspace_id"],
                    inbox_id=inbox_id,
                    contact_id=contact.id,
                    identity_id=identity.id,
                    last_message_at=now + timedelta(seconds=n),
                )
                for n, (contact, identity) in enumerate(zip(contacts, identities, strict=True))
            ]
            for rows in (agents, contacts, identities, conversations):
                session.add_all(rows)
                await session.flush()
            await session.commit()
            return [conversation.id for conversation in conversations], [agent.id for agent in agents]

    return prepare


def _stored(conversation_ids: list[str]):
    async def read(hub) -> tuple[list[Conversation], list[AuditEntry]]:
        async with hub.database.session() as session:
            rows = (
                await session.exec(select(Conversation).where(Conversation.id.in_(conversation_ids)))
            ).all()
            audit = (
                await session.exec(select(AuditEntry).where(AuditEntry.action == "conversation.assigned"))
            ).all()
        by_id = {row.id: row for row in rows}
        return [by_id[conversation_id] for conversation_id in conversation_ids], list(audit)

    return read


def test_a_burst_routed_together_never_overfills_an_agent(settings, demo) -> None:
    conversation_ids, agent_ids = run(
        _queue_conversations(demo, 3, capacity=1, strategy="least_busy"), settings
    )
    chosen = run(lambda hub: route_conversations(hub, conversation_ids), settings)
    conversations, audit = run(_stored(conversation_ids), settings)
    assert sorted(agent for agent in chosen.values() if agent) == sorted(agent_ids)
    assert [row.status for row in conversations] == ["assigned", "assigned", "queued"]
    assert conversations[2].assignee_id is None and chosen[conversation_ids[2]] is None
    assert len(audit) == 2


def test_round_robin_alternates_within_a_burst(settings, demo) -> None:
    conversation_ids, agent_ids = run(
        _queue_conversations(demo, 4, capacity=10, strategy="round_robin"), settings
    )
    run(lambda hub: route_conversations(hub, conversation_ids), settings)
    conversations, _ = run(_stored(conversation_ids), settings)
    assert [row.assignee_id for row in conversations] == [
        agent_ids[0],
        agent_ids[1],
        agent_ids[0],
        agent_ids[1],
    ]


def test_routing_again_changes_nothing(settings, demo) -> None:
    """A redelivered routing job finds the conversations already assigned and leaves them be."""
    conversation_ids, _ = run(_queue_conversations(demo, 2, capacity=5, strategy="least_busy"), settings)
    first = run(lambda hub: route_conversations(hub, conversation_ids), settings)
    assert (
        run(lambda hub: route_conversations(hub, [*conversation_ids, "no-such-conversation"]), settings) == {}
    )
    conversations, audit = run(_stored(conversation_ids), settings)
    assert [row.assignee_id for row in conversations] == [
        first[conversation_id] for conversation_id in conversation_ids
    ]
    assert len(audit) == 2
