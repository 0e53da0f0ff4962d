"""Assigning conversations: load routing's snapshot, call its pure decision, apply the result in one transaction.

Every change of who holds a conversation (routing the queue, a claim, a transfer, a requeue, an admin's
assignment) first locks the workspace's row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite runs one
writer at a time), so concurrent workers never count the same free seat twice: no agent goes past their
capacity and no conversation is assigned twice. The queued conversations themselves are locked too, so a
concurrent resolve is never overwritten.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import and_, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events, handling, outbound
from hub.agent_connections import AgentConnections, presence_shown
from hub.bot_engines import signing_key
from hub.models import Agent, AuditEntry, Contact, Conversation, Inbox, Message, TeamMember, Workspace
from hub.realtime import workspace_channel
from hub.runtime import ENCRYPTED, Hub
from hub.signed_calls import ASK_FAILURES, ask_signed, failure_reason
from hub.statuses import AgentPresence, ConversationStatus
from hub.views import WorkspaceEvent
from routing.assignment import ExternalAnswer, Outcome, agent_available
from routing.candidates import AgentLoad, QueuedConversation
from routing.config import policy_from_config, schedule_from_config
from routing.errors import ClaimRefused
from routing.lifecycle import ConversationStatus as LifecycleStatus
from routing.policy import RoutingPolicy, Strategy
from routing.queue import assign_queue, queue_order
from routing.rerouting import AssignedConversation, Requeue, TransferRequest, conversations_to_requeue
from routing.rerouting import claim as claim_decision
from routing.rerouting import transfer as transfer_decision

__all__ = [
    "OPEN_STATUSES",
    "RoutingRequest",
    "RoutingSnapshot",
    "assign",
    "claim",
    "inbox_policy",
    "inboxes_with_an_available_agent",
    "lock_routing",
    "queued_conversations",
    "reroute_workspace",
    "route_conversations",
    "route_workspace",
    "routing_snapshot",
    "transfer",
    "without_row_locks",
    "workspaces_with_answer_timeouts",
    "workspaces_with_shifts",
]

log = logging.getLogger("omnihub.assignment")

OPEN_STATUSES = ("queued", "assigned", "pending", "snoozed", "bot")
"""The statuses that hold a seat of the assignee's capacity (a snoozed conversation comes back to its agent)."""


def inbox_policy(inbox: Inbox) -> RoutingPolicy:
    """The inbox's stored routing as routing's policy (the API refused anything else when it was stored)."""
    return policy_from_config({**inbox.routing, "strategy": inbox.routing_strategy})


async def lock_routing(session: AsyncSession, workspace_id: str) -> None:
    """Serialise every change of who holds which conversation in the workspace (see the module's docstring).

    `FOR NO KEY UPDATE`: it excludes the other routing passes, but not the foreign-key checks of rows written
    in the workspace meanwhile (messages, outbox events), which `FOR UPDATE` would hold up until the pass ends.
    SQLite has no row locks: there the pass takes the database's write lock first (a write that changes
    nothing), so what it reads next cannot be changed under it before it commits."""
    if without_row_locks(session):
        await session.execute(
            update(Workspace).where(col(Workspace.id) == workspace_id).values(id=Workspace.id)
        )
        return
    await session.exec(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update(key_share=True)
    )


def without_row_locks(session: AsyncSession) -> bool:
    """SQLite (the embedded mode) ignores `FOR UPDATE`: a read is never locked against another writer."""
    return session.get_bind().dialect.name == "sqlite"


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    agents: list[AgentLoad]
    policies: dict[str, RoutingPolicy]


