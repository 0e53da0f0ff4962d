"""The inbound path: accept durably (request path), then process (worker).

Both ends group what arrives together (hub.batching): accepts that arrive while an INSERT is in
flight share the next INSERT and job; jobs that arrive while a batch is being processed
share the next processing transaction. So the round trips per message fall as the load rises,
and an idle hub answers one message with one batch of one.

One bad event never holds the others. A grouped INSERT the database refuses is split until the
culprit request stands alone (hub.batching), and that request alone is refused. A processing
transaction that fails is split in halves until the culprit stands alone; the others are stored,
and the culprit is tried again after a backoff, then parked as `dead` for an admin
(hub.dead_events) once out of attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import Capabilities
from hub import actors, bot, events, metrics
from hub.batching import Batcher
from hub.customers import CustomerDirectory
from hub.db import database_refused_data, database_unavailable
from hub.errors import ApiError
from hub.ids import new_id
from hub.jobs import retry_delay
from hub.models import Conversation, Identity, InboundEvent, Inbox, Message, new_row
from hub.realtime import workspace_channel
from hub.reply_windows import record_customer_action
from hub.runtime import Hub
from normalizer import IdentityRef, InboundMessage, dedupe_key, normalize_identity
from normalizer.identities import InvalidIdentity

__all__ = ["AcceptedMessage", "UnstorableMessage", "accept", "process"]

log = logging.getLogger("omnihub.inbound")
ENQUEUE_LINGER_SECONDS = 0.05
"""Accepted events wait this long (after the answer) to share a processing job: a worker stores a
job's events in one transaction, so fuller jobs cost it less per event. At 500 new customers a second,
10 ms (jobs of about five) let one worker store ~300/s; 50 ms lets it keep up, for 40 ms more lag."""
LONGEST_RETRY_DELAY = timedelta(hours=1)
LONGEST_FAILURE_REASON = 1000


class UnstorableMessage(ApiError):
    """The database refused a message's own values; the messages accepted together with it are stored."""

    def __init__(self) -> None:
        super().__init__(
            422,
            "unstorable_message",
            "The message holds a value that cannot be stored (such as a NUL "
            "character or an over-long id); nothing of it was stored.",
        )


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    event_id: str
    message_id: str
    duplicate: bool


async def accept(hub: Hub, inbox: Inbox, messages: list[InboundMessage], raw: str) -> list[AcceptedMessage]:
    """Commit each message with its dedupe key, then enqueue it. Duplicates are acknowledged, not stored."""
    if not messages:
        return []
    received_at = hub.now()
    rows = [
        {
            "id": new_id(),
            "workspace_id": inbox.workspace_id,
            "inbox_id": inbox.id,
            "dedupe_key": dedupe_key(inbox.id, message.channel_message_id),
            "message_id": new_id(),
            "message": message.to_json().decode(),
            "raw": raw,
            "status": "pending",
            "attempts": 0,
            "received_at": received_at,
        }
        for message in messages
    ]
    with metrics.ACCEPT_SECONDS.labels(inbox.kind).time():
        try:
            inserted = await _batcher(hub, "accept", _insert_events).submit(rows)
        except Exception as error:
            if not database_refused_data(error):
                raise
            log.warning(
                "inbound.refused workspace=%s inbox=%s reason=%s",
                inbox.workspace_id,
                inbox.id,
                _database_reason(error),
            )
            raise UnstorableMessage() from None
    duplicates = [row["dedupe_key"] for row, fresh in zip(rows, inserted) if not fresh]
    earlier = await _earlier_events(hub, inbox.id, duplicates) if duplicates else {}
    accepted = [
        AcceptedMessage(row["id"], row["message_id"], duplicate=False)
        if fresh
        else AcceptedMessage(*earlier[row["dedupe_key"]], duplicate=True)
        for row, fresh in zip(rows, inserted)
    ]
    metrics.INBOUND_EVENTS.labels(inbox.kind).inc(len(rows) - len(duplicates))
    metrics.DUPLICATE_EVENTS.labels(inbox.kind).inc(len(duplicates))
    return accepted


