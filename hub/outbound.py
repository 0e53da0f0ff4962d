"""The outbound path: a reply becomes a pending message, a worker delivers it through the connector."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, bindparam, case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import Connector, DeferredSendError, OutboundMessage, PermanentSendError, TransientSendError
from hub import actors, events, lifecycle, mentions, metrics, tickets
from hub.batching import batcher
from hub.jobs import retry_delay
from hub.models import Conversation, Identity, Inbox, Message
from hub.reply_threads import ReplyThread, reply_thread
from hub.reply_windows import ReplyQuota, reply_window
from hub.runtime import Hub
from hub.statuses import ConversationStatus, MessageDirection, MessageStatus, SenderType
from hub.views import WorkspaceEvent
from normalizer import Attachment, ContentType, IdentityRef

__all__ = [
    "ClaimedReply",
    "add_claimed_reply",
    "claimed_reply",
    "create_message",
    "created_event",
    "deliver",
    "deliver_claimed",
    "give_up_unfinished",
    "reply_now",
    "send_typing",
]

log = logging.getLogger("omnihub.outbound")
DEFERRED_RETRY = timedelta(hours=1)
LONGEST_RETRY = timedelta(minutes=5)
RESERVED_PARTS = "reserved_replies"
"""Message metadata: how many replies of the channel's quota this message holds while it is retried."""


async def create_message(
    hub: Hub,
    conversation: Conversation,
    *,
    text: str,
    direction: str,
    sender_type: str,
    sender_id: str | None,
    client_id: str | None = None,
    attachments: Sequence[Attachment] = (),
    enqueue: bool = True,
) -> tuple[Message, bool]:
    """Store an agent's (or bot's) reply as pending, or a note; enqueue delivery unless `enqueue` is false (the
    caller delivers it). Returns (message, created)."""
    now = hub.now()
    message = _new_message(
        conversation,
        text=text,
        direction=direction,
        sender_type=sender_type,
        sender_id=sender_id,
        client_id=client_id,
        attachments=attachments,
        status=MessageStatus.PENDING if direction == "out" else MessageStatus.STORED,
        now=now,
    )
    async with hub.database.session() as session:
        row = await session.get_one(Conversation, conversation.id)
        row.last_message_at = now
        if direction == "out" and sender_type == SenderType.AGENT and row.first_response_at is None:
            row.first_response_at = now
        by_agent = direction == "out" and sender_type == SenderType.AGENT
        if direction == "out" and sender_type == SenderType.BOT:
            row.bot_replied = True
        reopened = lifecycle.reopen_on_agent_reply(session, row, now) if by_agent else []
        ticket_events = await tickets.agent_replied(session, row, now) if by_agent else []
        named = (
            await mentions.agents_named(session, row.workspace_id, text, sender_id)
            if direction == MessageDirection.NOTE
            else []
        )
        # Added after the reads: their autoflush would insert a repeated client_id outside the try below.
        payload = _add_created(session, message, row)
        mentioned = mentions.add_mentions(session, message, named, now)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            existing = (
                await session.exec(
                    select(Message).where(
                        col(Message.workspace_id) == conversation.workspace_id,
                        col(Message.dedupe_key) == message.dedupe_key,
                    )
                )
            ).one()
            return existing, False
    for event in reopened:
        await events.publish_message_event(hub.publisher, event, row)
    if reopened and row.status == ConversationStatus.QUEUED:
        await hub.jobs.send(actors.serve_queue, row.workspace_id)
    await events.publish_message_event(hub.publisher, payload, row)
    for event in ticket_events:
        await events.publish_message_event(hub.publisher, event, row)
    if mentioned is not None:
        await events.publish_message_event(hub.publisher, mentioned, row)
    if direction == "out" and enqueue:
        hub.jobs.send_soon(actors.deliver_outbound, message.id)
    return message, True


async def reply_now(
    hub: Hub, conversation: Conversation, *, text: str, sender_type: str, client_id: str
) -> None:
    """Store an automatic reply and deliver it within the caller's job rather than a delivery job of its own: the
    customer does not wait for a second trip through the queue. Written claimed, as `add_claimed_reply`; the same
    reply (`client_id`) written again is neither stored nor sent twice."""
    async with hub.database.session() as session:
        row = await session.get_one(Conversation, conversation.id)
        inbox = await session.get_one(Inbox, row.inbox_id)
        identity = await session.get_one(Identity, row.identity_id)
        # Added after the reads: their autoflush would insert a repeated client_id outside the try below.
        reply = add_claimed_reply(
            session, row, text=text, sender_type=sender_type, client_id=client_id, now=hub.now()
        )
        try:
            await session.commit()
        except IntegrityError:
            return
    await deliver_claimed(hub, [reply], row, inbox, identity)