async def routing_snapshot(
    session: AsyncSession, connections: AgentConnections, workspace_id: str
) -> RoutingSnapshot:
    """The workspace's agents as routing sees them (presence, load, teams, skills, recency) and inbox policies.
    Presence is the stored one, but offline for agents whose connections lapsed (hub.agent_connections)."""
    agents = list((await session.exec(select(Agent).where(Agent.workspace_id == workspace_id))).all())
    lapsed = await connections.lapsed_among(agent.id for agent in agents)
    teams: dict[str, set[str]] = {}
    for agent_id, team_id in (
        await session.exec(
            select(TeamMember.agent_id, TeamMember.team_id).where(TeamMember.workspace_id == workspace_id)
        )
    ).all():
        teams.setdefault(agent_id, set()).add(team_id)
    load_rows = await session.exec(
        select(
            Conversation.assignee_id,
            func.count(),
            func.max(func.coalesce(Conversation.assigned_at, Conversation.last_message_at)),
        )
        .where(
            Conversation.workspace_id == workspace_id,
            col(Conversation.status).in_(OPEN_STATUSES),
            col(Conversation.assignee_id).is_not(None),
        )
        .group_by(Conversation.assignee_id)
    )
    open_counts: dict[str, int] = {}
    latest: dict[str, datetime] = {}
    for assignee_id, count, last_assigned in load_rows.all():
        assert assignee_id is not None, "the query leaves out unassigned conversations"
        open_counts[assignee_id], latest[assignee_id] = count, last_assigned
    by_recency = sorted(
        agents, key=lambda agent: (agent.id in latest, latest.get(agent.id) or agent.created_at)
    )
    inboxes = (await session.exec(select(Inbox).where(Inbox.workspace_id == workspace_id))).all()
    return RoutingSnapshot(
        agents=[
            AgentLoad(
                agent_id=agent.id,
                online=presence_shown(agent.presence, agent.id in lapsed) is AgentPresence.ONLINE,
                open_conversations=open_counts.get(agent.id, 0),
                max_concurrent=agent.max_concurrent,
                last_assigned_order=order,
                team_ids=frozenset(teams.get(agent.id, ())),
                skills=frozenset(agent.skills),
                shift=schedule_from_config(agent.shifts) if agent.shifts else None,
            )
            for order, agent in enumerate(by_recency)
        ],
        policies={inbox.id: inbox_policy(inbox) for inbox in inboxes},
    )


async def inboxes_with_an_available_agent(
    session: AsyncSession, connections: AgentConnections, inboxes: Sequence[Inbox], now: datetime
) -> set[str]:
    """The ids of the inboxes some agent could take a new conversation of now (`routing.assignment.agent_available`
    over the workspace's routing snapshot)."""
    available = set()
    for workspace_id in {inbox.workspace_id for inbox in inboxes}:
        snapshot = await routing_snapshot(session, connections, workspace_id)
        available |= {
            inbox.id
            for inbox in inboxes
            if inbox.workspace_id == workspace_id
            and agent_available(snapshot.policies[inbox.id], snapshot.agents, now)
        }
    return available


def _waiting(conversation: Conversation, vip_level: int) -> QueuedConversation:
    return QueuedConversation(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        queued_at=conversation.queued_at or conversation.created_at,
        vip_level=vip_level,
        priority=conversation.priority,
        category=conversation.category,
        team_id=conversation.team_id,
        avoid_agent_ids=frozenset(conversation.avoid_agent_ids),
    )


async def queued_conversations(
    session: AsyncSession, workspace_id: str, *, lock: bool
) -> list[tuple[Conversation, QueuedConversation]]:
    """The workspace's conversations waiting for an agent, in queue order."""
    statement = (
        select(Conversation, Contact.vip_level)
        .join(Contact, col(Contact.id) == Conversation.contact_id)
        .where(
            Conversation.workspace_id == workspace_id,
            col(Conversation.status) == ConversationStatus.QUEUED,
            col(Conversation.assignee_id).is_(None),
        )
    )
    if lock:
        statement = statement.with_for_update(of=Conversation)
    rows = {
        conversation.id: (conversation, _waiting(conversation, level))
        for conversation, level in (await session.exec(statement)).all()
    }
    return [rows[waiting.conversation_id] for waiting in queue_order([each for _, each in rows.values()])]


async def route_conversations(hub: Hub, conversation_ids: list[str]) -> dict[str, str | None]:
    """Route the queues these conversations wait in; answer who got each of those that were waiting.

    The external service of an inbox routed `external` is asked about these conversations only (before
    the lock, never holding it over a network call); a conversation queued again later is served by the
    inbox's fallback strategy.
    """
    async with hub.database.session() as session:
        waiting = (
            await session.exec(
                select(Conversation).where(
                    col(Conversation.id).in_(conversation_ids),
                    col(Conversation.status) == ConversationStatus.QUEUED,
                    col(Conversation.assignee_id).is_(None),
                )
            )
        ).all()
        external_inboxes = {
            inbox.id: inbox
            for inbox in (
                await session.exec(
                    select(Inbox).where(
                        col(Inbox.id).in_({each.inbox_id for each in waiting}),
                        col(Inbox.routing_strategy) == Strategy.EXTERNAL,
                    )
                )
            ).all()
        }
        contacts = {
            contact_id: level
            for contact_id, level in (
                await session.exec(
                    select(Contact.id, Contact.vip_level).where(
                        col(Contact.id).in_(
                            {each.contact_id for each in waiting if each.inbox_id in external_inboxes}
                        )
                    )
                )
            ).all()
        }
    asked = [each for each in waiting if each.inbox_id in external_inboxes]
    answers = dict(
        zip(
            [each.id for each in asked],
            await asyncio.gather(
                *(
                    _ask_external(
                        hub,
                        external_inboxes[each.inbox_id],
                        each,
                        contacts.get(each.contact_id, 0),
                    )
                    for each in asked
                )
            ),
            strict=True,
        )
    )
    chosen: dict[str, str | None] = {each.id: None for each in waiting}
    for workspace_id in sorted({each.workspace_id for each in waiting}):
        assigned = await route_workspace(hub, workspace_id, answers)
        chosen |= {
            conversation_id: agent for conversation_id, agent in assigned.items() if conversation_id in chosen
        }
    return chosen