async def _insert_events(hub: Hub, rows: list[dict[str, Any]]) -> list[bool]:
    """One INSERT for the rows of every waiting caller, then one job for all that were new.

    A single statement is atomic by itself, so it runs in autocommit: one round trip, no BEGIN or COMMIT.
    """
    postgresql = hub.database.engine.dialect.name == "postgresql"
    inserted = await (_insert_events_postgresql if postgresql else _insert_events_sqlite)(hub, rows)
    if inserted:
        enqueueing = _batcher(hub, "enqueue", _enqueue_processing, linger_seconds=ENQUEUE_LINGER_SECONDS)
        hub.jobs.in_background(enqueueing.submit([row["id"] for row in rows if row["id"] in inserted]))
    return [row["id"] in inserted for row in rows]


_ACCEPTED_COLUMNS = {
    "id": "text",
    "workspace_id": "text",
    "inbox_id": "text",
    "dedupe_key": "text",
    "message_id": "text",
    "message": "text",
    "raw": "text",
    "status": "text",
    "attempts": "int4",
    "received_at": "timestamptz",
}
_INSERT_EVENTS_POSTGRESQL = (
    f"INSERT INTO inbound_event ({', '.join(_ACCEPTED_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'${number}::{kind}[]' for number, kind in enumerate(_ACCEPTED_COLUMNS.values(), 1))}) "
    "ON CONFLICT (inbox_id, dedupe_key) DO NOTHING RETURNING id"
)


async def _insert_events_postgresql(hub: Hub, rows: list[dict[str, Any]]) -> set[str]:
    """The rows as one array per column, in one statement asyncpg prepares once per connection.

    Every request waits for this statement; through SQLAlchemy's multi-row insert it cost a web
    process about twice the CPU (0.55 against 0.29 ms for three rows).
    """
    async with hub.database.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        found = await driver.fetch(
            _INSERT_EVENTS_POSTGRESQL, *([row[column] for row in rows] for column in _ACCEPTED_COLUMNS)
        )
    return {record["id"] for record in found}


async def _insert_events_sqlite(hub: Hub, rows: list[dict[str, Any]]) -> set[str]:
    statement = (
        sqlite_insert(InboundEvent.__table__)
        .on_conflict_do_nothing(index_elements=["inbox_id", "dedupe_key"])
        .returning(InboundEvent.__table__.c.id)
    )
    async with hub.database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return set((await connection.execute(statement, rows)).scalars().all())


async def _enqueue_processing(hub: Hub, event_ids: list[str]) -> list[None]:
    """Events accepted within the linger, or while a job was being enqueued, share one job: fewer, fuller jobs."""
    await hub.jobs.send_or_leave_to_sweeper(actors.process_inbound, *event_ids)
    return [None] * len(event_ids)


async def _earlier_events(hub: Hub, inbox_id: str, keys: list[str]) -> dict[str, tuple[str, str]]:
    async with hub.database.session() as session:
        found = await session.exec(
            select(InboundEvent.dedupe_key, InboundEvent.id, InboundEvent.message_id).where(
                InboundEvent.inbox_id == inbox_id, InboundEvent.dedupe_key.in_(keys)
            )
        )
        return {key: (event_id, message_id) for key, event_id, message_id in found.all()}


async def process(hub: Hub, *event_ids: str) -> None:
    """Normalise, resolve the customer, append to the conversation, record and publish. Idempotent.

    Returns once the events are stored; events of concurrent calls are stored in one transaction.
    """
    await _batcher(hub, "process", _process_events).submit(list(event_ids))


def _batcher(hub: Hub, name: str, handle, *, linger_seconds: float = 0.0) -> Batcher:
    """One batcher per database (so per event loop) and kind of work."""
    batcher = hub.database.batchers.get(name)
    if batcher is None:

        async def handle_on_this_hub(items: list) -> list:
            return await handle(hub, items)

        batcher = hub.database.batchers[name] = Batcher(
            handle_on_this_hub, max_items=hub.settings.inbound_batch_size, linger_seconds=linger_seconds
        )
    return batcher


@dataclass(slots=True)
class _Pending:
    """An event to store: its row's facts, its inbox, and the message once the connector enriched it."""

    event_id: str
    message_id: str
    dedupe_key: str
    received_at: datetime
    inbox: Inbox
    message: InboundMessage
    identities: list[IdentityRef] = field(default_factory=list)
    """The sender and the verified linked identities, normalised."""


@dataclass(slots=True)
class _Stored:
    pending: _Pending
    message: Message
    conversation: Conversation
    identity: Identity
    created_payload: dict | None
    message_payload: dict


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why an event's attempt failed; a `final` failure would fail every time, so it is not tried again."""

    reason: str
    final: bool = False


