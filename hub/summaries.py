"""The summary of a conversation (who, what was asked, what was tried), as the bot's handoff note and a ticket opened
from the conversation carry it: routing.summary quotes its latest messages."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Contact, Conversation, Message
from routing.summary import Speaker, TicketSummary, TranscriptMessage, summarize

__all__ = ["TRANSCRIPT_MESSAGES", "conversation_summary"]

TRANSCRIPT_MESSAGES = 50
"""The latest messages a summary reads: enough for what was asked and tried, bounded for a long conversation."""


async def conversation_summary(session: AsyncSession, conversation: Conversation) -> TicketSummary:
    contact = await session.get(Contact, conversation.contact_id)
    history = list(
        (
            await session.exec(
                select(Message)
                .where(
                    col(Message.conversation_id) == conversation.id,
                    col(Message.workspace_id) == conversation.workspace_id,
                )
                .order_by(col(Message.id).desc())
                .limit(TRANSCRIPT_MESSAGES)
            )
        ).all()
    )
    transcript = [
        TranscriptMessage(
            Speaker.CUSTOMER
            if row.direction == "in"
            else Speaker.BOT
            if row.sender_type == "bot"
            else Speaker.AGENT,
            row.text,
            internal=row.direction == "note",
            attachments=len(row.attachments),
        )
        for row in reversed(history)
        if row.direction in ("in", "out") and row.text
    ]
    return summarize(transcript, customer_name=contact.name if contact else None)