async def route_workspace(
    hub: Hub, workspace_id: str, external_answers: dict[str, ExternalAnswer] | None = None
) -> dict[str, str]:
    """Serve the workspace's whole queue as far as free seats allow; answer conversation id → agent id.

    Run whenever a seat may have freed (an agent online, a conversation resolved, capacity raised, a team
    changed), so the longest-waiting VIP gets the seat the moment it frees. With no seat free anywhere the queue
    is not read: a backlog of thousands waiting (a night's mail, nobody online) costs each new arrival nothing.
    """
    now = hub.now()
    published: list[WorkspaceEvent] = []
    async with hub.database.session() as session:
        await lock_routing(session, workspace_id)
        snapshot = await routing_snapshot(session, hub.agent_connections, workspace_id)
        if not any(agent.has_capacity for agent in snapshot.agents):
            return {}
        queue = await queued_conversations(session, workspace_id, lock=True)
        if not queue:
            return {}
        answers = dict(external_answers or {})
        for conversation, _ in queue:
            policy = snapshot.policies[conversation.inbox_id]
            if policy.strategy is Strategy.EXTERNAL and conversation.id not in answers:
                answers[conversation.id] = ExternalAnswer()
        result = assign_queue(
            [waiting for _, waiting in queue],
            snapshot.policies,
            snapshot.agents,
            now=now,
            external_answers=answers,
        )
        rows = {conversation.id: conversation for conversation, _ in queue}
        for decision in result.decisions:
            if decision.outcome is Outcome.ASSIGNED and decision.agent_id is not None:
                published.append(
                    await _set_assignee(
                        session, rows[decision.conversation_id], decision.agent_id, now, "system", None
                    )
                )
        await session.commit()
    await _publish(hub, workspace_id, published)
    return result.assigned


async def _set_assignee(
    session: AsyncSession,
    conversation: Conversation,
    agent_id: str | None,
    now: datetime,
    actor_type: str,
    actor_id: str | None,
) -> WorkspaceEvent:
    """Give the conversation to `agent_id` (None: back to the queue), audited, with its outbox event."""
    previous = conversation.assignee_id
    await handling.assignee_changing(session, conversation, agent_id, now)
    conversation.assignee_id = agent_id
    conversation.assigned_at = now if agent_id else None
    if conversation.status in (ConversationStatus.QUEUED, ConversationStatus.ASSIGNED):
        conversation.status = ConversationStatus.ASSIGNED if agent_id else ConversationStatus.QUEUED
    session.add(conversation)
    session.add(
        AuditEntry(
            workspace_id=conversation.workspace_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action="conversation.assigned",
            subject_type="conversation",
            subject_id=conversation.id,
            details={"from": previous, "to": agent_id},
        )
    )
    return events.record(
        session,
        conversation.workspace_id,
        "conversation.assigned",
        conversation.id,
        {"conversation": events.conversation_json(conversation), "previous_assignee_id": previous},
    )


async def _publish(hub: Hub, workspace_id: str, published: Sequence[WorkspaceEvent]) -> None:
    """All at once, in order: the publisher sends publishes made meanwhile in one round trip."""
    channels = [workspace_channel(workspace_id)]
    await asyncio.gather(*(hub.publisher.publish(event, channels) for event in published))


async def assign(
    hub: Hub, conversation: Conversation, agent_id: str | None, *, actor_type: str, actor_id: str | None
) -> Conversation:
    """An admin's or integration's choice: set (or clear) the assignee, audit it and tell the workspace's agents."""
    async with hub.database.session() as session:
        await lock_routing(session, conversation.workspace_id)
        row = await session.get_one(Conversation, conversation.id, with_for_update=True)
        event = await _set_assignee(session, row, agent_id, hub.now(), actor_type, actor_id)
        await session.commit()
    await _publish(hub, row.workspace_id, [event])
    return row


