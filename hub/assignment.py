"""Assigning conversations: the data for routing's decision, and the change it makes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events
from hub.models import Agent, AuditEntry, Conversation, Inbox
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.statuses import ConversationStatus
from routing.assignment import ExternalAnswer, choose_agent
from routing.candidates import AgentLoad, QueuedConversation
from routing.policy import RoutingPolicy, Strategy

__all__ = ["assign", "route_conversations"]

OPEN_STATUSES = ("queued", "assigned", "pending", "bot")


async def route_conversations(hub: Hub, conversation_ids: list[str]) -> dict[str, str | None]:
    """Assign queued conversations by their inbox's strategy, in the order given; leave queued whoever nobody can take.

    One read serves the whole batch, and each choice counts the assignments made before it in the
    batch, so a burst of new conversations neither costs a query round per conversation nor
    overfills an agent.
    """
    async with hub.database.session() as session:
        found = {
            conversation.id: conversation
            for conversation in (
                await session.exec(select(Conversation).where(col(Conversation.id).in_(conversation_ids)))
            ).all()
        }
        in_order = [found[each] for each in dict.fromkeys(conversation_ids) if each in found]
        waiting = [each for each in in_order if each.status == "queued" and not each.assignee_id]
        if not waiting:
            return {}
        inboxes = {
            inbox.id: inbox
            for inbox in (
                await session.exec(select(Inbox).where(col(Inbox.id).in_({c.inbox_id for c in waiting})))
            ).all()
        }
        teams = {
            workspace_id: await _team(session, workspace_id)
            for workspace_id in {c.workspace_id for c in waiting}
        }
    chosen: dict[str, str | None] = {}
    for conversation in waiting:
        team = teams[conversation.workspace_id]
        queued = QueuedConversation(conversation.id, conversation.inbox_id, queued_at=conversation.created_at)
        agent_id = choose_agent(
            RoutingPolicy(Strategy(inboxes[conversation.inbox_id].routing_strategy)),
            queued,
            team.loads(),
            now=hub.now(),
            external=ExternalAnswer(),
        ).agent_id
        chosen[conversation.id] = agent_id
        if agent_id is not None:
            team.took(agent_id, conversation)
            await assign(hub, conversation, agent_id, actor_type="system", actor_id=None)
    return chosen


class _Team:
    """A workspace's agents with their open conversations and latest assignment, kept current through a batch."""

    def __init__(self, agents: list[Agent], open_counts: dict[str, int], latest: dict[str, datetime]) -> None:
        self._agents = agents
        self._open_counts = open_counts
        self._latest = latest

    def loads(self) -> list[AgentLoad]:
        by_recency = sorted(
            self._agents,
            key=lambda agent: (agent.id in self._latest, self._latest.get(agent.id) or agent.created_at),
        )
        return [
            AgentLoad(
                agent_id=agent.id,
                online=agent.presence == "online",
                open_conversations=self._open_counts.get(agent.id, 0),
                max_concurrent=agent.max_concurrent,
                last_assigned_order=order,
            )
            for order, agent in enumerate(by_recency)
        ]

    def took(self, agent_id: str, conversation: Conversation) -> None:
        self._open_counts[agent_id] = self._open_counts.get(agent_id, 0) + 1
        latest = self._latest.get(agent_id)
        if latest is None or conversation.last_message_at > latest:
            self._latest[agent_id] = conversation.last_message_at


async def _team(session: AsyncSession, workspace_id: str) -> _Team:
    agents = list((await session.exec(select(Agent).where(Agent.workspace_id == workspace_id))).all())
    load_rows = await session.exec(
        select(Conversation.assignee_id, func.count(), func.max(Conversation.last_message_at))
        .where(
            Conversation.workspace_id == workspace_id,
            col(Conversation.status).in_(OPEN_STATUSES),
            col(Conversation.assignee_id).is_not(None),
        )
        .group_by(Conversation.assignee_id)
    )
    open_counts: dict[str, int] = {}
    latest: dict[str, datetime] = {}
    for agent_id, count, last_message_at in load_rows.all():
        assert agent_id is not None, "the query leaves out unassigned conversations"
        open_counts[agent_id], latest[agent_id] = count, last_message_at
    return _Team(agents, open_counts, latest)


async def assign(
    hub: Hub, conversation: Conversation, agent_id: str | None, *, actor_type: str, actor_id: str | None
) -> Conversation:
    """Set (or clear) the assignee, audit it and tell the workspace's agents."""
    async with hub.database.session() as session:
        row = await session.get_one(Conversation, conversation.id)
        previous = row.assignee_id
        row.assignee_id = agent_id
        if row.status in (ConversationStatus.QUEUED, ConversationStatus.ASSIGNED):
            row.status = ConversationStatus.ASSIGNED if agent_id else ConversationStatus.QUEUED
        session.add(
            AuditEntry(
                workspace_id=row.workspace_id,
                actor_type=actor_type,
                actor_id=actor_id,
                action="conversation.assigned",
                subject_type="conversation",
                subject_id=row.id,
                details={"from": previous, "to": agent_id},
            )
        )
        payload = events.record(
            session,
            row.workspace_id,
            "conversation.assigned",
            row.id,
            {"conversation": events.conversation_json(row), "previous_assignee_id": previous},
        )
        await session.commit()
    await hub.publisher.publish(payload, [workspace_channel(row.workspace_id)])
    return row
