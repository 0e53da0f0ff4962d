"""Process accepted events (worker): normalise, resolve the customer, thread into a conversation, store and
publish. A batch is stored in one transaction; an event that breaks it is isolated, retried, then parked."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import Capabilities
from hub import actors, bot, events, lifecycle, metrics, ticket_rules, tickets
from hub.agent_connections import AgentConnections
from hub.batching import batcher
from hub.customers import CustomerDirectory
from hub.db import database_refused_data, database_unavailable
from hub.ids import new_id
from hub.inbound import storage
from hub.inbound.threads import BouncedReply, ReplyThreads, fail_bounced_replies
from hub.jobs import retry_delay
from hub.models import Conversation, Identity, Inbox, Message, row_values
from hub.out_of_hours import CustomerWrote, answer_out_of_hours
from hub.realtime import workspace_channel
from hub.reply_windows import record_customer_action
from hub.runtime import Hub
from hub.statuses import ConversationStatus, InboundEventStatus, MessageStatus, TicketSource
from hub.views import WorkspaceEvent
from normalizer import Attachment, IdentityRef, InboundMessage, normalize_identity
from normalizer.identities import InvalidIdentity
from routing.transitions import DomainEvent

__all__ = ["process"]

log = logging.getLogger("omnihub.inbound")
LONGEST_RETRY_DELAY = timedelta(hours=1)
LONGEST_FAILURE_REASON = 1000
LONGEST_TICKET_SUBJECT = 200
NO_SUBJECT = "(no subject)"


async def process(hub: Hub, *event_ids: str) -> None:
    """Normalise, resolve the customer, append to the conversation, record and publish. Idempotent.

    Returns once the events are stored and the bot has answered those of its conversations; events of concurrent
    calls are stored in one transaction, and the bot answers outside it, so the next batch is stored meanwhile.
    """
    received = await batcher(hub, "process", _process_events).submit(list(event_ids))
    await bot.answer(hub, [each for each in dict.fromkeys(received) if each is not None])


@dataclass(slots=True)
class _Pending:
    """An event to store: its row's facts, its inbox, and the message once the connector enriched it."""

    event_id: str
    message_id: str
    dedupe_key: str
    received_at: datetime
    inbox: Inbox
    region: str
    """The workspace's default region, in which a phone number without its country code is read."""
    message: InboundMessage
    identities: list[IdentityRef] = field(default_factory=list)
    """The sender and the verified linked identities, normalised."""


@dataclass(slots=True)
class _NewConversation:
    """A conversation the batch opens, kept as values until the batch's messages are stored: it is inserted
    once, with the state its messages give it."""

    workspace_id: str
    inbox_id: str
    contact_id: str
    identity_id: str
    status: ConversationStatus
    created_at: datetime
    last_message_at: datetime
    last_inbound_at: datetime | None = None
    reply_window_ends_at: datetime | None = None
    replies_remaining: int | None = None
    previous_conversation_id: str | None = None
    id: str = field(default_factory=new_id)

    def row(self) -> dict[str, Any]:
        return row_values(Conversation, **{name: getattr(self, name) for name in self.__slots__})


@dataclass(slots=True)
class _Threaded:
    """An event's message on its way into a conversation."""

    pending: _Pending
    contact_id: str
    identity: Identity
    conversation: Conversation | _NewConversation
    opened: bool
    lifecycle: tuple[DomainEvent, ...] = ()
    """What the message did to its conversation's life (opened a pending one, reopened a resolved one)."""