async def reroute_workspace(hub: Hub, workspace_id: str) -> list[Requeue]:
    """Take back the conversations whose agent went offline or stayed silent past the inbox's answer timeout,
    queue them again (history intact; a silent agent is not handed the conversation back), then serve the queue."""
    now = hub.now()
    published: list[WorkspaceEvent] = []
    async with hub.database.session() as session:
        await lock_routing(session, workspace_id)
        held = (
            await session.exec(
                select(Conversation)
                .where(
                    Conversation.workspace_id == workspace_id,
                    col(Conversation.status) == ConversationStatus.ASSIGNED,
                    col(Conversation.assignee_id).is_not(None),
                )
                .with_for_update()
            )
        ).all()
        if not held:
            return []
        answered = set(
            (
                await session.exec(
                    select(Message.conversation_id)
                    .join(
                        Conversation,
                        and_(
                            col(Conversation.id) == Message.conversation_id,
                            col(Conversation.assignee_id) == Message.sender_id,
                            col(Message.created_at) >= Conversation.assigned_at,
                        ),
                    )
                    .where(
                        col(Message.conversation_id).in_([each.id for each in held]),
                        col(Message.direction) == "out",
                        col(Message.sender_type) == "agent",
                    )
                )
            ).all()
        )
        snapshot = await routing_snapshot(session, hub.agent_connections, workspace_id)
        requeues = conversations_to_requeue(
            [
                AssignedConversation(
                    conversation_id=each.id,
                    inbox_id=each.inbox_id,
                    agent_id=each.assignee_id or "",
                    status=LifecycleStatus.OPEN,
                    assigned_at=each.assigned_at or each.created_at,
                    answered=each.id in answered,
                )
                for each in held
            ],
            snapshot.agents,
            snapshot.policies,
            now,
        )
        rows = {each.id: each for each in held}
        for requeue in requeues:
            conversation = rows[requeue.conversation_id]
            await _set_assignee(session, conversation, None, now, "system", None)
            if requeue.avoid_agent:
                conversation.avoid_agent_ids = sorted({*conversation.avoid_agent_ids, requeue.agent_id})
            published.append(
                events.record(
                    session,
                    workspace_id,
                    "conversation.requeued",
                    conversation.id,
                    {
                        "conversation": events.conversation_json(conversation),
                        "previous_assignee_id": requeue.agent_id,
                        "reason": requeue.reason.value,
                    },
                )
            )
        await session.commit()
    await _publish(hub, workspace_id, published)
    if requeues:
        log.info("routing.requeued workspace=%s count=%d", workspace_id, len(requeues))
        await route_workspace(hub, workspace_id)
    return list(requeues)


async def workspaces_with_answer_timeouts(hub: Hub) -> list[str]:
    """The workspaces where some inbox takes conversations back from silent agents (the sweeper's rounds)."""
    async with hub.database.session() as session:
        rows = (await session.exec(select(Inbox.workspace_id, Inbox.routing))).all()
    return sorted({workspace_id for workspace_id, routing in rows if routing.get("answer_timeout_seconds")})


async def workspaces_with_shifts(hub: Hub) -> list[str]:
    """The workspaces where some agent works shifts: a shift beginning frees seats no event announces."""
    async with hub.database.session() as session:
        rows = (await session.exec(select(Agent.workspace_id, Agent.shifts))).all()
    return sorted({workspace_id for workspace_id, shifts in rows if shifts})


class RoutingRequest(msgspec.Struct):
    """What the business's routing service receives (`type` is `routing.requested`), signed as a Standard Webhook.

    It answers `{"agent_id": ..., "team_id": ...}` (either may be null); an agent who cannot take the
    conversation, a timeout or an error leaves the decision to the inbox's fallback strategy.
    """

    id: str
    type: str
    timestamp: int
    workspace_id: str
    inbox_id: str
    conversation_id: str
    contact_id: str
    category: str | None
    priority: int
    vip_level: int


class RoutingAnswer(msgspec.Struct):
    agent_id: str | None = None
    team_id: str | None = None


async def _ask_external(hub: Hub, inbox: Inbox, conversation: Conversation, level: int) -> ExternalAnswer:
    stored = inbox.routing_webhook
    if not stored.get("url") or not stored.get("secret"):
        log.warning("routing.external_not_configured workspace=%s inbox=%s", inbox.workspace_id, inbox.id)
        return ExternalAnswer()
    timestamp = int(time.time())
    body = msgspec.json.encode(
        RoutingRequest(
            id=conversation.id,
            type="routing.requested",
            timestamp=timestamp,
            workspace_id=conversation.workspace_id,
            inbox_id=conversation.inbox_id,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            category=conversation.category,
            priority=conversation.priority,
            vip_level=level,
        )
    )
    try:
        key = signing_key(hub.box.decrypt(stored["secret"][ENCRYPTED]))
        answer = await ask_signed(
            hub,
            stored["url"],
            key,
            conversation.id,
            timestamp,
            body,
            stored["timeout_seconds"],
            RoutingAnswer,
        )
    except ASK_FAILURES as error:
        reason = failure_reason(error)
    else:
        return ExternalAnswer(answer.agent_id, answer.team_id)
    log.warning(
        "routing.external_fell_back reason=%s workspace=%s conversation=%s",
        reason,
        conversation.workspace_id,
        conversation.id,
    )
    return ExternalAnswer()


