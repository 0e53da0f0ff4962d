"""What a reply on a channel that threads by reply (email) must carry so the customer's client threads it: the
conversation's subject and the channel ids of the messages it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from hub.db import Database
from hub.models import Message
from hub.statuses import MessageDirection

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["ReplyThread", "reply_thread", "thread_subject"]

RECENT_MESSAGES = 20
"""How far back a reply looks for the customer's message it answers (past automatic ones)."""


@dataclass(frozen=True, slots=True)
class ReplyThread:
    subject: str | None
    replies_to: tuple[str, ...]
    """The customer's newest message (not an automatic one), then the ids that message answers."""


async def thread_subject(session: AsyncSession, conversation_id: str) -> str | None:
    """The subject the customer's first message gave the conversation: every reply keeps it."""
    first = (
        await session.exec(
            select(Message.meta)
            .where(
                col(Message.conversation_id) == conversation_id,
                col(Message.direction) == MessageDirection.IN,
            )
            .order_by(col(Message.id))
            .limit(1)
        )
    ).first()
    return first.get("subject") if first is not None else None


async def reply_thread(database: Database, conversation_id: str) -> ReplyThread:
    received = (
        select(Message.channel_message_id, Message.meta)
        .where(
            col(Message.conversation_id) == conversation_id,
            col(Message.direction) == MessageDirection.IN,
        )
        .order_by(col(Message.id))
    )
    async with database.session() as session:
        subject = await thread_subject(session, conversation_id)
        recent = (
            await session.exec(
                received.order_by(None).order_by(col(Message.id).desc()).limit(RECENT_MESSAGES)
            )
        ).all()
    answered = next(
        ((channel_id, meta) for channel_id, meta in recent if channel_id and not meta.get("automated")), None
    )
    if answered is None:
        return ReplyThread(subject, ())
    channel_id, meta = answered
    return ReplyThread(subject, tuple(dict.fromkeys([channel_id, *meta.get("replies_to", [])])))