@dataclass(slots=True)
class _Stored:
    pending: _Pending
    message: Message
    conversation: Conversation
    identity: Identity
    created_payload: WorkspaceEvent | None
    message_payload: WorkspaceEvent
    bounced: list[BouncedReply] = field(default_factory=list)
    """Replies this message (a delivery failure report) marked failed."""
    ticket_events: list[WorkspaceEvent] = field(default_factory=list)
    """The ticket this message opened (a mail starting a new thread), or the tickets it opened again."""
    lifecycle_events: list[WorkspaceEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why an event's attempt failed; a `final` failure would fail every time, so it is not tried again."""

    reason: str
    final: bool = False


async def _process_events(hub: Hub, event_ids: list[str]) -> list[bot.Received | None]:
    """Each event's message as the bot considers it (None for an event not stored by this call)."""
    failures: dict[str, _Failure] = {}
    pending = await _pending_events(hub, list(dict.fromkeys(event_ids)), failures)
    enriched = await _enriched(hub, pending, failures)
    stored = await _store_isolating(hub, _identified(enriched, failures), failures)
    if failures:
        await _record_failures(hub, failures)
    if stored:
        await _announce(hub, stored)
    received = {
        entry.pending.event_id: bot.Received(
            entry.message.id,
            entry.conversation.id,
            entry.conversation.status == ConversationStatus.BOT,
            entry.pending.message.automated is not None,
        )
        for entry in stored
    }
    return [received.get(event_id) for event_id in event_ids]


async def _pending_events(hub: Hub, event_ids: list[str], failures: dict[str, _Failure]) -> list[_Pending]:
    pending = []
    for event_id, message_id, key, received_at, message, inbox, region in await storage.pending_events(
        hub, event_ids
    ):
        try:
            pending.append(
                _Pending(
                    event_id, message_id, key, received_at, inbox, region, InboundMessage.from_json(message)
                )
            )
        except Exception as error:
            failures[event_id] = _failed(event_id, "the stored message cannot be read", error)
    return pending


async def _enriched(hub: Hub, pending: list[_Pending], failures: dict[str, _Failure]) -> list[_Pending]:
    """Connector I/O (media downloads, profile look-ups) happens before the transaction, never inside it.

    A connector that raises on one message fails that message's attempt only.
    """
    outcomes = await asyncio.gather(*(_enrich(hub, item) for item in pending), return_exceptions=True)
    enriched = []
    for item, outcome in zip(pending, outcomes, strict=True):
        if outcome is None:
            enriched.append(item)
        elif isinstance(outcome, Exception):
            connector = hub.connector_for(item.inbox)
            failures[item.event_id] = _failed(
                item.event_id, f"the {connector.display_name} connector could not enrich the message", outcome
            )
        else:
            raise outcome
    return enriched


async def _enrich(hub: Hub, item: _Pending) -> None:
    item.message = await hub.connector_for(item.inbox).enrich(item.message, hub.connector_context(item.inbox))


def _identified(batch: list[_Pending], failures: dict[str, _Failure]) -> list[_Pending]:
    """The events whose sender and verified linked identities normalise, with them; the others fail for good."""
    identified = []
    for item in batch:
        identities = [
            item.message.sender,
            *(link for link in item.message.linked_identities if link.verified),
        ]
        try:
            item.identities = [
                normalize_identity(identity, default_region=item.region) for identity in identities
            ]
        except InvalidIdentity as error:
            failures[item.event_id] = _Failure(_clean(f"invalid sender identity: {error}"), final=True)
            continue
        identified.append(item)
    return identified


async def _store_isolating(hub: Hub, batch: list[_Pending], failures: dict[str, _Failure]) -> list[_Stored]:
    """Store the batch in one transaction; when that fails, store each half the same way, so one bad event
    costs its batch about 2·log2(size) more transactions and fails alone.

    A database that is unavailable blames no event: the error goes up and the job is retried as a whole.
    """
    if not batch:
        return []
    try:
        return await _store(hub, batch)
    except Exception as error:
        if database_unavailable(error):
            raise
        if len(batch) == 1:
            failures[batch[0].event_id] = _failed(batch[0].event_id, "storing the message failed", error)
            return []
    middle = len(batch) // 2
    return [
        *await _store_isolating(hub, batch[:middle], failures),
        *await _store_isolating(hub, batch[middle:], failures),
    ]


async def _store(hub: Hub, batch: list[_Pending]) -> list[_Stored]:
    """Claim the still-pending events and store their messages, all in one transaction."""
    now = hub.now()
    async with hub.database.session() as session:
        claimed = await storage.claim_pending(session, [item.event_id for item in batch], now)
        batch = [item for item in batch if item.event_id in claimed]
        directory = CustomerDirectory(session)
        await directory.load(
            [(item.inbox.workspace_id, identity) for item in batch for identity in item.identities]
        )
        resolved = []
        for item in batch:
            contact_id, _ = await directory.resolve(
                item.inbox.workspace_id,
                item.message.sender,
                item.message.linked_identities,
                item.message.sender_name,
                region=item.region,
            )
            resolved.append((item, contact_id))
        await directory.flush()
        identities = [directory.identity_row(item.inbox.workspace_id, item.identities[0]) for item in batch]
        conversations: dict[tuple[str, str], Conversation | _NewConversation] = dict(
            await storage.open_conversations(session, {identity.id for identity in identities})
        )
        by_reply = [(item.inbox, item.message) for item in batch if _threads_by_reply(hub, item)]
        replies: ReplyThreads[_NewConversation] = await ReplyThreads.load(session, by_reply)
        threads = [
            _thread(
                conversations,
                replies if _threads_by_reply(hub, item) else None,
                item,
                contact_id,
                identity,
                now,
            )
            for (item, contact_id), identity in zip(resolved, identities, strict=True)
        ]
        for thread in threads:
            if isinstance(thread.conversation, Conversation):
                lifecycle.reopened(session, thread.conversation, thread.lifecycle, now)
        await _let_the_bot_take(session, hub.agent_connections, threads, now)
        message_rows = [
            _received(thread, now, hub.connector_for(thread.pending.inbox).capabilities) for thread in threads
        ]
        opened = await storage.insert_conversations(
            session,
            [
                thread.conversation.row()
                for thread in threads
                if isinstance(thread.conversation, _NewConversation) and thread.opened
            ],
        )
        messages = await storage.insert_messages(session, message_rows)
        outbox = events.Outbox()
        stored = [
            _recorded(outbox, thread, message, opened)
            for thread, message in zip(threads, messages, strict=True)
        ]
        for entry in stored:
            entry.bounced = await fail_bounced_replies(
                session, outbox, [(entry.pending.inbox, entry.pending.message)], now
            )
        await _open_tickets(session, outbox, stored, now)
        by_conversation = {
            entry.conversation.id: entry for entry in stored if entry.pending.message.automated is None
        }
        for conversation_id, event in await tickets.customer_wrote(session, by_conversation, now):
            by_conversation[conversation_id].ticket_events.append(event)
        await outbox.write(session)
        await session.commit()
    return stored


async def _open_tickets(
    session: AsyncSession, outbox: events.Outbox, stored: list[_Stored], now: datetime
) -> None:
    """A message that opens its conversation and asks for a ticket (`opens_ticket`: a new mail thread) opens one in
    the same transaction, titled by its subject and due by its inbox's SLA."""
    opening = [
        entry for entry in stored if entry.created_payload is not None and entry.pending.message.opens_ticket
    ]
    if not opening:
        return
    levels = await tickets.service_levels(session, {entry.conversation.inbox_id for entry in opening})
    for entry in opening:
        conversation, message = entry.conversation, entry.pending.message
        ticket = tickets.new_ticket(
            workspace_id=conversation.workspace_id,
            inbox_id=conversation.inbox_id,
            subject=(message.subject or "").strip()[:LONGEST_TICKET_SUBJECT] or NO_SUBJECT,
            level=levels[conversation.inbox_id],
            now=now,
            source=TicketSource.EMAIL,
            description=message.text,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
        )
        session.add(ticket)
        entry.ticket_events.append(tickets.record_created(outbox, ticket))


async def _let_the_bot_take(
    session: AsyncSession, connections: AgentConnections, threads: list[_Threaded], now: datetime
) -> None:
    """The conversations the batch opens start with the bot (status `bot`) where their inbox's bot takes them now."""
    opening = [
        thread for thread in threads if thread.opened and isinstance(thread.conversation, _NewConversation)
    ]
    inboxes = {thread.pending.inbox.id: thread.pending.inbox for thread in opening}
    taken = await bot.inboxes_the_bot_takes(session, connections, list(inboxes.values()), now)
    for thread in opening:
        if thread.pending.inbox.id in taken:
            thread.conversation.status = ConversationStatus.BOT


def _threads_by_reply(hub: Hub, item: _Pending) -> bool:
    return hub.connector_for(item.inbox).capabilities.threads_by_reply


def _thread(
    conversations: dict[tuple[str, str], Conversation | _NewConversation],
    replies: ReplyThreads[_NewConversation] | None,
    item: _Pending,
    contact_id: str,
    identity: Identity,
    now: datetime,
) -> _Threaded:
    """The conversation the message joins: the newest one of this identity on this inbox, or a new one.

    On a channel that threads by reply (`replies`), the conversation of a message it answers, or a new one. A
    resolved conversation past its inbox's reopen window is not joined: a new one follows it (hub.lifecycle).
    """
    inbox = item.inbox
    if replies is not None:
        answered = replies.find(inbox.id, item.message)
        if answered is not None and answered.identity_id == identity.id:
            answered.contact_id = contact_id
        thread = (
            _joined(item, contact_id, identity, answered, now)
            if answered is not None
            else _Threaded(item, contact_id, identity, _opening(item, contact_id, identity, now), opened=True)
        )
        replies.remember(inbox.id, item.message.channel_message_id, thread.conversation)
        return thread
    conversation = conversations.get((inbox.id, identity.id))
    if conversation is not None:
        conversation.contact_id = contact_id
        thread = _joined(item, contact_id, identity, conversation, now)
    else:
        thread = _Threaded(item, contact_id, identity, _opening(item, contact_id, identity, now), opened=True)
    conversations[(inbox.id, identity.id)] = thread.conversation
    return thread


def _joined(
    item: _Pending,
    contact_id: str,
    identity: Identity,
    conversation: Conversation | _NewConversation,
    now: datetime,
) -> _Threaded:
    """The customer writes into an existing conversation: it opens (or reopens) as the lifecycle says, or a new
    conversation linked to it starts. An automated message (an auto-reply, a bounce) changes nothing of its life."""
    if isinstance(conversation, _NewConversation) or item.message.automated is not None:
        return _Threaded(item, contact_id, identity, conversation, opened=False)
    applied = lifecycle.customer_wrote(conversation, now, item.inbox)
    if applied.starts_follow_up:
        follow_up = _opening(item, contact_id, identity, now, previous=conversation.id)
        return _Threaded(item, contact_id, identity, follow_up, opened=True)
    return _Threaded(item, contact_id, identity, conversation, opened=False, lifecycle=applied.emitted)


def _opening(
    item: _Pending, contact_id: str, identity: Identity, now: datetime, previous: str | None = None
) -> _NewConversation:
    inbox = item.inbox
    return _NewConversation(
        workspace_id=inbox.workspace_id,
        inbox_id=inbox.id,
        contact_id=contact_id,
        identity_id=identity.id,
        status=ConversationStatus.QUEUED,
        created_at=now,
        last_message_at=now,
        previous_conversation_id=previous,
    )


def _received(thread: _Threaded, now: datetime, capabilities: Capabilities) -> dict[str, Any]:
    """The message's row, and its conversation brought up to date: last message, reply window."""
    item, conversation, message = thread.pending, thread.conversation, thread.pending.message
    record_customer_action(conversation, capabilities, message)
    conversation.last_message_at = now
    return row_values(
        Message,
        id=item.message_id,
        workspace_id=item.inbox.workspace_id,
        conversation_id=conversation.id,
        direction="in",
        sender_type="contact",
        sender_id=thread.contact_id,
        content_type=message.content_type,
        text=message.text,
        attachments=[_attachment_json(attachment) for attachment in message.attachments],
        meta=_message_meta(message),
        channel_message_id=message.channel_message_id,
        dedupe_key=item.dedupe_key,
        status=MessageStatus.RECEIVED,
        created_at=now,
        updated_at=now,
    )


def _recorded(
    outbox: events.Outbox, thread: _Threaded, message: Message, opened: dict[str, Conversation]
) -> _Stored:
    """The stored message with its domain events recorded in the outbox."""
    workspace_id = thread.pending.inbox.workspace_id
    conversation = thread.conversation
    if isinstance(conversation, _NewConversation):
        conversation = opened[conversation.id]
    created_payload = None
    if thread.opened:
        created_payload = outbox.record(
            workspace_id,
            "conversation.created",
            conversation.id,
            {"conversation": events.conversation_json(conversation)},
        )
    changes = lifecycle.record_lifecycle_events(outbox.record, conversation, thread.lifecycle)
    message_payload = outbox.record(
        workspace_id,
        "message.created",
        message.id,
        {"message": events.message_json(message), "conversation": events.conversation_json(conversation)},
    )
    stored = _Stored(thread.pending, message, conversation, thread.identity, created_payload, message_payload)
    stored.lifecycle_events = changes
    return stored


async def _record_failures(hub: Hub, failures: dict[str, _Failure]) -> None:
    """Each failed event is tried again after a jittered backoff that doubles with each attempt (events at
    the same attempt share one job), or parked as dead once out of attempts (at once when it would fail
    every time). An event another job stored meanwhile is left alone."""
    now = hub.now()
    retries: dict[timedelta, list[str]] = defaultdict(list)
    delays: dict[int, timedelta] = {}
    parked: list[tuple[str, Inbox, int]] = []
    async with hub.database.session() as session:
        for event_id, earlier_attempts, inbox in await storage.failed_attempts(session, list(failures)):
            failure, attempts = failures[event_id], earlier_attempts + 1
            changes: dict[str, Any] = {"attempts": attempts, "error": failure.reason}
            if failure.final or attempts >= hub.settings.inbound_max_attempts:
                changes |= {"status": InboundEventStatus.DEAD, "next_attempt_at": None}
                parked.append((event_id, inbox, attempts))
            else:
                delay = delays.setdefault(attempts, _retry_delay(hub, attempts))
                changes["next_attempt_at"] = now + delay
                retries[delay].append(event_id)
            await storage.record_attempt(session, event_id, changes)
        await session.commit()
    for event_id, inbox, attempts in parked:
        metrics.DEAD_EVENTS.labels(inbox.kind).inc()
        log.error(
            "inbound.dead workspace=%s inbox=%s event=%s attempts=%d reason=%s",
            inbox.workspace_id,
            inbox.id,
            event_id,
            attempts,
            failures[event_id].reason,
        )
    for delay, retried in retries.items():
        log.warning("inbound.retry events=%s in=%.1fs", ",".join(retried), delay.total_seconds())
        await hub.jobs.send_or_leave_to_sweeper(actors.process_inbound, *retried, delay=delay)


def _retry_delay(hub: Hub, attempts: int) -> timedelta:
    return retry_delay(
        timedelta(seconds=hub.settings.inbound_retry_seconds), attempts, longest=LONGEST_RETRY_DELAY
    )


def _failed(event_id: str, stage: str, error: Exception) -> _Failure:
    """The failure as an admin reads it: what failed and the error's kind (with the database's own reason,
    which names no value). The traceback goes to the log only."""
    detail = storage.database_reason(error) if database_refused_data(error) else type(error).__name__
    failure = _Failure(_clean(f"{stage}: {detail}"))
    log.warning("inbound.attempt_failed event=%s reason=%s", event_id, failure.reason, exc_info=error)
    return failure


def _clean(reason: str) -> str:
    """A reason storable on every database, of bounded length."""
    return reason.replace("\x00", "")[:LONGEST_FAILURE_REASON]


async def _announce(hub: Hub, stored: list[_Stored]) -> None:
    """After the commit: publish every event of the batch at once, route new conversations, answer out of hours,
    log and count."""
    publishing = [
        hub.publisher.publish(entry.created_payload, [workspace_channel(entry.conversation.workspace_id)])
        for entry in stored
        if entry.created_payload is not None
    ]
    publishing += [
        events.publish_message_event(hub.publisher, entry.message_payload, entry.conversation)
        for entry in stored
    ]
    publishing += [
        events.publish_message_event(hub.publisher, bounced.event, bounced.conversation)
        for entry in stored
        for bounced in entry.bounced
    ]
    publishing += [
        events.publish_message_event(hub.publisher, event, entry.conversation)
        for entry in stored
        for event in entry.ticket_events
    ]
    publishing += [
        events.publish_message_event(hub.publisher, event, entry.conversation)
        for entry in stored
        for event in entry.lifecycle_events
    ]
    opened = [
        entry.conversation.id
        for entry in stored
        if entry.created_payload is not None
        or (entry.lifecycle_events and entry.conversation.status == ConversationStatus.QUEUED)
    ]
    routing = [hub.jobs.send(actors.route_conversation, *opened)] if opened else []
    await asyncio.gather(*publishing, *routing)
    await ticket_rules.open_for_left_messages(hub, [(entry.conversation, entry.message) for entry in stored])
    await answer_out_of_hours(
        hub,
        [
            CustomerWrote(entry.conversation, entry.message.text, entry.pending.message.automated is not None)
            for entry in stored
        ],
    )
    now = hub.now()
    for entry in stored:
        inbox = entry.pending.inbox
        metrics.MESSAGES.labels(inbox.kind, "in").inc()
        metrics.PROCESSING_LAG.labels(inbox.kind).observe((now - entry.pending.received_at).total_seconds())
        log.info(
            "inbound.processed workspace=%s inbox=%s conversation=%s event=%s message=%s",
            inbox.workspace_id,
            inbox.id,
            entry.conversation.id,
            entry.pending.event_id,
            entry.message.id,
        )


def _attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "kind": attachment.kind,
        "url": attachment.url,
        "media_id": attachment.media_id,
        "mime_type": attachment.mime_type,
        "name": attachment.name,
        "size": attachment.size,
        "meta": attachment.meta,
    }


def _message_meta(message: InboundMessage) -> dict[str, Any]:
    meta = dict(message.metadata)
    if message.event:
        meta["event"] = message.event
    if message.subject is not None:
        meta["subject"] = message.subject
    if message.replies_to:
        meta["replies_to"] = list(message.replies_to)
    if message.automated is not None:
        meta["automated"] = message.automated
    return meta
