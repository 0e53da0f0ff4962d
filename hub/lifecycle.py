"""The conversation's life in the hub: routing.lifecycle decides, this module maps its four statuses onto the
stored ones, applies the decision to the row and records its events (outbox and agents' socket).

A conversation that opens again goes back to the agent who held it, or to the queue when nobody did. A
snoozed conversation is woken by the sweeper (`wake_snoozed`) once its time has come.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import actors, assignment, csat, events, handling
from hub.models import Conversation, Inbox
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.statuses import ConversationStatus
from hub.views import WorkspaceEvent
from routing.lifecycle import (
    ConversationEvent,
    ConversationRules,
    ConversationState,
    Resolve,
    SnoozeEnded,
    conversation_transition,
)
from routing.lifecycle import ConversationStatus as Life
from routing.transitions import Actor, AgentReplied, CustomerWrote, DomainEvent, SetOpen

__all__ = [
    "Recorder",
    "announce",
    "change_status",
    "close_for_erasure",
    "customer_wrote",
    "inbox_rules",
    "record_lifecycle_events",
    "reopen_on_agent_reply",
    "wake_snoozed",
]

log = logging.getLogger("omnihub.lifecycle")

Recorder = Callable[[str, str, str, Mapping[str, object]], WorkspaceEvent]
"""Records one event for the change's transaction: `events.Outbox.record`, or `events.record` bound to a session."""

WAKE_BATCH = 500

_STORED_AS = {
    Life.PENDING: ConversationStatus.PENDING,
    Life.SNOOZED: ConversationStatus.SNOOZED,
    Life.RESOLVED: ConversationStatus.RESOLVED,
}


def inbox_rules(inbox: Inbox) -> ConversationRules:
    return ConversationRules(reopen_window=timedelta(hours=inbox.reopen_window_hours))


def _state(conversation: Conversation) -> ConversationState:
    """The stored row as routing.lifecycle sees it: queued, assigned and bot are all open."""
    status = ConversationStatus(conversation.status)
    if status is ConversationStatus.SNOOZED:
        return ConversationState(Life.SNOOZED, snoozed_until=conversation.snoozed_until)
    if status is ConversationStatus.RESOLVED:
        return ConversationState(
            Life.RESOLVED, resolved_at=conversation.resolved_at or conversation.created_at
        )
    if status is ConversationStatus.PENDING:
        return ConversationState(Life.PENDING)
    return ConversationState(Life.OPEN)


def _store(conversation: Conversation, state: ConversationState, now: datetime) -> None:
    conversation.snoozed_until = state.snoozed_until
    if state.status is not Life.OPEN:
        conversation.status = _STORED_AS[state.status]
        conversation.resolved_at = state.resolved_at or conversation.resolved_at
        return
    conversation.resolved_at = None
    if conversation.status in (
        ConversationStatus.QUEUED,
        ConversationStatus.ASSIGNED,
        ConversationStatus.BOT,
    ):
        return
    if conversation.assignee_id is not None:
        conversation.status = ConversationStatus.ASSIGNED
    else:
        conversation.status = ConversationStatus.QUEUED
        conversation.queued_at = now


@dataclass(frozen=True, slots=True)
class Applied:
    """What a lifecycle event did: the events to record, or (customer after the window) a follow-up to start."""

    emitted: tuple[DomainEvent, ...] = ()
    starts_follow_up: bool = False


def _apply(
    conversation: Conversation, event: ConversationEvent, now: datetime, rules: ConversationRules
) -> Applied:
    """Apply `event` to the row (InvalidTransition when it makes no sense now)."""
    transition = conversation_transition(_state(conversation), event, now, rules)
    if transition.starts_follow_up:
        return Applied(starts_follow_up=True)
    _store(conversation, transition.state, now)
    return Applied(transition.emitted)


def customer_wrote(conversation: Conversation, now: datetime, inbox: Inbox) -> Applied:
    """The customer's message opens a pending or snoozed conversation and reopens a resolved one within the
    inbox's window; after it, `starts_follow_up` asks for a new conversation linked to this one."""
    return _apply(conversation, CustomerWrote(), now, inbox_rules(inbox))


def record_lifecycle_events(
    record: Recorder, conversation: Conversation, emitted: tuple[DomainEvent, ...]
) -> list[WorkspaceEvent]:
    """routing.lifecycle's events as the hub's declared ones, carrying the conversation as it now is."""
    view = events.conversation_json(conversation)
    recorded = []
    for domain_event in emitted:
        payload: dict[str, object] = {"conversation": view}
        if domain_event.name == "conversation.status_changed":
            payload |= {"from_status": domain_event.data["from"], "to_status": domain_event.data["to"]}
        elif domain_event.name == "conversation.reopened":
            payload["by"] = domain_event.data["by"]
        elif domain_event.name == "conversation.snoozed":
            payload["until"] = domain_event.data["until"]
        recorded.append(record(conversation.workspace_id, domain_event.name, conversation.id, payload))
    return recorded


def reopened(
    session: AsyncSession, conversation: Conversation, emitted: tuple[DomainEvent, ...], now: datetime
) -> None:
    """After a reopen (`emitted` names it): the agent it went back to is handling it again (handle time)."""
    if any(event.name == "conversation.reopened" for event in emitted):
        handling.reopened(session, conversation, now)


