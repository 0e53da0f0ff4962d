"""The unified model as database tables. Every row but the shared store belongs to one workspace."""

from __future__ import annotations

import copy
import functools
from collections.abc import Hashable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlmodel import Field, SQLModel

from hub.ids import new_id
from hub.statuses import ConversationStatus, InboundEventStatus, InboxStatus, MessageStatus, TicketSource
from routing.out_of_hours import OutOfHoursAction
from routing.sla import Priority
from routing.tickets import TicketStatus

__all__ = [
    "Agent",
    "ApiToken",
    "AuditEntry",
    "BotTurn",
    "CannedResponse",
    "Contact",
    "Conversation",
    "ConversationLabel",
    "HandlingSpan",
    "IdempotentRequest",
    "Identity",
    "InboundEvent",
    "Inbox",
    "InboxService",
    "KbArticle",
    "KbOutOfScopeExample",
    "Lease",
    "Mention",
    "MergeSuggestion",
    "Message",
    "OutboxEvent",
    "PollState",
    "SharedValue",
    "StoredFile",
    "Team",
    "TeamMember",
    "Ticket",
    "TicketComment",
    "WebhookDelivery",
    "WebhookSubscription",
    "Workspace",
    "WorkspaceBot",
    "row_values",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def row_values(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """Every column of a new row of `model`: the values given, the model's defaults for the rest.

    Rows written by a bulk INSERT (`session.execute(insert(Model), rows)`) skip the model's constructor,
    which costs 70-110 µs per Message; an INSERT of dicts gets no default of the model's own.
    """
    unknown = values.keys() - model.model_fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    factories, defaults = _defaults_of(model)
    row = defaults | values
    for name, factory in factories:
        if name not in values:
            row[name] = factory()
    return row


@functools.cache
def _defaults_of(model: type[SQLModel]) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """The model's default factories, and its fields' plain defaults (a mutable one is copied for each row)."""
    factories: list[tuple[str, Any]] = []
    defaults: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            factories.append((name, field.default_factory))
        elif field.default is not PydanticUndefined:
            if isinstance(field.default, Hashable):
                defaults[name] = field.default
            else:
                factories.append((name, functools.partial(copy.deepcopy, field.default)))
    return factories, defaults


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StatusColumn(TypeDecorator):
    """A status stored as its string (the column stays a VARCHAR) and read back as its StrEnum member.

    Values are written as given, so a filter on an unknown status finds nothing rather than failing.
    """

    impl = String
    cache_ok = True

    def __init__(self, statuses: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.statuses = statuses

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> StrEnum | None:
        return None if value is None else self.statuses(value)


def _status(default: StrEnum, length: int) -> Any:
    return Field(default=default, sa_type=StatusColumn(type(default), length), nullable=False)


INBOUND_PENDING = "status = 'pending'"
INBOUND_PARKED = "status IN ('dead', 'discarded')"
OUTBOUND_IN_FLIGHT = "status IN ('pending', 'sending')"
SNOOZED = "status = 'snoozed'"
QUEUED = "status = 'queued'"
SENT_WITH_CHANNEL_ID = "direction = 'out' AND channel_message_id IS NOT NULL"


def _only_where(condition: str) -> dict[str, Any]:
    """A partial index: rows leave it when their work is done, so the common write (a message received,
    an event processed) adds no entry to it and it stays as small as the work in flight."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


def _trigram_search(name: str, expression: str) -> Index:
    """A pg_trgm GIN index over `expression`, which serves `LIKE '%…%'` on it (hub.search says the same
    expression). Migration 0023 creates it on PostgreSQL only: SQLite search scans."""
    label = f"{name}_expression"
    return Index(
        name,
        literal_column(expression).label(label),
        postgresql_using="gin",
        postgresql_ops={label: "gin_trgm_ops"},
        postgresql_with={"fastupdate": "off"},
    )


def _id() -> Any:
    return Field(default_factory=new_id, primary_key=True, max_length=36)


def _workspace(*, index: bool = True) -> Any:
    """Every row belongs to a workspace. Tables whose unique or listing index starts with workspace_id
    pass index=False: a second index on the same leading column costs each insert and serves no query."""
    return Field(foreign_key="workspace.id", index=index, max_length=36)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Workspace(SQLModel, table=True):
    id: str = _id()
    name: str
    kb_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Bumped in the transaction of every knowledge-base change: each process rebuilds its index when it sees
    a version other than the one it built (hub.knowledge_base)."""
    default_region: str = Field(default="US", max_length=2, sa_column_kwargs={"server_default": "US"})
    """The ISO 3166 region a phone number written without its country code is read in."""
    masking: dict[str, Any] = _json(dict)
    """`card_numbers`, `china_resident_ids` (both on unless false) and `templates`: what agents, live events and
    masked webhooks see masked (normalizer.masking.MaskingRules)."""
    created_at: datetime = _created()


class Agent(SQLModel, table=True):
    id: str = _id()
    workspace_id: str = _workspace()
    email: str = Field(unique=True, max_length=320)
    name: str
    password_hash: str
    role: str = "agent"
    max_concurrent: int = 10
    presence: str = "offline"
    skills: list[str] = _json(list)
    """The conversation categories this agent handles (routing's skill match)."""
    shifts: dict[str, Any] = _json(dict)
    """`{"time_zone", "weekly", "closed_dates"}` as routing.config.schedule_from_config reads it; empty: no shifts,
    always available."""
    created_at: datetime = _created()


class Team(SQLModel, table=True):
    """Agents who share an inbox's conversations: an inbox's routing may name one."""

    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_team_name"),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    name: str = Field(max_length=100)
    created_at: datetime = _created()


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_member"
    team_id: str = Field(foreign_key="team.id", primary_key=True, max_length=36)
    agent_id: str = Field(foreign_key="agent.id", primary_key=True, max_length=36, index=True)
    workspace_id: str = _workspace()


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: str = _id()
    workspace_id: str = _workspace()
    agent_id: str | None = Field(default=None, foreign_key="agent.id")
    name: str
    token_hash: str = Field(unique=True, max_length=64)
    scopes: list[str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    """`read`, `write`, `admin` for an integration's token; None for an agent's, whose role decides."""
    created_at: datetime = _created()
    expires_at: datetime | None = _when()
    last_used_at: datetime | None = _when()


class Inbox(SQLModel, table=True):
    id: str = _id()
    workspace_id: str = _workspace()
    kind: str = Field(max_length=40)
    name: str
    public_token: str = Field(unique=True, max_length=64)
    settings: dict[str, Any] = _json(dict)
    routing_strategy: str = "least_busy"
    bot_enabled: bool = False
    bot_settings: dict[str, Any] = _json(dict)
    """How the bot behaves in this inbox's conversations (hub.bot.BotSettings); empty means the defaults."""
    routing: dict[str, Any] = _json(dict)
    """routing.config's policy settings besides the strategy (team, skill, weights, fallback, answer timeout)."""
    routing_webhook: dict[str, Any] = _json(dict)
    """The external routing service's `url`, `timeout_seconds` and sealed signing `secret` (hub.assignment)."""
    reopen_window_hours: int = Field(default=168, sa_column_kwargs={"server_default": "168"})
    """How long after resolving a customer's message reopens the conversation; later it starts a linked one."""
    created_at: datetime = _created()


class Contact(SQLModel, table=True):
    __table_args__ = (
        Index(
            "ix_contact_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}
        ),
    )
    """Search by any part of a name (`ILIKE '%…%'`) reads the trigram index on PostgreSQL (pg_trgm); where the
    extension cannot be created the migration makes a plain index of the same name, and search scans."""
    id: str = _id()
    workspace_id: str = _workspace()
    name: str | None = None
    attributes: dict[str, Any] = _json(dict)
    tags: list[str] = _json(list)
    vip_level: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    notes: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    merged_into: str | None = Field(default=None, foreign_key="contact.id")
    time_zone: str | None = Field(default=None, max_length=64)
    """The IANA time zone the customer's browser last gave (where they are, roughly)."""
    language: str | None = Field(default=None, max_length=35)
    """The language tag the customer's browser last gave."""
    erased_at: datetime | None = _when()
    """When the customer's personal data and messages were erased on request (hub.erasure); the row stays as
    the anonymous owner of its conversations, which reports count."""
    created_at: datetime = _created()
    updated_at: datetime = _created()


class PageView(SQLModel, table=True):
    """A page the customer's browser reported (hub.journey): the newest MAX_PAGES per contact are kept."""

    __tablename__ = "page_view"
    __table_args__ = (Index("ix_page_view_contact", "contact_id", "id"),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    contact_id: str = Field(foreign_key="contact.id", max_length=36)
    url: str = Field(sa_type=Text)
    title: str = Field(default="", max_length=300)
    referrer: str | None = Field(default=None, sa_type=Text)
    viewed_at: datetime = _created()


class MergeSuggestion(SQLModel, table=True):
    """An unverified claim (an email typed into the chat) that matches another contact: an agent decides, the
    hub never merges on it. One per pair, whichever way round it was claimed."""

    __tablename__ = "merge_suggestion"
    __table_args__ = (UniqueConstraint("contact_id", "candidate_id", name="uq_merge_suggestion"),)
    id: str = _id()
    workspace_id: str = _workspace()
    contact_id: str = Field(foreign_key="contact.id", max_length=36)
    """The contact that made the claim."""
    candidate_id: str = Field(foreign_key="contact.id", max_length=36)
    """The contact the claimed identity belongs to."""
    kind: str = Field(max_length=40)
    value: str = Field(max_length=320)
    created_at: datetime = _created()


class Identity(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("workspace_id", "kind", "scope", "value", name="uq_identity"),
        Index("ix_identity_value", "workspace_id", "value"),
    )
    """`ix_identity_value` serves contact search, which knows a value (and maybe its kind) but not its scope."""
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    contact_id: str = Field(foreign_key="contact.id", index=True)
    kind: str = Field(max_length=40)
    value: str = Field(max_length=320)
    scope: str = Field(default="", max_length=100)
    verified: bool = False
    created_at: datetime = _created()


class Conversation(SQLModel, table=True):
    __table_args__ = (
        Index("ix_conversation_listing", "workspace_id", "last_message_at", "id"),
        Index("ix_conversation_identity", "identity_id", "status"),
        Index("ix_conversation_snoozed", "snoozed_until", **_only_where(SNOOZED)),
        Index("ix_conversation_queued", "workspace_id", **_only_where(QUEUED)),
    )
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    inbox_id: str = Field(foreign_key="inbox.id")
    contact_id: str = Field(foreign_key="contact.id", index=True)
    identity_id: str = Field(foreign_key="identity.id")
    status: ConversationStatus = _status(ConversationStatus.QUEUED, 20)
    assignee_id: str | None = Field(default=None, foreign_key="agent.id", index=True)
    team_id: str | None = None
    """The team a transfer chose: only its agents take the conversation from the queue."""
    priority: int = 0
    category: str | None = Field(default=None, max_length=100)
    """What the conversation is about; with skill routing, only agents holding it as a skill take it."""
    queued_at: datetime | None = _when()
    """Since when it waits for an agent (the queue's order among equals); None while someone has it."""
    assigned_at: datetime | None = _when()
    """When its agent got it: the inbox's answer timeout counts from here."""
    avoid_agent_ids: list[str] = _json(list)
    """Agents it was taken from for not answering: automatic routing does not hand it back to them."""
    last_message_at: datetime = _created()
    last_inbound_at: datetime | None = _when()
    reply_window_ends_at: datetime | None = _when()
    """When the channel stops accepting replies (None: no time limit, or no customer action yet)."""
    replies_remaining: int | None = None
    """Replies the channel still accepts in the window (None: no count limit, or no customer action yet)."""
    first_response_at: datetime | None = _when()
    """The first reply by an agent (the bot's replies do not count: `bot_replied`)."""
    resolved_at: datetime | None = _when()
    snoozed_until: datetime | None = _when()
    """When a snoozed conversation opens again (the sweeper wakes it)."""
    previous_conversation_id: str | None = Field(default=None, foreign_key="conversation.id")
    """The resolved conversation this one follows: the customer wrote again after its inbox's reopen window."""
    created_at: datetime = _created()
    waiting_since: datetime | None = _when()
    """When it last entered the queue after the bot or an agent had it (None: since `queued_at` or creation)."""
    queue_seconds: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    """Time spent waiting for an agent so far, re-routes included (reports' time in queue)."""
    handoffs: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Times it was handed over: from the bot to a person, and transfers."""
    bot_replied: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    csat_rating: int | None = None
    """The customer's rating, 1 to 5, given once after it was resolved."""
    csat_comment: str | None = Field(default=None, sa_type=Text)
    csat_at: datetime | None = _when()
    labels: list[str] = _json(list)
    """The conversation's labels, as its view shows them; `ConversationLabel` rows index the same set."""


class ConversationLabel(SQLModel, table=True):
    """One label on one conversation: what the list filters by and the workspace's label counts group by."""

    __tablename__ = "conversation_label"
    __table_args__ = (Index("ix_conversation_label_workspace", "workspace_id", "label"),)
    conversation_id: str = Field(foreign_key="conversation.id", primary_key=True, max_length=36)
    label: str = Field(primary_key=True, max_length=40)
    workspace_id: str = _workspace(index=False)


class HandlingSpan(SQLModel, table=True):
    """A stretch during which one agent held one conversation, from assignment to resolution or hand-over: an
    agent's average handle time sums them per conversation."""

    __tablename__ = "handling_span"
    __table_args__ = (
        Index("ix_handling_span_workspace", "workspace_id", "started_at"),
        Index("ix_handling_span_conversation", "conversation_id", "ended_at"),
    )
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    conversation_id: str = Field(foreign_key="conversation.id", max_length=36)
    agent_id: str = Field(foreign_key="agent.id", max_length=36)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = _when()


class Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key", name="uq_message_dedupe"),
        Index("ix_message_conversation", "conversation_id", "id"),
        Index("ix_message_delivery", "status", "next_attempt_at", **_only_where(OUTBOUND_IN_FLIGHT)),
        Index("ix_message_sent_channel_id", "channel_message_id", **_only_where(SENT_WITH_CHANNEL_ID)),
        _trigram_search("ix_message_text_search", "lower(text)"),
        _trigram_search("ix_message_subject_search", "lower(meta ->> 'subject')"),
    )
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    conversation_id: str = Field(foreign_key="conversation.id")
    direction: str = Field(max_length=8)
    sender_type: str = Field(max_length=10)
    sender_id: str | None = Field(default=None, max_length=36)
    content_type: str = Field(default="text", max_length=20)
    text: str = Field(default="", sa_type=Text)
    attachments: list[dict[str, Any]] = _json(list)
    meta: dict[str, Any] = _json(dict)
    channel_message_id: str | None = Field(default=None, max_length=200)
    dedupe_key: str | None = Field(default=None, max_length=300)
    status: MessageStatus = _status(MessageStatus.RECEIVED, 12)
    error: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime | None = _when()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Mention(SQLModel, table=True):
    """An agent named as "@Their Name" in an internal note: one row per agent and note, unread until the agent
    opens the conversation. Deleted with its note."""

    __table_args__ = (
        UniqueConstraint("note_id", "agent_id", name="uq_mention_note_agent"),
        Index("ix_mention_agent", "agent_id", "id"),
    )
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    agent_id: str = Field(foreign_key="agent.id", max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", max_length=36)
    note_id: str = Field(max_length=36)
    """The note's message id; not a foreign key, as the row is written in the note's own flush, which does not
    order the inserts. The note's deletion deletes its mentions."""
    author_id: str | None = Field(default=None, max_length=36)
    """The agent who wrote the note (none for an integration's token)."""
    created_at: datetime = _created()
    read_at: datetime | None = _when()


class InboundEvent(SQLModel, table=True):
    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("inbox_id", "dedupe_key", name="uq_inbound_dedupe"),
        Index("ix_inbound_pending", "received_at", **_only_where(INBOUND_PENDING)),
        Index("ix_inbound_parked", "workspace_id", "status", "id", **_only_where(INBOUND_PARKED)),
    )
    id: str = _id()
    workspace_id: str = _workspace()
    inbox_id: str = Field(foreign_key="inbox.id")
    dedupe_key: str = Field(max_length=300)
    message_id: str = Field(max_length=36)
    """The id the message gets once processed, known at accept time so the sender can be told it."""
    message: str = Field(sa_type=Text)
    raw: str = Field(default="", sa_type=Text)
    status: InboundEventStatus = _status(InboundEventStatus.PENDING, 12)
    error: str | None = Field(default=None, sa_type=Text)
    """Why the last attempt failed."""
    attempts: int = 0
    received_at: datetime = _created()
    enqueued_at: datetime | None = _when()
    next_attempt_at: datetime | None = _when()
    """When a failed event is tried again."""
    processed_at: datetime | None = _when()


OUTBOX_UNDISPATCHED = "dispatched_at IS NULL"
WEBHOOK_DUE = "status = 'pending'"


class OutboxEvent(SQLModel, table=True):
    """A domain event written in its change's transaction; the webhook dispatcher (hub.webhooks) reads those not yet
    dispatched through the partial index, which a row leaves once dispatched."""

    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_undispatched", "id", **_only_where(OUTBOX_UNDISPATCHED)),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    event_type: str = Field(max_length=60)
    subject_id: str = Field(max_length=36)
    payload: dict[str, Any] = _json(dict)
    created_at: datetime = _created()
    dispatched_at: datetime | None = _when()


class WebhookSubscription(SQLModel, table=True):
    """Where a workspace's integration (a CRM) wants its events POSTed, signed with its secret (sealed at rest)."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_listing", "workspace_id", "id"),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    url: str = Field(sa_type=Text)
    events: list[str] = _json(list)
    secret: str = Field(sa_type=Text)
    """The signing secret `whsec_...`, sealed (hub.crypto.SecretBox)."""
    previous_secret: str | None = Field(default=None, sa_type=Text)
    """The secret before the last rotation, sealed: deliveries are signed with both until `previous_secret_until`."""
    previous_secret_until: datetime | None = _when()
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, sa_type=Text)
    """Why the hub disabled the subscription (its deliveries kept failing); None when enabled or disabled by hand."""
    mask_sensitive: bool = False
    """Payloads sent masked with the workspace's masking rules (card and ID numbers, its templates)."""
    last_sequence: int = 0
    """The `sequence` of the last event dispatched to it: each event it is sent carries the next one."""
    retry_at: datetime | None = _when()
    """Set while its receiver fails: when one delivery is tried again. Until then none of its deliveries is sent,
    and none is rewritten however many wait (hub.webhooks)."""
    created_at: datetime = _created()
    updated_at: datetime = _created()


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: its attempts so far (a bounded log) and when the next is due."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_event"),
        Index("ix_webhook_delivery_listing", "subscription_id", "id"),
        Index("ix_webhook_delivery_due", "next_attempt_at", **_only_where(WEBHOOK_DUE)),
        Index("ix_webhook_delivery_claim", "subscription_id", "sequence", **_only_where(WEBHOOK_DUE)),
    )
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    subscription_id: str = Field(foreign_key="webhook_subscription.id", max_length=36)
    event_id: str = Field(max_length=36)
    """The outbox event's id: the `webhook-id` of every attempt, replays included."""
    event_type: str = Field(max_length=60)
    sequence: int
    body: str = Field(sa_type=Text)
    """The exact JSON sent (the signature covers it), the same on every attempt."""
    status: str = Field(default="pending", max_length=12)
    attempts: int = 0
    log: list[dict[str, Any]] = _json(list)
    """The latest attempts: when, status code or error, duration, the start of the answer."""
    next_attempt_at: datetime | None = _when()
    give_up_at: datetime | None = _when()
    """After this a failed attempt fails the delivery (and disables its subscription); a replay moves it."""
    created_at: datetime = _created()
    delivered_at: datetime | None = _when()


class IdempotentRequest(SQLModel, table=True):
    """The first answer to a POST sent with an `Idempotency-Key`, replayed to a repeat of that request."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("token_hash", "key", name="uq_idempotent_request"),)
    id: str = _id()
    token_hash: str = Field(max_length=64)
    """Keys belong to the API token that sent them: another token's key of the same text is another key."""
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    """SHA-256 of the method, path and body: a different request under the same key is refused."""
    status_code: int | None = None
    """None while the first request is being answered."""
    content_type: str | None = Field(default=None, max_length=120)
    body: bytes = Field(default=b"", sa_type=LargeBinary)
    created_at: datetime = _created()


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    id: str = _id()
    workspace_id: str = _workspace()
    actor_type: str
    actor_id: str | None = None
    action: str
    subject_type: str
    subject_id: str
    details: dict[str, Any] = _json(dict)
    created_at: datetime = _created()


class CannedResponse(SQLModel, table=True):
    """A reply an agent inserts by its short code; plain text, written by admins."""

    __tablename__ = "canned_response"
    __table_args__ = (UniqueConstraint("workspace_id", "short_code", name="uq_canned_response_short_code"),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    short_code: str = Field(max_length=40)
    content: str = Field(sa_type=Text)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class KbArticle(SQLModel, table=True):
    """A knowledge-base article: one answer and the ways customers ask for it."""

    __tablename__ = "kb_article"
    __table_args__ = (Index("ix_kb_article_listing", "workspace_id", "id"),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    title: str = Field(max_length=200)
    questions: list[str] = _json(list)
    answer: str = Field(sa_type=Text)
    locale: str = Field(default="", max_length=35)
    tags: list[str] = _json(list)
    enabled: bool = True
    created_at: datetime = _created()
    updated_at: datetime = _created()


class KbOutOfScopeExample(SQLModel, table=True):
    """A question the business does not want the bot to answer: with the semantic re-ranker on, a question more
    similar to one of these than to any article is abstained on. One row per text in a workspace."""

    __tablename__ = "kb_out_of_scope_example"
    __table_args__ = (UniqueConstraint("workspace_id", "text", name="uq_kb_out_of_scope_example_text"),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    text: str = Field(max_length=500)
    locale: str = Field(default="", max_length=35)
    created_at: datetime = _created()


class BotTurn(SQLModel, table=True):
    """What the bot did with one customer message. Unique per message: the bot answers each message once,
    and its last turns tell it the suggestions it offered and how many times in a row it could not answer."""

    __tablename__ = "bot_turn"
    __table_args__ = (Index("ix_bot_turn_conversation", "conversation_id", "id"),)
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    conversation_id: str = Field(foreign_key="conversation.id")
    message_id: str = Field(unique=True, max_length=36)
    """The customer's message this turn answers."""
    decision: str = Field(max_length=12)
    """`answer`, `suggest`, `abstain`, `handoff`, or `silent` (an automatic message, or an agent holds the conversation)."""
    article_id: str | None = Field(default=None, max_length=36)
    suggestions: list[dict[str, Any]] = _json(list)
    """The `{"article_id", "title", "score"}` offered as a numbered list, in order."""
    created_at: datetime = _created()


class WorkspaceBot(SQLModel, table=True):
    """A workspace's bot-wide settings: the business's synonym groups and its engines' endpoints (secrets sealed)."""

    __tablename__ = "workspace_bot"
    workspace_id: str = Field(foreign_key="workspace.id", primary_key=True, max_length=36)
    synonyms: list[list[str]] = _json(list)
    """Groups of terms the knowledge-base engine treats as one; a change bumps `Workspace.kb_version`."""
    llm: dict[str, Any] = _json(dict)
    """The LLM engine's `base_url`, `model`, `timeout_seconds` and sealed `api_key` (hub.bot_engines)."""
    webhook: dict[str, Any] = _json(dict)
    """The external bot's `url`, `timeout_seconds` and sealed signing `secret` (hub.bot_engines)."""


class StoredFile(SQLModel, table=True):
    """An attachment's bytes: media a customer sent (copied before the channel deletes it) or an agent's upload."""

    __tablename__ = "stored_file"
    id: str = Field(primary_key=True, max_length=40)
    """Random and unguessable: the download URL is the capability to read the file."""
    workspace_id: str = _workspace()
    name: str = Field(max_length=120)
    mime_type: str = Field(max_length=120)
    size: int
    content: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _created()


class SharedValue(SQLModel, table=True):
    """Connector state every process shares (encrypted), e.g. a channel API access token."""

    __tablename__ = "shared_value"
    key: str = Field(primary_key=True, max_length=200)
    value: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Lease(SQLModel, table=True):
    """A lock one process of the deployment holds until `expires_at`."""

    key: str = Field(primary_key=True, max_length=200)
    holder: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class PollState(SQLModel, table=True):
    """Where the hub reads a pull channel's source (a mailbox) from, and whether it can: one row per polled inbox."""

    __tablename__ = "poll_state"
    inbox_id: str = Field(foreign_key="inbox.id", primary_key=True, max_length=36)
    workspace_id: str = _workspace(index=False)
    cursor: str | None = Field(default=None, sa_type=Text)
    """The connector's position (PollResult.cursor), saved after the batch before it was accepted."""
    status: InboxStatus = _status(InboxStatus.CONNECTING, 12)
    status_reason: str | None = Field(default=None, sa_type=Text)
    status_retry_at: datetime | None = _when()
    failures: int = 0
    """Failed attempts in a row, for the backoff."""
    updated_at: datetime = _created()


class InboxService(SQLModel, table=True):
    """An inbox's service promises: its business hours, what a customer hears out of them, and the SLA targets of
    its tickets. No row means always open, no out-of-hours message, no SLA (hub.tickets.ServiceLevel)."""

    __tablename__ = "inbox_service"
    inbox_id: str = Field(foreign_key="inbox.id", primary_key=True, max_length=36)
    workspace_id: str = _workspace(index=False)
    business_hours: dict[str, Any] = _json(dict)
    """`{"time_zone", "weekly", "closed_dates"}` as routing.config.schedule_from_config reads it; empty: always open."""
    out_of_hours_message: str = Field(default="", sa_type=Text)
    out_of_hours_action: OutOfHoursAction = _status(OutOfHoursAction.WAIT, 12)
    sla_targets: dict[str, Any] = _json(dict)
    """Business minutes per priority, as routing.config.sla_policy_from_config reads them."""
    updated_at: datetime = _created()


class Ticket(SQLModel, table=True):
    """Follow-up work with a status, a priority, an assignee and SLA due times counted in its inbox's business hours.

    `sla_check_at` is the next instant a target can be breached (None when none can): the SLA watch reads only
    tickets whose time has come. A `*_breached_at` is set once, by the update that emits the breach."""

    __table_args__ = (
        Index("ix_ticket_listing", "workspace_id", "id"),
        Index("ix_ticket_sla_check", "sla_check_at"),
        Index("ix_ticket_contact", "contact_id", "id"),
    )
    id: str = _id()
    workspace_id: str = _workspace(index=False)
    inbox_id: str = Field(foreign_key="inbox.id")
    conversation_id: str | None = Field(default=None, foreign_key="conversation.id", index=True)
    contact_id: str | None = Field(default=None, foreign_key="contact.id")
    subject: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    summary: str = Field(default="", sa_type=Text)
    """Of the conversation it was opened from, at the time: who, what was asked, what was tried."""
    status: TicketStatus = _status(TicketStatus.NEW, 12)
    priority: Priority = _status(Priority.NORMAL, 12)
    assignee_id: str | None = Field(default=None, foreign_key="agent.id")
    source: TicketSource = _status(TicketSource.API, 20)
    first_response_due_at: datetime | None = _when()
    resolution_due_at: datetime | None = _when()
    first_responded_at: datetime | None = _when()
    solved_at: datetime | None = _when()
    first_response_breached_at: datetime | None = _when()
    resolution_breached_at: datetime | None = _when()
    sla_check_at: datetime | None = _when()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class TicketComment(SQLModel, table=True):
    """A comment on a ticket: internal, or public and then also sent to the customer as the reply `message_id`."""

    __tablename__ = "ticket_comment"
    __table_args__ = (Index("ix_ticket_comment_ticket", "ticket_id", "id"),)
    id: str = _id()
    workspace_id: str = _workspace()
    ticket_id: str = Field(foreign_key="ticket.id")
    author_type: str = Field(max_length=10)
    """`agent`, or `api_token` for an integration's."""
    author_id: str | None = Field(default=None, max_length=36)
    body: str = Field(sa_type=Text)
    public: bool = False
    message_id: str | None = Field(default=None, max_length=36)
    """The reply that carried a public comment to the customer."""
    created_at: datetime = _created()
