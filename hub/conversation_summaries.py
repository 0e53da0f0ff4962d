"""What the agent inbox's list shows on each row: who the customer is and what was said last.

Read for one page of conversations in two queries (the latest message per conversation through the
(conversation_id, id) index, then the contacts' names), so the list never asks once per row."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.masking import workspace_rules
from hub.models import Contact, Conversation, Message
from hub.views import ConversationSummary

__all__ = ["PREVIEW_CHARACTERS", "conversation_summaries"]

PREVIEW_CHARACTERS = 140


async def conversation_summaries(
    session: AsyncSession, workspace_id: str, conversations: Sequence[Conversation]
) -> dict[str, ConversationSummary]:
    """Per conversation id: the contact's name and the latest customer or agent message (notes are left out),
    masked as agents read messages."""
    if not conversations:
        return {}
    ids = [conversation.id for conversation in conversations]
    latest_ids = (
        select(func.max(Message.id))
        .where(
            Message.workspace_id == workspace_id,
            col(Message.conversation_id).in_(ids),
            col(Message.direction).in_(("in", "out")),
        )
        .group_by(col(Message.conversation_id))
    )
    latest = {
        message.conversation_id: message
        for message in (await session.exec(select(Message).where(col(Message.id).in_(latest_ids)))).all()
    }
    contact_ids = {conversation.contact_id for conversation in conversations}
    names = dict(
        (await session.exec(select(Contact.id, Contact.name).where(col(Contact.id).in_(contact_ids)))).all()
    )
    rules = await workspace_rules(session, workspace_id)
    summaries = {}
    for conversation in conversations:
        message = latest.get(conversation.id)
        preview = None
        if message is not None:
            preview = rules.mask(message.text)[:PREVIEW_CHARACTERS] or (
                f"[{message.content_type}]" if message.content_type != "text" else ""
            )
        summaries[conversation.id] = ConversationSummary(
            contact_name=names.get(conversation.contact_id),
            last_message=preview,
            last_message_direction=message.direction if message is not None else None,
        )
    return summaries
