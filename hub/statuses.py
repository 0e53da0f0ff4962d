"""The closed sets of values a row's status and kind columns hold, shared by the ORM rows and the API models.

StrEnums, so they compare and encode as the plain strings the API, the database and the README name.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AgentPresence",
    "AgentRole",
    "ConversationStatus",
    "InboundEventStatus",
    "InboxStatus",
    "MessageDirection",
    "MessageStatus",
    "SenderType",
    "TicketSource",
]


class ConversationStatus(StrEnum):
    """`queued`, `assigned` and `bot` are the three ways a conversation is open (waiting for an agent, with
    one, with the bot); hub.lifecycle maps them onto routing.lifecycle's open."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    PENDING = "pending"
    """Waiting on the customer."""
    SNOOZED = "snoozed"
    """Put aside until `snoozed_until`, then open again."""
    BOT = "bot"
    RESOLVED = "resolved"


class MessageDirection(StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"
    """Internal: agents see it, the customer never does."""


class SenderType(StrEnum):
    CONTACT = "contact"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    RECEIVED = "received"
    """An inbound message, stored."""
    STORED = "stored"
    """A note, which is never sent."""
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class InboundEventStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    DEAD = "dead"
    """Out of processing attempts: waits for an admin to retry or discard it."""
    DISCARDED = "discarded"


class InboxStatus(StrEnum):
    """Whether the hub can read a pull channel's source (a mailbox); a webhook channel's inbox is always active."""

    ACTIVE = "active"
    CONNECTING = "connecting"
    """Not read yet: its poller has not started, or is logging in for the first time."""
    RETRYING = "retrying"
    """The source failed for a reason that may pass (server down): read again at `status_retry_at`."""
    FAILED = "failed"
    """The source refuses the settings (wrong password, missing folder): nothing is read until they change."""


class AgentRole(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class AgentPresence(StrEnum):
    """Only online agents get conversations; away ones keep theirs, offline ones lose them to the queue."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class TicketSource(StrEnum):
    """What opened a ticket."""

    API = "api"
    """An agent or an integration, through the API."""
    EMAIL = "email"
    """A mail that starts a new thread, in an inbox that opens tickets for them."""
    OUT_OF_HOURS = "out_of_hours"
    """A customer's message while the inbox is closed, in an inbox whose out-of-hours action is `ticket`."""
    BOT_HANDOFF = "bot_handoff"
    """The bot handed the conversation over while no agent of the inbox was online with room."""
    CUSTOMER_MESSAGE = "customer_message"
    """A customer left a message (and an email to answer at) while nobody could chat: the widget's offline form."""
    BOT_REQUEST = "bot_request"
    """The customer asked the bot for a ticket ("open a ticket", 提交工单)."""
