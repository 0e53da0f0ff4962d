"""Assigning conversations: the data for routing's decision, and the change it makes."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from hub import events
from hub.models import Agent, AuditEntry, Conversation, Inbox
from hub.realtime import workspace_channel
from hub.runtime import Hub
from routing import AgentLoad, choose_agent

__all__ = ["assign", "route_conversation"]

OPEN_STATUSES = ("queued", "assigned", "pending", "bot")


async def route_conversation(hub: Hub, conversation_id: str) -> str | None:
    """Assign a queued conversation by its inbox's strategy; leave it queued when nobody can take it."""
    async with hub.database.session() as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or conversation.status != "queued" or conversation.assignee_id:
            return None
        inbox = await session.get(Inbox, conversation.inbox_id)
        agents = (await session.exec(select(Agent).where(Agent.workspace_id == conversation.workspace_id))).all()
        load_rows = await session.exec(
            select(Conversation.assignee_id, func.count(), func.max(Conversation.last_message_at))
            .where(Conversation.workspace_id == conversation.workspace_id,
                   Conversation.status.in_(OPEN_STATUSES), Conversation.assignee_id.is_not(None))
            .group_by(Conversation.assignee_id)
        )
        open_counts, latest = {}, {}
        for agent_id, count, last_message_at in load_rows.all():
            open_counts[agent_id], latest[agent_id] = count, last_message_at
    by_recency = sorted(agents, key=lambda agent: (agent.id in latest, latest.get(agent.id) or agent.created_at))
    loads = [
        AgentLoad(
            agent_id=agent.id,
            online=agent.presence == "online",
            open_conversations=open_counts.get(agent.id, 0),
            max_concurrent=agent.max_concurrent,
            last_assigned_order=order,
        )
        for order, agent in enumerate(by_recency)
    ]
    chosen = choose_agent(inbox.routing_strategy, loads)
    if chosen is not None:
        await assign(hub, conversation, chosen, actor_type="system", actor_id=None)
    return chosen


async def assign(hub: Hub, conversation: Conversation, agent_id: str | None, *, actor_type: str, actor_id: str | None) -> Conversation:
    """Set (or clear) the assignee, audit it and tell the workspace's agents."""
    async with hub.database.session() as session:
        row = await session.get(Conversation, conversation.id)
        previous = row.assignee_id
        row.assignee_id = agent_id
        if row.status in ("queued", "assigned"):
            row.status = "assigned" if agent_id else "queued"
        session.add(
            AuditEntry(
                workspace_id=row.workspace_id, actor_type=actor_type, actor_id=actor_id,
                action="conversation.assigned", subject_type="conversation", subject_id=row.id,
                details={"from": previous, "to": agent_id},
            )
        )
        payload = events.record(
            session, row.workspace_id, "conversation.assigned", row.id,
            {"conversation": events.conversation_json(row), "previous_assignee_id": previous},
        )
        await session.commit()
    await hub.publisher.publish(payload, [workspace_channel(row.workspace_id)])
    return row
