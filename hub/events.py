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
from hub.models import Contact, Conversation, Identity, Message, OutboxEvent, utcnow
from hub.realtime import Publisher, workspace_channel
from hub.statuses import ConversationStatus, MessageDirection, MessageStatus, SenderType
from hub.views import (
    AttachmentView,
    ContactCreated,
    ContactIdentityView,
    ContactMerged,
    ContactRecord,
    ContactUnmerged,
    ContactUpdated,
    ConversationAssigned,
    ConversationCreated,
    ConversationHandedOff,
    ConversationLabelsChanged,
    ConversationRating,
    ConversationReopened,
    ConversationRequeued,
    ConversationResolved,
    ConversationSnoozed,
    ConversationStatusChanged,
    ConversationTransferred,
    ConversationView,
    CsatSubmitted,
    MessageCreated,
    MessageFailed,
    MessageUpdated,
    MessageView,
    NoteDeleted,
    NoteMentioned,
    TicketCommented,
    TicketCreated,
    TicketSlaBreached,
    TicketUpdated,
    WorkspaceEvent,
)

__all__ = [
    "AnyWorkspaceEvent",
    "Outbox",
    "UndeclaredEvent",
    "contact_record",
    "conversation_json",
    "conversation_view",
    "declared_event",
    "identity_view",
    "message_failure",
    "message_json",
    "message_view",
    "publish_message_event",
    "record",
]

AnyWorkspaceEvent = (
    ContactCreated
    | ContactMerged
    | ContactUnmerged
    | ContactUpdated
    | ConversationCreated
    | ConversationAssigned
    | ConversationHandedOff
    | ConversationLabelsChanged
    | ConversationResolved
    | ConversationReopened
    | ConversationSnoozed
    | ConversationStatusChanged
    | ConversationRequeued
    | ConversationTransferred
    | CsatSubmitted
    | MessageCreated
    | MessageFailed
    | MessageUpdated
    | NoteDeleted
    | NoteMentioned
    | TicketCommented
    | TicketCreated
    | TicketUpdated
    | TicketSlaBreached
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
        category=conversation.category,
        queued_at=conversation.queued_at,
        assigned_at=conversation.assigned_at,
        snoozed_until=conversation.snoozed_until,
        previous_conversation_id=conversation.previous_conversation_id,
        csat=None
        if conversation.csat_rating is None or conversation.csat_at is None
        else ConversationRating(conversation.csat_rating, conversation.csat_comment, conversation.csat_at),
        labels=list(conversation.labels),
    )


def message_failure(message: Message, conversation: Conversation) -> dict[str, object]:
    """The `message.failed` payload of a message whose delivery failed for good, its reason as the agent reads it."""
    return {
        "message": message_view(message),
        "conversation": conversation_view(conversation),
        "reason": message.error or "The channel gave no reason.",
    }


def identity_view(identity: Identity) -> ContactIdentityView:
    return ContactIdentityView(
        id=identity.id,
        kind=identity.kind,
        value=identity.value,
        scope=identity.scope,
        verified=identity.verified,
    )


def contact_record(contact: Contact, identities: list[ContactIdentityView]) -> ContactRecord:
    return ContactRecord(
        id=contact.id,
        name=contact.name,
        tags=contact.tags,
        vip_level=contact.vip_level,
        identities=identities,
        created_at=contact.created_at,
        attributes=contact.attributes,
        notes=contact.notes,
    )


message_json = message_view
conversation_json = conversation_view
"""The names hub.inbound and hub.outbound build their events' payloads with."""


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

    The inbound path records two events per message, so each ORM object saved here is a per-message cost.
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
    publisher: Publisher, event: WorkspaceEvent, conversation: Conversation
) -> None:
    """To the workspace's agents. The customer hears of a reply from its channel's connector when it is sent."""
    await publisher.publish(event, [workspace_channel(conversation.workspace_id)])
