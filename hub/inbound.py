"""The inbound path: accept durably (request path), then process (worker)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events, metrics
from hub.customers import resolve_contact
from hub.ids import new_id
from hub.models import Conversation, Identity, Inbox, InboundEvent, Message, utcnow
from hub.realtime import workspace_channel
from hub.reply_windows import record_customer_action
from hub.runtime import Hub
from normalizer import InboundMessage, dedupe_key
from normalizer.identities import InvalidIdentity

__all__ = ["AcceptedMessage", "accept", "process"]

log = logging.getLogger("omnihub.inbound")
PROCESS_INBOUND = "process_inbound"
ROUTE_CONVERSATION = "route_conversation"


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
    insert = pg_insert if hub.database.url.startswith("postgresql") else sqlite_insert
    statement = (
        insert(InboundEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["inbox_id", "dedupe_key"])
        .returning(InboundEvent.id)
    )
    async with hub.database.session() as session:
        inserted = set((await session.execute(statement)).scalars().all())
        await session.commit()
        duplicates = [row["dedupe_key"] for row in rows if row["id"] not in inserted]
        earlier = {}
        if duplicates:
            found = await session.exec(
                select(InboundEvent.dedupe_key, InboundEvent.id, InboundEvent.message_id).where(
                    InboundEvent.inbox_id == inbox.id, InboundEvent.dedupe_key.in_(duplicates)
                )
            )
            earlier = {key: (event_id, message_id) for key, event_id, message_id in found.all()}
    accepted = []
    for row in rows:
        if row["id"] in inserted:
            enqueue_or_leave_to_sweeper(hub, PROCESS_INBOUND, row["id"])
            accepted.append(AcceptedMessage(row["id"], row["message_id"], duplicate=False))
        else:
            event_id, message_id = earlier[row["dedupe_key"]]
            accepted.append(AcceptedMessage(event_id, message_id, duplicate=True))
    metrics.INBOUND_EVENTS.labels(inbox.kind).inc(len(inserted))
    metrics.DUPLICATE_EVENTS.labels(inbox.kind).inc(len(rows) - len(inserted))
    return accepted


def enqueue_or_leave_to_sweeper(hub: Hub, job: str, row_id: str) -> None:
    """The row is committed, so a broker outage only delays the work: the sweeper enqueues it later."""
    try:
        hub.jobs.enqueue(job, row_id)
    except Exception as error:
        log.warning("enqueue.failed job=%s id=%s error=%s; the sweeper will retry", job, row_id, type(error).__name__)


async def process(hub: Hub, event_id: str) -> None:
    """Normalise, resolve the customer, append to the conversation, record and publish. Idempotent."""
    async with hub.database.session() as session:
        event = await session.get(InboundEvent, event_id)
        if event is None or event.status != "pending":
            return
        inbox = await session.get(Inbox, event.inbox_id)
    assert inbox is not None
    message = InboundMessage.from_json(event.message)
    connector = hub.connector_for(inbox)
    started = time.perf_counter()
    message = await connector.enrich(message, hub.connector_context(inbox.workspace_id))
    try:
        opened_conversation = await _store(hub, inbox, event, message)
    except InvalidIdentity as error:
        await _mark_failed(hub, event_id, f"invalid sender identity: {error}")
        return
    except IntegrityError:
        if await _already_stored(hub, event):
            return
        raise
    if opened_conversation is not None:
        hub.jobs.enqueue(ROUTE_CONVERSATION, opened_conversation)
    metrics.MESSAGES.labels(inbox.kind, "in").inc()
    metrics.PROCESSING_LAG.labels(inbox.kind).observe((hub.now() - event.received_at).total_seconds())
    log.info(
        "inbound.processed workspace=%s inbox=%s event=%s message=%s enrich_ms=%.1f",
        inbox.workspace_id, inbox.id, event.id, event.message_id, (time.perf_counter() - started) * 1000,
    )


async def _store(hub: Hub, inbox: Inbox, event: InboundEvent, message: InboundMessage):
    async with hub.database.session() as session:
        contact, identity = await resolve_contact(
            session, inbox.workspace_id, message.sender, message.linked_identities, message.sender_name
        )
        conversation, opened = await _open_conversation(session, inbox, contact.id, identity)
        now = hub.now()
        row = Message(
            id=event.message_id,
            workspace_id=inbox.workspace_id,
            conversation_id=conversation.id,
            direction="in",
            sender_type="contact",
            sender_id=contact.id,
            content_type=message.content_type,
            text=message.text,
            attachments=[_attachment_json(attachment) for attachment in message.attachments],
            meta=_message_meta(message),
            channel_message_id=message.channel_message_id,
            dedupe_key=event.dedupe_key,
            status="received",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        record_customer_action(conversation, hub.connector_for(inbox).capabilities, message)
        conversation.last_message_at = now
        if conversation.status == "resolved":
            conversation.status = "queued"
        created_payload = None
        if opened:
            created_payload = events.record(
                session, inbox.workspace_id, "conversation.created", conversation.id,
                {"conversation": events.conversation_json(conversation)},
            )
        message_payload = events.record(
            session, inbox.workspace_id, "message.created", row.id,
            {"message": events.message_json(row), "conversation": events.conversation_json(conversation)},
        )
        event_row = await session.get(InboundEvent, event.id)
        event_row.status = "processed"
        event_row.processed_at = now
        event_row.attempts += 1
        await session.commit()
    if created_payload is not None:
        await hub.publisher.publish(created_payload, [workspace_channel(inbox.workspace_id)])
    await events.publish_message_event(hub.publisher, message_payload, row, conversation, identity)
    return conversation.id if opened else None


async def _open_conversation(
    session: AsyncSession, inbox: Inbox, contact_id: str, identity: Identity
) -> tuple[Conversation, bool]:
    """The open conversation of this identity on this inbox, or a new one."""
    statement = (
        select(Conversation)
        .where(
            Conversation.inbox_id == inbox.id,
            Conversation.identity_id == identity.id,
            Conversation.status != "resolved",
        )
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )
    conversation = (await session.exec(statement)).first()
    if conversation is not None:
        conversation.contact_id = contact_id
        return conversation, False
    conversation = Conversation(
        workspace_id=inbox.workspace_id,
        inbox_id=inbox.id,
        contact_id=contact_id,
        identity_id=identity.id,
        status="bot" if inbox.bot_enabled else "queued",
    )
    session.add(conversation)
    await session.flush()
    return conversation, True


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


async def _already_stored(hub: Hub, event: InboundEvent) -> bool:
    """A concurrent run stored the message first: mark the event done and stop."""
    async with hub.database.session() as session:
        stored = await session.get(Message, event.message_id)
        if stored is None:
            return False
        row = await session.get(InboundEvent, event.id)
        row.status = "processed"
        row.processed_at = row.processed_at or hub.now()
        await session.commit()
        return True


async def _mark_failed(hub: Hub, event_id: str, reason: str) -> None:
    async with hub.database.session() as session:
        row = await session.get(InboundEvent, event_id)
        row.status = "failed"
        row.error = reason
        row.attempts += 1
        await session.commit()
    log.warning("inbound.failed event=%s reason=%s", event_id, reason)