def _new_message(
    conversation: Conversation,
    *,
    text: str,
    direction: str,
    sender_type: str,
    sender_id: str | None,
    client_id: str | None,
    attachments: Sequence[Attachment],
    status: MessageStatus,
    now: datetime,
) -> Message:
    return Message(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        direction=direction,
        sender_type=sender_type,
        sender_id=sender_id,
        text=text,
        content_type=ContentType.TEXT if text or not attachments else attachments[0].kind,
        attachments=[asdict(attachment) for attachment in attachments],
        # A client id makes the message unique in its conversation: the same reply written twice is stored once.
        dedupe_key=f"{direction}:{conversation.id}:{client_id}" if client_id else None,
        meta={"client_id": client_id} if client_id else {},
        status=status,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class ClaimedReply:
    """An automatic reply written in its caller's transaction, claimed for delivery by the caller's job (status
    `sending`), and the `message.created` event to announce once that transaction is committed."""

    message: Message
    created: WorkspaceEvent


def add_claimed_reply(
    session: AsyncSession,
    conversation: Conversation,
    *,
    text: str,
    sender_type: str,
    client_id: str,
    now: datetime,
) -> ClaimedReply:
    """Add an automatic reply to the caller's transaction (with the change it answers, such as the bot's turn),
    already claimed: its delivery (`deliver_claimed`) needs no claim of its own, and a job that stops before
    delivering leaves it `sending`, which the sweeper sends again. `conversation` is a row of `session`."""
    message = claimed_reply(conversation, text=text, sender_type=sender_type, client_id=client_id, now=now)
    return ClaimedReply(message, _add_created(session, message, conversation))


def claimed_reply(
    conversation: Conversation, *, text: str, sender_type: str, client_id: str, now: datetime
) -> Message:
    """An automatic reply as `add_claimed_reply` writes it, for a caller that writes it itself with other rows
    (the bot's turns, written together), and the conversation as the reply changes it."""
    message = _new_message(
        conversation,
        text=text,
        direction="out",
        sender_type=sender_type,
        sender_id=None,
        client_id=client_id,
        attachments=(),
        status=MessageStatus.SENDING,
        now=now,
    )
    conversation.last_message_at = now
    if sender_type == SenderType.BOT:
        conversation.bot_replied = True
    return message


def created_event(outbox: events.Outbox, message: Message, conversation: Conversation) -> WorkspaceEvent:
    """A new message's `message.created`, kept in `outbox` for its transaction."""
    return outbox.record(
        conversation.workspace_id,
        "message.created",
        message.id,
        {"message": events.message_json(message), "conversation": events.conversation_json(conversation)},
    )


def _add_created(session: AsyncSession, message: Message, conversation: Conversation) -> WorkspaceEvent:
    """The new message and its `message.created` outbox row, in the caller's transaction."""
    session.add(message)
    return events.record(
        session,
        conversation.workspace_id,
        "message.created",
        message.id,
        {"message": events.message_json(message), "conversation": events.conversation_json(conversation)},
    )


async def deliver_claimed(
    hub: Hub,
    replies: Sequence[ClaimedReply],
    conversation: Conversation,
    inbox: Inbox,
    identity: Identity,
) -> None:
    """After the commit that wrote them: announce each reply to the agents and deliver it, in order. A failed
    attempt is retried by a delivery job, as any reply's."""
    for reply in replies:
        await events.publish_message_event(hub.publisher, reply.created, conversation)
        retry_in = await _deliver_claimed(hub, reply.message, conversation, inbox, identity)
        if retry_in is not None:
            await hub.jobs.send_or_leave_to_sweeper(actors.deliver_outbound, reply.message.id, delay=retry_in)


@dataclass(slots=True)
class _Outcome:
    """What became of one delivery attempt, filled in as it goes (so replies reserved before a crash are known)."""

    status: MessageStatus = MessageStatus.FAILED
    error: str | None = None
    retry_in: timedelta | None = None
    channel_ids: tuple[str, ...] = ()
    reserved: int = 0
    """Replies of the channel's quota the message holds."""


async def deliver(hub: Hub, message_id: str) -> timedelta | None:
    """Claim the pending message, check the channel's window, send, record the outcome. Safe to run twice.

    Returns when to try again: the message is back to `pending` with the attempt's reason and its next
    attempt's time recorded, for the agent to see. Whatever fails unexpectedly after the claim, in the
    connector or in the hub, is a failed attempt like a transient error: retried with backoff, then failed.
    No message stays `sending`, or is retried forever.
    """
    claimed = await _claim(hub, message_id, "pending")
    if claimed is None:
        return None
    return await _deliver_claimed(hub, *claimed)


async def _deliver_claimed(
    hub: Hub, message: Message, conversation: Conversation, inbox: Inbox, identity: Identity
) -> timedelta | None:
    """Deliver a message this job holds `sending`; when to try again, as `deliver`."""
    outcome = _Outcome(reserved=message.meta.get(RESERVED_PARTS, 0))
    quota = None
    try:
        connector = hub.connector_for(inbox)
        quota = ReplyQuota(hub.database, connector.capabilities, conversation.id)
        await _attempt(hub, connector, quota, message, conversation, inbox, identity, outcome)
    except Exception as unexpected:
        log.exception("outbound.unexpected_error inbox=%s message=%s", inbox.id, message.id)
        outcome.status, outcome.error, outcome.retry_in = _retry_or_give_up(
            hub, message, f"Delivery failed unexpectedly ({type(unexpected).__name__})"
        )
    await _finish(hub, message, conversation, inbox, quota, outcome)
    return outcome.retry_in


async def give_up_unfinished(hub: Hub, message_id: str) -> None:
    """Fail a message whose delivery attempts never finished (each stopped its worker mid-attempt) and that has
    no attempt left, giving back the replies it holds, rather than sending it again."""
    claimed = await _claim(hub, message_id, "sending")
    if claimed is None:
        return
    message, conversation, inbox, _identity = claimed
    reason = (
        f"The delivery did not finish (its worker stopped); gave up after {message.attempts + 1} attempts"
    )
    outcome = _Outcome(error=reason, reserved=message.meta.get(RESERVED_PARTS, 0))
    quota = None
    if inbox.kind in hub.registry:
        quota = ReplyQuota(hub.database, hub.connector_for(inbox).capabilities, conversation.id)
    await _finish(hub, message, conversation, inbox, quota, outcome)


async def _claim(
    hub: Hub, message_id: str, status: str
) -> tuple[Message, Conversation, Inbox, Identity] | None:
    """Mark the message `sending` if it is in `status`, and load what its delivery needs; None if it is not.

    The claim and the read share one transaction: every reply's delivery, the bot's included, starts here, and
    each transaction costs the worker's event loop a BEGIN and a COMMIT (or ROLLBACK) round trip of its own."""
    async with hub.database.session() as session:
        claimed = (
            await session.execute(
                update(Message)
                .where(col(Message.id) == message_id, col(Message.status) == status)
                .values(status="sending", updated_at=hub.now())
                .returning(col(Message.id))
            )
        ).scalar_one_or_none()
        if claimed is None:
            await session.commit()
            return None
        message, conversation, inbox, identity = (
            await session.exec(
                select(Message, Conversation, Inbox, Identity)
                .join(Conversation, col(Conversation.id) == Message.conversation_id)
                .join(Inbox, col(Inbox.id) == Conversation.inbox_id)
                .join(Identity, col(Identity.id) == Conversation.identity_id)
                .where(col(Message.id) == message_id)
            )
        ).one()
        await session.commit()
    return message, conversation, inbox, identity


async def _attempt(
    hub: Hub,
    connector: Connector,
    quota: ReplyQuota,
    message: Message,
    conversation: Conversation,
    inbox: Inbox,
    identity: Identity,
    outcome: _Outcome,
) -> None:
    thread = (
        await reply_thread(hub.database, conversation.id)
        if connector.capabilities.threads_by_reply
        else ReplyThread(None, ())
    )
    outbound = OutboundMessage(
        message_id=message.id,
        conversation_id=conversation.id,
        recipient=IdentityRef(identity.kind, identity.value, identity.scope, identity.verified),
        text=message.text,
        attachments=tuple(Attachment(**attachment) for attachment in message.attachments),
        metadata=message.meta,
        sender=message.sender_type,
        created_at=message.created_at,
        subject=thread.subject,
        replies_to=thread.replies_to,
        automatic=message.sender_type in (SenderType.BOT, SenderType.SYSTEM),
    )
    outcome.error = reply_window(connector.capabilities, conversation).refusal(hub.now())
    if outcome.error is None and not outcome.reserved:
        needed = connector.parts_needed(outbound)
        outcome.error = await quota.reserve(needed)
        outcome.reserved = 0 if outcome.error else needed
    if outcome.error is not None:
        return
    try:
        result = await connector.send(outbound, hub.connector_context(inbox))
        outcome.status, outcome.channel_ids = MessageStatus(result.status), result.channel_message_ids
    except DeferredSendError as deferred:
        outcome.status, outcome.error = MessageStatus.PENDING, deferred.reason
        wait = timedelta(seconds=deferred.retry_after) if deferred.retry_after else DEFERRED_RETRY
        outcome.retry_in = retry_delay(wait, 1, longest=wait)
    except TransientSendError as transient:
        outcome.status, outcome.error, outcome.retry_in = _retry_or_give_up(
            hub, message, transient.reason, transient.retry_after
        )
    except PermanentSendError as permanent:
        outcome.status, outcome.error = MessageStatus.FAILED, permanent.reason
    except Exception as unexpected:
        log.exception("outbound.connector_error inbox=%s message=%s", inbox.id, message.id)
        outcome.status, outcome.error, outcome.retry_in = _retry_or_give_up(
            hub,
            message,
            f"The {connector.display_name} connector failed unexpectedly ({type(unexpected).__name__})",
        )


async def _finish(
    hub: Hub,
    message: Message,
    conversation: Conversation,
    inbox: Inbox,
    quota: ReplyQuota | None,
    outcome: _Outcome,
) -> None:
    """Give back the replies a failed message holds, record the outcome, count and log."""
    if outcome.status == "failed" and outcome.reserved and quota is not None:
        await quota.release(outcome.reserved)
        outcome.reserved = 0
    await _record_outcome(hub, message, conversation, outcome)
    if outcome.status == "failed":
        metrics.OUTBOUND_FAILURES.labels(inbox.kind).inc()
        log.warning(
            "outbound.failed workspace=%s inbox=%s conversation=%s message=%s reason=%s",
            inbox.workspace_id,
            inbox.id,
            conversation.id,
            message.id,
            outcome.error,
        )
    elif outcome.status != "pending":
        metrics.MESSAGES.labels(inbox.kind, "out").inc()


def _retry_or_give_up(
    hub: Hub, message: Message, reason: str, retry_after: float | None = None
) -> tuple[MessageStatus, str, timedelta | None]:
    """(status, error, retry in): back off exponentially with jitter, never sooner than the channel asked
    (`retry_after`), and fail after the configured attempts."""
    attempts = message.attempts + 1
    if attempts >= hub.settings.outbound_max_attempts:
        return MessageStatus.FAILED, f"{reason} (gave up after {attempts} attempts)", None
    delay = retry_delay(
        timedelta(seconds=hub.settings.outbound_retry_seconds),
        attempts,
        longest=LONGEST_RETRY,
        at_least=timedelta(seconds=retry_after) if retry_after else None,
    )
    return MessageStatus.PENDING, reason, delay


@dataclass(frozen=True, slots=True)
class _Recorded:
    """One delivery's outcome as the values of its row's UPDATE (`_RECORD_OUTCOME`)."""

    values: dict[str, Any]


async def _record_outcome(hub: Hub, message: Message, conversation: Conversation, outcome: _Outcome) -> None:
    """The send's outcome on the message, then announced. Outcomes of the deliveries that finish while one batch is
    being recorded are recorded together, in one transaction (`_record_outcomes`): each is a customer's reply
    waiting to be marked sent, and a transaction of its own cost the worker's event loop five round trips."""
    now = hub.now()
    reserved = outcome.reserved
    meta = message.meta
    if reserved != meta.get(RESERVED_PARTS, 0):
        meta = (
            {**meta, RESERVED_PARTS: reserved}
            if reserved
            else {key: value for key, value in meta.items() if key != RESERVED_PARTS}
        )
    recorded = _Recorded(
        {
            "message_id": message.id,
            "new_error": _storable(outcome.error) if outcome.error is not None else None,
            "now": now,
            "new_next_attempt_at": now + outcome.retry_in if outcome.retry_in is not None else None,
            "new_status": outcome.status.value,
            "new_meta": meta,
            "new_channel_message_id": _storable(",".join(outcome.channel_ids))[:200]
            if outcome.channel_ids
            else None,
        }
    )
    [(payload, conversation_row)] = await batcher(hub, "delivery_outcomes", _record_outcomes).submit(
        [recorded]
    )
    await events.publish_message_event(hub.publisher, payload, conversation_row)


def _record_outcome_statement() -> Update:
    """Its status is written only where the reply is not read yet: the customer's client may report it read
    (hub.connector_routes), or the channel report it delivered or failed (hub.delivery_reports), before this is
    recorded, and what they said stays. The message is `sending`, claimed by this
    delivery, so the claimed copy's metadata is the stored one."""
    columns = Message.__table__.c  # type: ignore[attr-defined]
    new_status = bindparam("new_status", type_=columns.status.type)
    reported_failed = (columns.status == MessageStatus.FAILED) & (new_status == MessageStatus.SENT)
    return (
        update(Message.__table__)  # type: ignore[attr-defined]
        .where(columns.id == bindparam("message_id"))
        .values(
            error=case(
                (reported_failed, columns.error), else_=bindparam("new_error", type_=columns.error.type)
            ),
            attempts=columns.attempts + 1,
            updated_at=bindparam("now", type_=columns.updated_at.type),
            next_attempt_at=bindparam("new_next_attempt_at", type_=columns.next_attempt_at.type),
            status=case(
                # Not `in_`: its expanding parameter cannot run as one statement for many outcomes (executemany).
                (
                    or_(columns.status == MessageStatus.READ, columns.status == MessageStatus.DELIVERED),
                    columns.status,
                ),
                (reported_failed, columns.status),
                else_=new_status,
            ),
            meta=bindparam("new_meta", type_=columns.meta.type),
            channel_message_id=func.coalesce(
                bindparam("new_channel_message_id", type_=columns.channel_message_id.type),
                columns.channel_message_id,
            ),
        )
    )


_RECORD_OUTCOME = _record_outcome_statement()


async def _record_outcomes(hub: Hub, outcomes: list[_Recorded]) -> list[tuple[WorkspaceEvent, Conversation]]:
    """One UPDATE for all the outcomes, one read of the rows as written, one INSERT of their events.

    A reply that a delivery report failed already (the channel's callback came before the send's answer was
    recorded) told the agents it failed then: its `message.failed` is not emitted again. Its row is locked from
    the read of its status before the UPDATE to the commit, so a report arriving meanwhile waits for it."""
    ids = [recorded.values["message_id"] for recorded in outcomes]
    outbox = events.Outbox()
    async with hub.database.session() as session:
        failed_before = set(
            (
                await session.exec(
                    select(Message.id)
                    .where(col(Message.id).in_(ids), col(Message.status) == MessageStatus.FAILED)
                    .order_by(col(Message.id))
                    .with_for_update()
                )
            ).all()
        )
        await session.execute(_RECORD_OUTCOME, [recorded.values for recorded in outcomes])
        rows = {
            row.id: (row, conversation_row)
            for row, conversation_row in (
                await session.exec(
                    select(Message, Conversation)
                    .join(Conversation, col(Conversation.id) == Message.conversation_id)
                    .where(col(Message.id).in_(ids))
                )
            ).all()
        }
        announced = []
        for message_id in ids:
            row, conversation_row = rows[message_id]
            payload = outbox.record(
                row.workspace_id,
                "message.updated",
                row.id,
                {
                    "message": events.message_json(row),
                    "conversation": events.conversation_json(conversation_row),
                },
            )
            if row.status == MessageStatus.FAILED and row.id not in failed_before:
                outbox.record(
                    row.workspace_id, "message.failed", row.id, events.message_failure(row, conversation_row)
                )
            announced.append((payload, conversation_row))
        await outbox.write(session)
        await session.commit()
    return announced


def _storable(channel_text: str) -> str:
    """Text a channel answered (a reason, message ids), without the NUL characters PostgreSQL refuses: a
    delivery whose outcome cannot be recorded would be sent again."""
    return channel_text.replace("\x00", "")


async def send_typing(hub: Hub, conversation_id: str, state: str) -> None:
    """Best effort: a typing indicator that fails is not worth an agent's attention."""
    async with hub.database.session() as session:
        conversation = await session.get_one(Conversation, conversation_id)
        inbox = await session.get_one(Inbox, conversation.inbox_id)
        identity = await session.get_one(Identity, conversation.identity_id)
    recipient = IdentityRef(identity.kind, identity.value, identity.scope, identity.verified)
    try:
        await hub.connector_for(inbox).send_typing(recipient, state == "on", hub.connector_context(inbox))
    except (TransientSendError, PermanentSendError) as error:
        log.info("typing.failed conversation=%s reason=%s", conversation_id, error)
