"""A channel's reports on the replies the hub sent (a delivery status callback): each moves its reply forward to
sent, delivered, read or failed (with the channel's reason), and tells the agents as any change of a message does.

A report never moves a reply back: a late `sent` after `delivered`, or a `failed` after `read`, changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from connectors import DeliveryReport
from hub import events
from hub.models import Conversation, Inbox, Message
from hub.runtime import Hub
from hub.statuses import MessageDirection, MessageStatus

__all__ = ["apply_delivery_reports"]

LONGEST_REASON = 1000
_MOVES_FROM: dict[str, tuple[MessageStatus, ...]] = {
    "sent": (MessageStatus.SENDING,),
    "delivered": (MessageStatus.SENDING, MessageStatus.SENT),
    "read": (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED),
    "failed": (MessageStatus.SENDING, MessageStatus.SENT),
}
"""The statuses of a reply a report may move it from."""


async def apply_delivery_reports(hub: Hub, inbox: Inbox, reports: Sequence[DeliveryReport]) -> int:
    """Answers how many replies changed. Only the inbox's own replies are found, by the hub's id when the channel
    echoes it, else by the channel's message id."""
    now = hub.now()
    outbox = events.Outbox()
    changed: list[tuple[events.WorkspaceEvent, Conversation]] = []
    async with hub.database.session() as session:
        for report in reports:
            found = col(Message.id) == report.message_id if report.message_id else None
            if found is None:
                found = col(Message.channel_message_id) == report.channel_message_id
            rows = await session.exec(
                select(Message, Conversation)
                .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                .where(
                    found,
                    col(Message.direction) == MessageDirection.OUT,
                    col(Message.workspace_id) == inbox.workspace_id,
                    col(Conversation.inbox_id) == inbox.id,
                )
                # Locked: the send's answer being recorded at the same moment (hub.outbound) waits, and sees this.
                .with_for_update(of=Message)
            )
            for message, conversation in rows.all():
                if message.status not in _MOVES_FROM[report.status]:
                    continue
                message.status = MessageStatus(report.status)
                message.channel_message_id = message.channel_message_id or report.channel_message_id
                if report.status == "failed":
                    reason = report.reason or "The channel reports the message failed"
                    message.error = reason.replace("\x00", "")[:LONGEST_REASON]
                message.updated_at = now
                payload = {
                    "message": events.message_json(message),
                    "conversation": events.conversation_json(conversation),
                }
                changed.append(
                    (
                        outbox.record(message.workspace_id, "message.updated", message.id, payload),
                        conversation,
                    )
                )
                if report.status == "failed":
                    outbox.record(
                        message.workspace_id,
                        "message.failed",
                        message.id,
                        events.message_failure(message, conversation),
                    )
        await outbox.write(session)
        await session.commit()
    for event, conversation in changed:
        await events.publish_message_event(hub.publisher, event, conversation)
    return len(changed)