def reopen_on_agent_reply(
    session: AsyncSession, conversation: Conversation, now: datetime
) -> list[WorkspaceEvent]:
    """An agent's reply into a resolved conversation reopens it in the reply's transaction, so a reply is never
    sent while the conversation reads resolved."""
    applied = _apply(conversation, AgentReplied(), now, ConversationRules())
    reopened(session, conversation, applied.emitted, now)
    return record_lifecycle_events(partial(events.record, session), conversation, applied.emitted)


async def change_status(
    hub: Hub, workspace_id: str, conversation_id: str, event: ConversationEvent
) -> Conversation:
    """An agent's status change (resolve, reopen, pending, snooze); InvalidTransition says why it cannot happen now.

    Only a reopen takes the routing lock, so the seat it takes back is counted; the others free a seat or
    keep it, and do not wait for a routing pass. On SQLite, which cannot lock the conversation's row, every
    change takes it: a routing pass could otherwise assign the conversation over a resolve it read before."""
    now = hub.now()
    async with hub.database.session() as session:
        if isinstance(event, SetOpen) or assignment.without_row_locks(session):
            await assignment.lock_routing(session, workspace_id)
        conversation = (
            await session.exec(
                select(Conversation)
                .where(Conversation.id == conversation_id, Conversation.workspace_id == workspace_id)
                .with_for_update()
            )
        ).one()
        if isinstance(event, Resolve):
            await handling.resolving(session, conversation, now)
        applied = _apply(conversation, event, now, ConversationRules())
        reopened(session, conversation, applied.emitted, now)
        published = record_lifecycle_events(partial(events.record, session), conversation, applied.emitted)
        await session.commit()
    await announce(hub, workspace_id, published, [conversation])
    if isinstance(event, Resolve):
        await csat.request_rating(hub, conversation)
    return conversation


async def wake_snoozed(hub: Hub) -> int:
    """Open the snoozed conversations whose time has come (the sweeper's rounds); answers how many woke.

    Rows another sweeper holds are skipped, and each is woken by a conditional transition, so once only."""
    now = hub.now()
    woken: dict[str, list[Conversation]] = defaultdict(list)
    published: dict[str, list[WorkspaceEvent]] = defaultdict(list)
    async with hub.database.session() as session:
        due = (
            await session.exec(
                select(Conversation)
                .where(
                    col(Conversation.status) == ConversationStatus.SNOOZED,
                    col(Conversation.snoozed_until) <= now,
                )
                .order_by(col(Conversation.snoozed_until))
                .limit(WAKE_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        record = partial(events.record, session)
        for conversation in due:
            applied = _apply(conversation, SnoozeEnded(), now, ConversationRules())
            published[conversation.workspace_id] += record_lifecycle_events(
                record, conversation, applied.emitted
            )
            woken[conversation.workspace_id].append(conversation)
        await session.commit()
    for workspace_id, conversations in sorted(woken.items()):
        await announce(hub, workspace_id, published[workspace_id], conversations)
    if due:
        log.info("lifecycle.woken count=%d", len(due))
    return len(due)


@dataclass(frozen=True, slots=True)
class Closed:
    """Conversations resolved in the caller's transaction, with the lifecycle events each emitted."""

    conversations: list[Conversation]
    emitted: list[tuple[DomainEvent, ...]]

    def record(self, session: AsyncSession) -> list[WorkspaceEvent]:
        """Record the events in the outbox of the caller's transaction."""
        record = partial(events.record, session)
        return [
            event
            for conversation, emitted in zip(self.conversations, self.emitted, strict=True)
            for event in record_lifecycle_events(record, conversation, emitted)
        ]


async def close_for_erasure(
    session: AsyncSession, workspace_id: str, contact_ids: list[str], now: datetime
) -> Closed:
    """Resolve the contacts' conversations that are not resolved yet, by the system: they leave the queue and their
    agents' seats, and nobody writes to the customer (no rating asked, no bot, no message). Under the routing lock,
    so a routing pass does not assign one while it closes."""
    await assignment.lock_routing(session, workspace_id)
    open_rows = list(
        (
            await session.exec(
                select(Conversation)
                .where(
                    Conversation.workspace_id == workspace_id,
                    col(Conversation.contact_id).in_(contact_ids),
                    col(Conversation.status) != ConversationStatus.RESOLVED,
                )
                .with_for_update()
            )
        ).all()
    )
    emitted = []
    for conversation in open_rows:
        await handling.resolving(session, conversation, now)
        emitted.append(_apply(conversation, Resolve(by=Actor.SYSTEM), now, ConversationRules()).emitted)
    return Closed(open_rows, emitted)


async def announce(
    hub: Hub, workspace_id: str, published: list[WorkspaceEvent], changed: list[Conversation]
) -> None:
    """Publish after the commit; serve the queue when a seat freed (resolved) or a conversation waits (queued)."""
    for event in published:
        await hub.publisher.publish(event, [workspace_channel(workspace_id)])
    if any(each.status in (ConversationStatus.RESOLVED, ConversationStatus.QUEUED) for each in changed):
        await hub.jobs.send(actors.serve_queue, workspace_id)
