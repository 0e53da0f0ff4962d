"""Erasing a customer on request: their personal data, messages and files go; anonymous counts stay for reports.

What stays is what carries nobody's data: the contact row (marked `erased_at`, its profile emptied) as the owner
of its conversations, the conversations (inbox, status, times) and the message rows emptied of their content
(direction, sender type, status, times), so reports count them as before. Identities keep their rows, which
conversations point to, with their values replaced by an anonymous one: the customer writing again is a new
contact. The pages their browser reported and the comments of their ratings go too (the ratings stay, as
counts). Their conversations still open are resolved by the system and leave the queue, without a word to the
customer. The contacts merged into it (tombstones that keep their own profiles) are erased with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import lifecycle
from hub.models import (
    AuditEntry,
    Contact,
    Conversation,
    Identity,
    InboundEvent,
    MergeSuggestion,
    Message,
    OutboxEvent,
    PageView,
    StoredFile,
    Ticket,
    TicketComment,
    WebhookDelivery,
)
from hub.views import WorkspaceEvent

__all__ = ["ERASED", "ERASED_TEXT", "Erased", "Erasure", "conversations_of", "erase_contact"]

ERASED = "contact.erased"
ERASED_TEXT = "(erased)"
"""What an erased ticket's subject reads, so the ticket still counts and says why it is empty."""


@dataclass(frozen=True, slots=True)
class Erasure:
    """The anonymous counts of what was erased, as the audit entry keeps them."""

    contact_ids: list[str]
    conversations: int
    messages: int
    files: int
    identities: int
    tickets: int
    conversations_closed: int
    """Conversations that were still open, resolved by the erasure."""


@dataclass(frozen=True, slots=True)
class Erased:
    """An erasure done in the caller's transaction: its counts, its audit entry, and the conversations it closed
    with their events, which `lifecycle.announce` publishes once the transaction is committed."""

    erasure: Erasure
    audit: AuditEntry
    closed: list[Conversation]
    published: list[WorkspaceEvent]


