"""Reply windows and quotas kept on the conversation row, so every process sees the same count.

The window a customer's action opens comes from the connector (per message) or the channel's
capabilities; normalizer.reply_window decides how it widens, this module stores and spends it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import update
from sqlmodel import col

from connectors import Capabilities
from hub.db import Database
from hub.models import Conversation
from normalizer import InboundMessage, ReplyWindow

__all__ = ["ReplyQuota", "WindowedConversation", "record_customer_action", "reply_window"]


class WindowedConversation(Protocol):
    """What a reply window is kept on: a stored conversation, or one a batch of messages is about to insert."""

    created_at: datetime
    last_inbound_at: datetime | None
    reply_window_ends_at: datetime | None
    replies_remaining: int | None


def reply_window(capabilities: Capabilities, conversation: WindowedConversation) -> ReplyWindow:
    """The conversation's window; before any customer action it is closed where the channel limits replies."""
    if conversation.reply_window_ends_at is None and conversation.replies_remaining is None:
        return ReplyWindow.closed(capabilities.reply_allowance, conversation.created_at)
    return ReplyWindow(conversation.reply_window_ends_at, conversation.replies_remaining)


def record_customer_action(
    conversation: WindowedConversation, capabilities: Capabilities, message: InboundMessage
) -> None:
    """A message (or an event such as a menu click) opens or widens the window the business may answer in."""
    conversation.last_inbound_at = message.sent_at
    if not message.opens_reply_window:
        return
    allowance = message.reply_allowance or capabilities.reply_allowance
    window = reply_window(capabilities, conversation).widened(allowance, message.sent_at)
    conversation.reply_window_ends_at = window.ends_at
    conversation.replies_remaining = window.replies_remaining


class ReplyQuota:
    """The replies left in the conversation's window, spent with a guarded UPDATE.

    A message reserves the parts it needs before it is sent (so two workers cannot both take the
    last reply) and gives them back only when it fails for good.
    """

    def __init__(self, database: Database, capabilities: Capabilities, conversation_id: str) -> None:
        self._database = database
        self._limited = capabilities.max_replies_in_window is not None
        self._conversation_id = conversation_id

    async def reserve(self, parts: int) -> str | None:
        """Take `parts` replies, or answer why the channel would refuse them."""
        if not self._limited:
            return None
        async with self._database.session() as session:
            taken = await session.exec(
                update(Conversation)
                .where(
                    col(Conversation.id) == self._conversation_id,
                    col(Conversation.replies_remaining) >= parts,
                )
                .values(replies_remaining=col(Conversation.replies_remaining) - parts)
            )
            await session.commit()
            if taken.rowcount == 1:
                return None
            remaining = (await session.get_one(Conversation, self._conversation_id)).replies_remaining or 0
        if remaining == 0:
            return "The channel allows no more replies until the customer writes again."
        return (
            f"The channel allows {remaining} more {'reply' if remaining == 1 else 'replies'} until the customer "
            f"writes again, and this message needs {parts}; shorten it or wait for the customer."
        )

    async def release(self, parts: int) -> None:
        if not self._limited:
            return
        async with self._database.session() as session:
            await session.exec(
                update(Conversation)
                .where(
                    col(Conversation.id) == self._conversation_id,
                    col(Conversation.replies_remaining).is_not(None),
                )
                .values(replies_remaining=col(Conversation.replies_remaining) + parts)
            )
            await session.commit()
