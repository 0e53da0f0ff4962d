"""The statuses rows move through, one StrEnum per kind of row.

Members are `str`s holding the values the database stores, so they compare equal to those strings,
serialise as them in JSON and need no migration.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ConversationStatus", "InboundEventStatus", "MessageStatus"]


class ConversationStatus(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    PENDING = "pending"
    RESOLVED = "resolved"


class MessageStatus(StrEnum):
    """A customer's message is `received`; a note is `stored`; a reply goes `pending` → `sending` → what the
    channel reports (`sent`, `delivered`, `read`) or `failed` with a reason."""

    RECEIVED = "received"
    STORED = "stored"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class InboundEventStatus(StrEnum):
    """`pending` (waiting, or failed and waiting for its next attempt), `processed`, `dead` (parked after its
    last attempt failed, or at once when it can never be stored) or `discarded` (by an admin, kept for audit)."""

    PENDING = "pending"
    PROCESSED = "processed"
    DEAD = "dead"
    DISCARDED = "discarded"