def _lifecycle_status(status: str) -> LifecycleStatus:
    if status == ConversationStatus.RESOLVED:
        return LifecycleStatus.RESOLVED
    if status == ConversationStatus.PENDING:
        return LifecycleStatus.PENDING
    if status == ConversationStatus.SNOOZED:
        return LifecycleStatus.SNOOZED
    return LifecycleStatus.OPEN


async def _locked_conversation(
    session: AsyncSession, workspace_id: str, conversation_id: str
) -> tuple[Conversation, int]:
    conversation, level = (
        await session.exec(
            select(Conversation, Contact.vip_level)
            .join(Contact, col(Contact.id) == Conversation.contact_id)
            .where(Conversation.id == conversation_id, Conversation.workspace_id == workspace_id)
            .with_for_update(of=Conversation)
        )
    ).one()
    return conversation, level


async def claim(hub: Hub, workspace_id: str, conversation_id: str, agent_id: str) -> Conversation:
    """The agent takes a conversation from the queue (whatever the inbox's strategy); ClaimRefused says why not."""
    async with hub.database.session() as session:
        await lock_routing(session, workspace_id)
        conversation, level = await _locked_conversation(session, workspace_id, conversation_id)
        snapshot = await routing_snapshot(session, hub.agent_connections, workspace_id)
        agent = next(each for each in snapshot.agents if each.agent_id == agent_id)
        if conversation.status not in (ConversationStatus.QUEUED, ConversationStatus.ASSIGNED):
            raise ClaimRefused(
                f"a {conversation.status} conversation is not in the queue", reasons=("not_queued",)
            )
        decision = claim_decision(
            _waiting(conversation, level),
            conversation.assignee_id,
            agent,
            snapshot.policies[conversation.inbox_id],
        )
        event = await _set_assignee(session, conversation, decision.agent_id, hub.now(), "agent", agent_id)
        await session.commit()
    await _publish(hub, workspace_id, [event])
    return conversation


async def transfer(
    hub: Hub,
    workspace_id: str,
    conversation_id: str,
    *,
    by_agent_id: str | None,
    to_agent_id: str | None,
    to_team_id: str | None,
    note: str,
) -> Conversation:
    """Hand the conversation to an agent (online, with room) or to a team's queue; TransferRefused says why not.

    The note is kept on the conversation as an internal note for whoever picks it up.
    """
    now = hub.now()
    async with hub.database.session() as session:
        await lock_routing(session, workspace_id)
        conversation, _ = await _locked_conversation(session, workspace_id, conversation_id)
        snapshot = await routing_snapshot(session, hub.agent_connections, workspace_id)
        decision = transfer_decision(
            TransferRequest(
                conversation_id=conversation.id,
                status=_lifecycle_status(conversation.status),
                from_agent_id=conversation.assignee_id,
                to_agent_id=to_agent_id,
                to_team_id=to_team_id,
                note=note,
            ),
            snapshot.agents,
        )
        published = [
            await _set_assignee(session, conversation, decision.to_agent_id, now, "agent", by_agent_id)
        ]
        handling.handed_over(conversation, now, to_queue=False)
        if decision.to_team_id is not None:
            conversation.team_id = decision.to_team_id
            conversation.queued_at = now
            conversation.status = ConversationStatus.QUEUED
        conversation.avoid_agent_ids = []
        published.append(
            events.record(
                session,
                workspace_id,
                "conversation.transferred",
                conversation.id,
                {
                    "conversation": events.conversation_json(conversation),
                    "from_agent_id": decision.from_agent_id,
                    "to_agent_id": decision.to_agent_id,
                    "to_team_id": decision.to_team_id,
                    "note": decision.note,
                },
            )
        )
        await session.commit()
    await _publish(hub, workspace_id, published)
    if decision.note:
        await outbound.create_message(
            hub,
            conversation,
            text=decision.note,
            direction="note",
            sender_type="agent",
            sender_id=by_agent_id,
        )
    if decision.to_team_id is not None:
        await route_workspace(hub, workspace_id)
    return conversation
