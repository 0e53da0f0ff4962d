"""Threading by reply, for channels whose messages name the messages they answer (Capabilities.threads_by_reply):
an email joins the conversation of the mail it answers, or of our reply it answers, and a mail that answers none of
them starts a conversation of its own. A delivery failure report (a bounce) belongs to the conversation of the reply
that failed, and marks that reply failed in the same transaction.

A conversation opened here by a message with `opens_ticket` (the email inbox's `open_ticket_on_new_thread`) opens
a ticket titled by the mail's subject, in the same transaction (hub.inbound.process).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events
from hub.models import Conversation, Inbox, Message
from hub.statuses import MessageDirection, MessageStatus
from hub.views import WorkspaceEvent
from normalizer import InboundMessage, dedupe_key

__all__ = ["BouncedReply", "ReplyThreads", "fail_bounced_replies", "references"]

Thread = TypeVar("Thread")
LONGEST_BOUNCE_REASON = 1000


def references(message: InboundMessage) -> tuple[str, ...]:
    """The channel message ids a message answers, the reply a bounce reports on first."""
    failed = (message.failed_delivery_of,) if message.failed_delivery_of else ()
    return failed + message.replies_to


@dataclass
class ReplyThreads(Generic[Thread]):
    """The conversation holding each channel message id of one inbox: the stored messages the batch answers
    (received, or sent by us), and the batch's own messages as they are threaded."""

    by_channel_id: dict[tuple[str, str], Thread | Conversation] = field(default_factory=dict)

    @classmethod
    async def load(
        cls, session: AsyncSession, batch: Iterable[tuple[Inbox, InboundMessage]]
    ) -> ReplyThreads[Thread]:
        wanted: dict[str, tuple[Inbox, set[str]]] = {}
        for inbox, message in batch:
            wanted.setdefault(inbox.id, (inbox, set()))[1].update(references(message))
        threads: ReplyThreads[Thread] = cls()
        for inbox, ids in wanted.values():
            if ids:
                threads.by_channel_id |= {
                    (inbox.id, channel_id): conversation
                    for channel_id, conversation in await _conversations_holding(session, inbox, ids)
                }
        return threads

    def find(self, inbox_id: str, message: InboundMessage) -> Thread | Conversation | None:
        """The conversation of the nearest message this one answers."""
        for channel_id in references(message):
            found = self.by_channel_id.get((inbox_id, channel_id))
            if found is not None:
                return found
        return None

    def remember(self, inbox_id: str, channel_id: str, conversation: Thread | Conversation) -> None:
        self.by_channel_id.setdefault((inbox_id, channel_id), conversation)


async def _conversations_holding(
    session: AsyncSession, inbox: Inbox, channel_ids: set[str]
) -> list[tuple[str, Conversation]]:
    """(channel id, conversation) of the inbox's messages with these ids: received ones found by their dedupe key
    (its unique index), sent ones by their channel id (a partial index of sent messages)."""
    received_keys = {dedupe_key(inbox.id, channel_id): channel_id for channel_id in channel_ids}
    received = await session.exec(
        select(Message.dedupe_key, Conversation)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            col(Message.workspace_id) == inbox.workspace_id,
            col(Message.dedupe_key).in_(list(received_keys)),
            col(Conversation.inbox_id) == inbox.id,
        )
    )
    sent = await session.exec(
        select(Message.channel_message_id, Conversation)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            col(Message.direction) == MessageDirection.OUT,
            col(Message.channel_message_id).in_(list(channel_ids)),
            col(Message.workspace_id) == inbox.workspace_id,
            col(Conversation.inbox_id) == inbox.id,
        )
    )
    return [(received_keys[key], conversation) for key, conversation in received.all() if key] + [
        (channel_id, conversation) for channel_id, conversation in sent.all() if channel_id
    ]


@dataclass(frozen=True, slots=True)
class BouncedReply:
    """A reply marked failed by a bounce, and its `message.updated` event to publish after the commit."""

    event: WorkspaceEvent
    conversation: Conversation


async def fail_bounced_replies(
    session: AsyncSession,
    outbox: events.Outbox,
    batch: Iterable[tuple[Inbox, InboundMessage]],
    now: datetime,
) -> list[BouncedReply]:
    """Mark failed each reply of ours a delivery failure report in the batch names, with the report's reason."""
    failed: list[BouncedReply] = []
    for inbox, report in batch:
        if not report.failed_delivery_of:
            continue
        rows = await session.exec(
            select(Message, Conversation)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(
                col(Message.direction) == MessageDirection.OUT,
                col(Message.channel_message_id) == report.failed_delivery_of,
                col(Message.workspace_id) == inbox.workspace_id,
                col(Conversation.inbox_id) == inbox.id,
            )
        )
        for message, conversation in rows.all():
            message.status = MessageStatus.FAILED
            message.error = _bounce_reason(report)
            message.updated_at = now
            event = outbox.record(
                message.workspace_id,
                "message.updated",
                message.id,
                {
                    "message": events.message_json(message),
                    "conversation": events.conversation_json(conversation),
                },
            )
            outbox.record(
                message.workspace_id,
                "message.failed",
                message.id,
                events.message_failure(message, conversation),
            )
            failed.append(BouncedReply(event, conversation))
    return failed


def _bounce_reason(report: InboundMessage) -> str:
    """What the report says went wrong, as an agent reads it: the server's diagnostic, else the report's text."""
    details = report.metadata.get("delivery_report") or {}
    said = details.get("diagnostic") or report.text.strip() or report.subject or "no reason given"
    recipient = details.get("recipient")
    status = details.get("status")
    where = f" to {recipient}" if recipient else ""
    code = f" ({status})" if status else ""
    return f"The mail could not be delivered{where}{code}: {said}".replace("\x00", "")[:LONGEST_BOUNCE_REASON]