async def _process_events(hub: Hub, event_ids: list[str]) -> list[None]:
    failures: dict[str, _Failure] = {}
    pending = await _pending_events(hub, list(dict.fromkeys(event_ids)), failures)
    enriched = await _enriched(hub, pending, failures)
    stored = await _store_isolating(hub, _identified(enriched, failures), failures)
    if failures:
        await _record_failures(hub, failures)
    if stored:
        await _announce(hub, stored)
    return [None] * len(event_ids)


async def _pending_events(hub: Hub, event_ids: list[str], failures: dict[str, _Failure]) -> list[_Pending]:
    async with hub.database.session() as session:
        rows = await session.exec(
            select(
                InboundEvent.id,
                InboundEvent.message_id,
                InboundEvent.dedupe_key,
                InboundEvent.received_at,
                InboundEvent.message,
                Inbox,
            )
            .join(Inbox, Inbox.id == InboundEvent.inbox_id)
            .where(InboundEvent.id.in_(event_ids), InboundEvent.status == "pending")
        )
        pending = []
        for event_id, message_id, key, received_at, message, inbox in rows.all():
            try:
                pending.append(
                    _Pending(event_id, message_id, key, received_at, inbox, InboundMessage.from_json(message))
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
    for item, outcome in zip(pending, outcomes):
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
            item.identities = [normalize_identity(identity) for identity in identities]
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
        claimed = set(
            (
                await session.execute(
                    update(InboundEvent)
                    .where(
                        InboundEvent.id.in_([item.event_id for item in batch]),
                        InboundEvent.status == "pending",
                    )
                    .values(status="processed", processed_at=now, attempts=InboundEvent.attempts + 1)
                    .returning(InboundEvent.id)
                    .execution_options(synchronize_session=False)
                )
            )
            .scalars()
            .all()
        )
        batch = [item for item in batch if item.event_id in claimed]
        directory = CustomerDirectory(session)
        await directory.load(
            [(item.inbox.workspace_id, identity) for item in batch for identity in item.identities]
        )
        resolved = []
        for item in batch:
            contact, identity = await directory.resolve(
                item.inbox.workspace_id,
                item.message.sender,
                item.message.linked_identities,
                item.message.sender_name,
            )
            resolved.append((item, contact.id, identity))
        await directory.flush()
        conversations = await _open_conversations(session, {identity.id for _, _, identity in resolved})
        threads = []
        for item, contact_id, identity in resolved:
            conversation, opened = _thread(session, conversations, item, contact_id, identity)
            threads.append((item, contact_id, identity, conversation, opened))
        outbox = events.Outbox()
        stored = [
            _append(outbox, *thread, now, hub.connector_for(thread[0].inbox).capabilities)
            for thread in threads
        ]
        await session.flush()
        session.add_all([entry.message for entry in stored])
        await outbox.write(session)
        await session.commit()
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
        rows = await session.exec(
            select(InboundEvent.id, InboundEvent.attempts, Inbox)
            .join(Inbox, Inbox.id == InboundEvent.inbox_id)
            .where(InboundEvent.id.in_(list(failures)), InboundEvent.status == "pending")
        )
        for event_id, attempts, inbox in rows.all():
            failure, attempts = failures[event_id], attempts + 1
            changes: dict[str, Any] = {"attempts": attempts, "error": failure.reason}
            if failure.final or attempts >= hub.settings.inbound_max_attempts:
                changes |= {"status": "dead", "next_attempt_at": None}
                parked.append((event_id, inbox, attempts))
            else:
                delay = delays.setdefault(attempts, _retry_delay(hub, attempts))
                changes["next_attempt_at"] = now + delay
                retries[delay].append(event_id)
            await session.execute(
                update(InboundEvent)
                .where(InboundEvent.id == event_id, InboundEvent.status == "pending")
                .values(**changes)
            )
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
    detail = _database_reason(error) if database_refused_data(error) else type(error).__name__
    failure = _Failure(_clean(f"{stage}: {detail}"))
    log.warning("inbound.attempt_failed event=%s reason=%s", event_id, failure.reason, exc_info=error)
    return failure


def _database_reason(error: Exception) -> str:
    """The database's message without its DETAIL line, which may quote the values refused."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    first_line = str(cause).partition("\n")[0]
    return f"{type(error).__name__}: {first_line}"


def _clean(reason: str) -> str:
    """A reason storable on every database, of bounded length."""
    return reason.replace("\x00", "")[:LONGEST_FAILURE_REASON]


async def _open_conversations(
    session: AsyncSession, identity_ids: set[str]
) -> dict[tuple[str, str], Conversation]:
    """The newest open conversation of each identity on each inbox, in one query."""
    if not identity_ids:
        return {}
    rows = await session.exec(
        select(Conversation)
        .where(Conversation.identity_id.in_(list(identity_ids)), Conversation.status != "resolved")
        .order_by(Conversation.created_at)
    )
    return {(row.inbox_id, row.identity_id): row for row in rows.all()}


def _thread(
    session: AsyncSession,
    conversations: dict[tuple[str, str], Conversation],
    item: _Pending,
    contact_id: str,
    identity: Identity,
) -> tuple[Conversation, bool]:
    """The open conversation of this identity on this inbox, or a new one (and whether it is new)."""
    inbox = item.inbox
    conversation = conversations.get((inbox.id, identity.id))
    if conversation is not None:
        conversation.contact_id = contact_id
        return conversation, False
    conversation = new_row(
        Conversation,
        workspace_id=inbox.workspace_id,
        inbox_id=inbox.id,
        contact_id=contact_id,
        identity_id=identity.id,
        status="bot" if inbox.bot_enabled else "queued",
    )
    session.add(conversation)
    conversations[(inbox.id, identity.id)] = conversation
    return conversation, True


def _append(
    outbox: events.Outbox,
    item: _Pending,
    contact_id: str,
    identity: Identity,
    conversation: Conversation,
    opened: bool,
    now: datetime,
    capabilities: Capabilities,
) -> _Stored:
    """The message for its conversation, the conversation brought up to date, and their domain events recorded.

    The caller stores conversations first (new ones are inserted as they are now, not inserted and then
    updated), then the messages that refer to them.
    """
    inbox, message = item.inbox, item.message
    row = new_row(
        Message,
        id=item.message_id,
        workspace_id=inbox.workspace_id,
        conversation_id=conversation.id,
        direction="in",
        sender_type="contact",
        sender_id=contact_id,
        content_type=message.content_type,
        text=message.text,
        attachments=[_attachment_json(attachment) for attachment in message.attachments],
        meta=_message_meta(message),
        channel_message_id=message.channel_message_id,
        dedupe_key=item.dedupe_key,
        status="received",
        created_at=now,
        updated_at=now,
    )
    record_customer_action(conversation, capabilities, message)
    conversation.last_message_at = now
    if conversation.status == "resolved":
        conversation.status = "queued"
    created_payload = None
    if opened:
        created_payload = outbox.record(
            inbox.workspace_id,
            "conversation.created",
            conversation.id,
            {"conversation": events.conversation_json(conversation)},
        )
    message_payload = outbox.record(
        inbox.workspace_id,
        "message.created",
        row.id,
        {"message": events.message_json(row), "conversation": events.conversation_json(conversation)},
    )
    return _Stored(item, row, conversation, identity, created_payload, message_payload)


async def _announce(hub: Hub, stored: list[_Stored]) -> None:
    """After the commit: publish every event of the batch at once, route new conversations, log and count."""
    publishing = [
        hub.publisher.publish(entry.created_payload, [workspace_channel(entry.conversation.workspace_id)])
        for entry in stored
        if entry.created_payload is not None
    ]
    publishing += [
        events.publish_message_event(hub.publisher, entry.message_payload, entry.conversation)
        for entry in stored
    ]
    opened = [entry.conversation.id for entry in stored if entry.created_payload is not None]
    routing = [hub.jobs.send(actors.route_conversation, *opened)] if opened else []
    await asyncio.gather(*publishing, *routing)
    await bot.answer(
        hub,
        [
            bot.Received(
                entry.message.id,
                entry.conversation.id,
                entry.conversation.status == "bot",
                entry.pending.message.automated is not None,
            )
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


def _attachment_json(attachment) -> dict:
    return {
        "kind": attachment.kind,
        "url": attachment.url,
        "media_id": attachment.media_id,
        "mime_type": attachment.mime_type,
        "name": attachment.name,
        "size": attachment.size,
        "meta": attachment.meta,
    }


def _message_meta(message: InboundMessage) -> dict:
    meta = dict(message.metadata)
    if message.event:
        meta["event"] = message.event
    return meta
