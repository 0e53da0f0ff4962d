"""The figures the reports read, recorded as things happen rather than recomputed from messages: time in the
queue, hand-overs, and which agent held a conversation when (their handle time).

Called inside the transaction of the change they record, on the conversation row that change holds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Conversation, HandlingSpan
from hub.statuses import ConversationStatus

__all__ = ["assignee_changing", "handed_over", "reopened", "resolving"]


def _close_wait(conversation: Conversation, now: datetime) -> None:
    """Add the wait that ends now to the conversation's time in queue."""
    entered = conversation.waiting_since or conversation.queued_at or conversation.created_at
    conversation.queue_seconds += max((now - entered).total_seconds(), 0.0)
    conversation.waiting_since = None


async def _end_spans(session: AsyncSession, conversation_id: str, now: datetime) -> None:
    await session.execute(
        update(HandlingSpan)
        .where(col(HandlingSpan.conversation_id) == conversation_id, col(HandlingSpan.ended_at).is_(None))
        .values(ended_at=now)
    )


async def assignee_changing(
    session: AsyncSession, conversation: Conversation, agent_id: str | None, now: datetime
) -> None:
    """Before the conversation goes to `agent_id` (None: back to the queue): a wait in the queue ends or starts,
    the previous agent's handling ends and the new one's begins."""
    if agent_id == conversation.assignee_id:
        return
    if conversation.assignee_id is not None:
        await _end_spans(session, conversation.id, now)
    elif conversation.status == ConversationStatus.QUEUED:
        _close_wait(conversation, now)
    if agent_id is None:
        conversation.waiting_since = now
    else:
        session.add(
            HandlingSpan(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                agent_id=agent_id,
                started_at=now,
            )
        )


def handed_over(conversation: Conversation, now: datetime, *, to_queue: bool) -> None:
    """The bot passed it to a person (`to_queue`: it starts waiting now) or an agent transferred it."""
    conversation.handoffs += 1
    if to_queue:
        conversation.waiting_since = now


async def resolving(session: AsyncSession, conversation: Conversation, now: datetime) -> None:
    """Before it is resolved: a wait still running is counted, and whoever held it stops handling it."""
    if conversation.assignee_id is not None:
        await _end_spans(session, conversation.id, now)
    elif conversation.status == ConversationStatus.QUEUED:
        _close_wait(conversation, now)


def reopened(session: AsyncSession, conversation: Conversation, now: datetime) -> None:
    """After a resolved conversation opened again: the agent it went back to handles it from now (a new span, so
    the time it lay resolved is not counted), or it waits in the queue from now."""
    if conversation.status == ConversationStatus.ASSIGNED and conversation.assignee_id is not None:
        session.add(
            HandlingSpan(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                agent_id=conversation.assignee_id,
                started_at=now,
            )
        )
    elif conversation.status == ConversationStatus.QUEUED:
        conversation.waiting_since = now
