"""Domain events: written to the outbox in the change's transaction, then published in real time.

Every event is one of the declared `hub.views.WorkspaceEvent` shapes; the outbox row keeps that event as
its payload, and agents' sockets receive it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.ids import new_id
from hub.models import Conversation, Identity, Message, OutboxEvent, utcnow
from hub.realtime import Publisher, audience_channel, workspace_channel
from hub.statuses import ConversationStatus, MessageDirection, MessageStatus, SenderType
from hub.views import (
    AttachmentView,
    ConversationAssigned,
    ConversationCreated,
    ConversationResolved,
    ConversationView,
    MessageCreated,
    MessageUpdated,
    MessageView,
    WorkspaceEvent,
)

__all__ = [
    "CUSTOMER_VISIBLE",
    "AnyWorkspaceEvent",
    "Outbox",
    "UndeclaredEvent",
    "audience_of",
    "conversation_json",
    "conversation_view",
    "declared_event",
    "message_json",
    "message_view",
    "publish_message_event",
    "record",
    "visitor_message_json",
]

CUSTOMER_VISIBLE = ("in", "out")

AnyWorkspaceEvent = (
    ConversationCreated | ConversationAssigned | ConversationResolved | MessageCreated | MessageUpdated
)
"""Every event the hub records; an event of another type or shape is a bug, refused where it is written."""


class UndeclaredEvent(ValueError):
    """An event type, or a payload, that no `hub.views.WorkspaceEvent` declares."""


def message_view(message: Message) -> MessageView:
    return MessageView(
        id=message.id,
        conversation_id=message.conversation_id,
        direction=MessageDirection(message.direction),
        sender=SenderType(message.sender_type),
        sender_id=message.sender_id,
        content_type=message.content_type,
        text=message.text,
        attachments=msgspec.convert(message.attachments, list[AttachmentView]),
        metadata=message.meta,
        status=MessageStatus(message.status),
        error=message.error,
        delivery_attempts=message.attempts,
        next_attempt_at=message.next_attempt_at,
        created_at=message.created_at,
        updated_at=message.updated_at,
    )


def conversation_view(conversation: Conversation) -> ConversationView:
    return ConversationView(
        id=conversation.id,
        inbox_id=conversation.inbox_id,
        contact_id=conversation.contact_id,
        status=ConversationStatus(conversation.status),
        assignee_id=conversation.assignee_id,
        team_id=conversation.team_id,
        priority=conversation.priority,
        last_message_at=conversation.last_message_at,
        last_inbound_at=conversation.last_inbound_at,
        first_response_at=conversation.first_response_at,
        resolved_at=conversation.resolved_at,
        created_at=conversation.created_at,
    )


message_json = message_view
conversation_json = conversation_view
"""The names hub.inbound and hub.outbound build their events' payloads with."""


def visitor_message_json(message: Message) -> dict[str, Any]:
    """What a customer may see: no internal ids of agents, no delivery internals."""
    return {
        "id": message.id,
        "text": message.text,
        "sender": message.sender_type,
        "content_type": message.content_type,
        "attachments": message.attachments,
        "client_id": message.meta.get("client_id"),
        "status": message.status,
        "created_at": message.created_at.isoformat(),
    }


def audience_of(conversation: Conversation, identity: Identity) -> str:
    return audience_channel(conversation.inbox_id, identity.kind, identity.scope, identity.value)


def declared_event(event_type: str, payload: Mapping[str, object]) -> WorkspaceEvent:
    """The event `event_type` with `payload`, as its declared shape."""
    try:
        event: WorkspaceEvent = msgspec.convert({**payload, "type": event_type}, AnyWorkspaceEvent)
    except msgspec.ValidationError as error:
        raise UndeclaredEvent(f"{event_type}: {error}") from None
    return event


def record(
    session: AsyncSession,
    workspace_id: str,
    event_type: str,
    subject_id: str,
    payload: Mapping[str, object],
) -> WorkspaceEvent:
    """Add the outbox row to the session (committed with the change) and return the realtime event."""
    event = declared_event(event_type, payload)
    session.add(OutboxEvent(**_outbox_row(workspace_id, event_type, subject_id, event)))
    return event


class Outbox:
    """Outbox rows of many changes in one transaction, written by one INSERT and without ORM objects.

    The inbound path records two events per message; as objects they were a fifth of a worker's CPU.
    """

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []

    def record(
        self, workspace_id: str, event_type: str, subject_id: str, payload: Mapping[str, object]
    ) -> WorkspaceEvent:
        """Keep the outbox row for `write` and return the realtime event."""
        event = declared_event(event_type, payload)
        self._rows.append(_outbox_row(workspace_id, event_type, subject_id, event))
        return event

    async def write(self, session: AsyncSession) -> None:
        if self._rows:
            await session.execute(insert(OutboxEvent), self._rows)
            self._rows = []


def _outbox_row(workspace_id: str, event_type: str, subject_id: str, event: WorkspaceEvent) -> dict[str, Any]:
    """Every column is given: SQLModel inspects a default factory's signature on each construction."""
    return {
        "id": new_id(),
        "workspace_id": workspace_id,
        "event_type": event_type,
        "subject_id": subject_id,
        "payload": event,
        "created_at": utcnow(),
        "dispatched_at": None,
    }


async def publish_message_event(
    publisher: Publisher,
    event: WorkspaceEvent,
    message: Message,
    conversation: Conversation,
    identity: Identity,
) -> None:
    """Agents get the full event; the customer's own sockets get what a customer may see."""
    await publisher.publish(event, [workspace_channel(conversation.workspace_id)])
    if message.direction in CUSTOMER_VISIBLE:
        await publisher.publish(
            {"type": event.__struct_config__.tag, "message": visitor_message_json(message)},
            [audience_of(conversation, identity)],
        )