async def erase_contact(
    session: AsyncSession,
    contact: Contact,
    *,
    now: datetime,
    file_id_of: Any,
    actor_type: str,
    actor_id: str | None,
) -> Erased:
    """Erase `contact` and the contacts merged into it, in the caller's transaction.

    `file_id_of(url)` names the stored file an attachment URL points to (None for another URL).
    """
    workspace_id = contact.workspace_id
    contact_ids = await _with_tombstones(session, workspace_id, contact.id)
    closing = await lifecycle.close_for_erasure(session, workspace_id, contact_ids, now)
    conversation_ids = list(
        (
            await session.exec(
                select(Conversation.id).where(
                    Conversation.workspace_id == workspace_id, col(Conversation.contact_id).in_(contact_ids)
                )
            )
        ).all()
    )
    messages = (
        await session.exec(
            select(Message.id, Message.attachments).where(
                Message.workspace_id == workspace_id, col(Message.conversation_id).in_(conversation_ids)
            )
        )
    ).all()
    message_ids = [message_id for message_id, _ in messages]
    await session.execute(
        update(Conversation).where(col(Conversation.id).in_(conversation_ids)).values(csat_comment=None)
    )
    file_ids = {
        file_id
        for _, attachments in messages
        for attachment in attachments
        if (file_id := file_id_of(attachment.get("url") or "")) is not None
    }
    files = await session.execute(
        delete(StoredFile).where(
            col(StoredFile.workspace_id) == workspace_id, col(StoredFile.id).in_(sorted(file_ids))
        )
    )
    await session.execute(
        update(Message)
        .where(col(Message.id).in_(message_ids))
        .values(text="", attachments=[], meta={}, channel_message_id=None, dedupe_key=None, error=None)
    )
    await session.execute(
        delete(InboundEvent).where(
            col(InboundEvent.workspace_id) == workspace_id, col(InboundEvent.message_id).in_(message_ids)
        )
    )
    subjects = [*contact_ids, *conversation_ids, *message_ids]
    events = select(OutboxEvent.id).where(
        OutboxEvent.workspace_id == workspace_id, col(OutboxEvent.subject_id).in_(subjects)
    )
    await session.execute(
        delete(WebhookDelivery).where(
            col(WebhookDelivery.workspace_id) == workspace_id, col(WebhookDelivery.event_id).in_(events)
        )
    )
    await session.execute(
        delete(OutboxEvent).where(
            col(OutboxEvent.workspace_id) == workspace_id, col(OutboxEvent.subject_id).in_(subjects)
        )
    )
    identities = await session.execute(
        update(Identity)
        .where(col(Identity.workspace_id) == workspace_id, col(Identity.contact_id).in_(contact_ids))
        .values(value=literal("erased:") + col(Identity.id), verified=False)
    )
    await session.execute(
        delete(MergeSuggestion).where(
            or_(
                col(MergeSuggestion.contact_id).in_(contact_ids),
                col(MergeSuggestion.candidate_id).in_(contact_ids),
            )
        )
    )
    tickets = await session.execute(
        update(Ticket)
        .where(col(Ticket.workspace_id) == workspace_id, col(Ticket.contact_id).in_(contact_ids))
        .values(subject=ERASED_TEXT, description="", summary="")
    )
    await session.execute(
        update(TicketComment)
        .where(
            col(TicketComment.workspace_id) == workspace_id,
            col(TicketComment.ticket_id).in_(
                select(Ticket.id).where(
                    col(Ticket.workspace_id) == workspace_id, col(Ticket.contact_id).in_(contact_ids)
                )
            ),
        )
        .values(body=ERASED_TEXT)
    )
    await session.execute(
        update(AuditEntry)
        .where(
            col(AuditEntry.workspace_id) == workspace_id,
            col(AuditEntry.subject_type) == "contact",
            col(AuditEntry.subject_id).in_(contact_ids),
        )
        .values(details={"erased": True})
    )
    await session.execute(
        delete(PageView).where(
            col(PageView.workspace_id) == workspace_id, col(PageView.contact_id).in_(contact_ids)
        )
    )
    await session.execute(
        update(Contact)
        .where(col(Contact.id).in_(contact_ids))
        .values(
            name=None,
            attributes={},
            tags=[],
            notes="",
            vip_level=0,
            time_zone=None,
            language=None,
            erased_at=now,
            updated_at=now,
        )
    )
    erasure = Erasure(
        contact_ids=contact_ids,
        conversations=len(conversation_ids),
        messages=len(message_ids),
        files=files.rowcount,  # type: ignore[attr-defined]
        identities=identities.rowcount,  # type: ignore[attr-defined]
        tickets=tickets.rowcount,  # type: ignore[attr-defined]
        conversations_closed=len(closing.conversations),
    )
    audit = AuditEntry(
        workspace_id=workspace_id,
        actor_type=actor_type,
        actor_id=actor_id,
        action=ERASED,
        subject_type="contact",
        subject_id=contact.id,
        details={
            "contact_ids": contact_ids,
            "conversations": erasure.conversations,
            "messages": erasure.messages,
            "files": erasure.files,
            "identities": erasure.identities,
            "tickets": erasure.tickets,
            "conversations_closed": erasure.conversations_closed,
        },
    )
    session.add(audit)
    published = closing.record(session)
    return Erased(erasure, audit, closing.conversations, published)


async def conversations_of(session: AsyncSession, contact: Contact) -> int:
    """How many conversations erasing `contact` would empty: its own and those of the contacts merged into it."""
    contact_ids = await _with_tombstones(session, contact.workspace_id, contact.id)
    counted = await session.exec(
        select(func.count())
        .select_from(Conversation)
        .where(
            col(Conversation.workspace_id) == contact.workspace_id,
            col(Conversation.contact_id).in_(contact_ids),
        )
    )
    return counted.one()


async def _with_tombstones(session: AsyncSession, workspace_id: str, contact_id: str) -> list[str]:
    """The contact and every contact merged into it, directly or through others."""
    found = [contact_id]
    frontier = [contact_id]
    while frontier:
        frontier = list(
            (
                await session.exec(
                    select(Contact.id).where(
                        Contact.workspace_id == workspace_id, col(Contact.merged_into).in_(frontier)
                    )
                )
            ).all()
        )
        found += frontier
    return found
