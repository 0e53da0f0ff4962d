"""The shapes the hub answers agents and integrations in: REST bodies, agent WebSocket frames, outbox events.

One Struct per shape, used by the API, the sockets and the outbox alike, so the OpenAPI document describes
what every one of them sends. Customers (the web chat visitor) see shapes of their own, never these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from hub.statuses import (
    AgentPresence,
    AgentRole,
    ConversationStatus,
    InboundEventStatus,
    InboxStatus,
    MessageDirection,
    MessageStatus,
    SenderType,
    TicketSource,
)
from routing.sla import Priority, SlaMetric
from routing.tickets import TicketStatus

__all__ = [
    "AgentSummary",
    "AgentView",
    "ApiTokenCreated",
    "ApiTokenPage",
    "ApiTokenView",
    "AttachmentView",
    "BrowserSession",
    "CannedResponsePage",
    "CannedResponseView",
    "ChannelCapabilities",
    "ContactCreated",
    "ContactDetail",
    "ContactIdentityView",
    "ContactMerged",
    "ContactPage",
    "ContactPageViewed",
    "ContactRecord",
    "ContactSummary",
    "ContactUnmerged",
    "ContactUpdated",
    "ConversationAssigned",
    "ConversationCreated",
    "ConversationDetail",
    "ConversationHandedOff",
    "ConversationLabelsChanged",
    "ConversationPage",
    "ConversationRating",
    "ConversationReopened",
    "ConversationRequeued",
    "ConversationResolved",
    "ConversationSnoozed",
    "ConversationStatusChanged",
    "ConversationSummary",
    "ConversationTransferred",
    "ConversationView",
    "CsatSubmitted",
    "CustomerTyping",
    "IdentityView",
    "InboundEventPage",
    "InboundEventView",
    "InboxView",
    "LabelCount",
    "LabelPage",
    "LoginAnswer",
    "MeView",
    "MentionPage",
    "MentionView",
    "MentionsRead",
    "MergePreview",
    "MergeSuggestionView",
    "MergeUndone",
    "MessageCreated",
    "MessageEvent",
    "MessageFailed",
    "MessagePage",
    "MessageUpdated",
    "MessageView",
    "NoteDeleted",
    "NoteMentioned",
    "NotePage",
    "PageViewView",
    "PasswordChanged",
    "QueueEntry",
    "ReplyFormatView",
    "ReplyWindowView",
    "SocketError",
    "SocketFrame",
    "SocketPong",
    "SocketReady",
    "TeamView",
    "TicketCommentPage",
    "TicketCommentView",
    "TicketCommented",
    "TicketCreated",
    "TicketPage",
    "TicketSla",
    "TicketSlaBreached",
    "TicketUpdated",
    "TicketView",
    "TypingState",
    "UploadedFile",
    "WebhookAttemptView",
    "WebhookDeliveryPage",
    "WebhookDeliveryView",
    "WebhookEnvelope",
    "WebhookSubscriptionCreated",
    "WebhookSubscriptionPage",
    "WebhookSubscriptionView",
    "WorkspaceEvent",
]


class AgentSummary(msgspec.Struct):
    id: str
    name: str
    email: str | None
    role: AgentRole


class AgentView(AgentSummary):
    presence: AgentPresence
    max_concurrent: int
    """Open conversations routing gives this agent at most."""
    skills: list[str]
    team_ids: list[str]


class LoginAnswer(msgspec.Struct):
    access_token: str
    """Send as `Authorization: Bearer <access_token>`."""
    token_type: Literal["bearer"]
    agent: AgentSummary
    workspace_id: str


class BrowserSession(msgspec.Struct):
    """The agent inbox's signed-in session: the token itself stays in the HttpOnly cookie."""

    agent: AgentSummary
    workspace_id: str
    csrf_token: str
    """Send as the `X-CSRF-Token` header with every change made by the session cookie."""
    expires_at: datetime | None


class ApiTokenView(msgspec.Struct):
    """An integration's API token (never its secret)."""

    id: str
    name: str
    scopes: list[Literal["read", "write", "admin"]]
    created_at: datetime
    expires_at: datetime | None
    """Null: it stays valid until revoked."""


class ApiTokenCreated(ApiTokenView):
    token: str
    """Send as `Authorization: Bearer <token>`; shown in this answer only (the hub keeps its hash)."""


class ApiTokenPage(msgspec.Struct):
    items: list[ApiTokenView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class PasswordChanged(msgspec.Struct):
    revoked_sessions: int
    """The agent's other login sessions, now signed out."""


class MeView(msgspec.Struct):
    workspace_id: str
    agent: AgentSummary | None
    """None for an integration's API token that belongs to no agent."""


class ChannelCapabilities(msgspec.Struct):
    max_text_length: int | None
    reply_window_seconds: float | None
    """How long after a customer's message the channel accepts replies; None when it does not limit them."""
    max_replies_in_window: int | None
    typing: bool
    """Whether the customer can be shown that an agent is typing."""


class InboxView(msgspec.Struct, omit_defaults=True):
    """A connected channel. Besides these fields, the channel's public connection facts (e.g. `callback_url`,
    `widget_token`, `embed_snippet`) are answered at the top level; secret settings are masked as `********`."""

    id: str
    kind: str
    name: str
    settings: dict[str, Any]
    routing_strategy: str
    bot_enabled: bool
    reopen_window_hours: int
    """How long after resolving a customer's message reopens the conversation; later it starts a linked one."""
    created_at: datetime
    capabilities: ChannelCapabilities | None
    """None when the channel's connector is not installed."""
    status: InboxStatus
    """Whether the hub can read the channel: a pull channel (email) can be `connecting`, `retrying` or `failed`."""
    status_reason: str | None = None
    """Why it is retrying or failed, in words an admin can act on (naming the setting to fix)."""
    status_retry_at: datetime | None = None
    """When a retrying inbox is tried again."""
    connector_missing: bool = False
    """Present, and true, for an inbox whose connector is no longer installed."""


class ConversationRating(msgspec.Struct):
    """Customer satisfaction: how the customer rated the conversation once it was resolved."""

    rating: int
    """1 (very unsatisfied) to 5 (very satisfied)."""
    comment: str | None
    submitted_at: datetime


class ConversationView(msgspec.Struct):
    id: str
    inbox_id: str
    contact_id: str
    status: ConversationStatus
    assignee_id: str | None
    team_id: str | None
    priority: int
    last_message_at: datetime
    last_inbound_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    category: str | None
    """What it is about; with skill routing, only agents holding it as a skill take it."""
    queued_at: datetime | None
    """Since when it waits in the queue, when it re-entered it later than it was created (a transfer to a team)."""
    assigned_at: datetime | None
    """When its current agent got it; the inbox's answer timeout counts from here."""
    snoozed_until: datetime | None
    """When a snoozed conversation opens again."""
    previous_conversation_id: str | None
    """The resolved conversation this one follows (the customer wrote again after the inbox's reopen window)."""
    csat: ConversationRating | None
    """The customer's rating, once they gave it after the conversation was resolved."""
    labels: list[str]
    """Its labels, sorted: lower case, letters, digits, `-` and `_` (PUT /api/v1/conversations/{id}/labels)."""


class IdentityView(msgspec.Struct):
    """The customer as the channel knows them."""

    kind: str
    value: str
    scope: str


class ReplyWindowView(msgspec.Struct):
    ends_at: datetime | None
    """None when the channel does not limit when replies may be sent."""
    replies_remaining: int | None
    """None when the channel does not count replies."""


class ReplyFormatView(msgspec.Struct):
    subject: str | None
    """The subject line a reply goes out with, exactly as the channel sends it (email: the thread's subject with
    one `Re:`, or the inbox's name when the customer gave none). Null on channels whose messages carry none."""
    billed_per_sms_segment: bool
    """Each reply costs one SMS per segment (GSM-7 or UCS-2), so the composer counts segments as the agent types."""


class ConversationDetail(ConversationView):
    next_conversation_id: str | None
    """The conversation the customer started after this one was resolved and its reopen window had passed."""
    channel: str
    """The inbox's channel kind."""
    identity: IdentityView
    reply_window: ReplyWindowView
    recent_pages: list[PageViewView]
    """The pages the conversation's contact viewed, newest (the one they are on now) first: the contact as it is
    now, so a merge brings the other contact's pages and an erasure leaves none."""
    reply_subject: str | None
    """The subject replies carry on a channel that threads by reply (email): the customer's first message's, which
    the channel may prefix with `Re:` (the line as sent is `reply_format.subject`). Null on other channels, or when
    the customer gave none."""
    reply_format: ReplyFormatView
    """What a reply looks like on the conversation's channel, for the composer."""


class CannedResponseView(msgspec.Struct):
    id: str
    short_code: str
    content: str
    """Plain text: shown and sent as text, never as markup."""
    created_at: datetime
    updated_at: datetime


class CannedResponsePage(msgspec.Struct):
    items: list[CannedResponseView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class LabelCount(msgspec.Struct):
    label: str
    conversations: int
    """How many of the workspace's conversations carry it."""


class LabelPage(msgspec.Struct):
    items: list[LabelCount]
    """In label order."""
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class ConversationSummary(msgspec.Struct):
    """A row of the agent inbox's list."""

    contact_name: str | None
    last_message: str | None
    """The latest customer or agent message (not notes), masked, at most 140 characters; null before any."""
    last_message_direction: str | None


class ConversationPage(msgspec.Struct):
    items: list[ConversationView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""
    summaries: dict[str, ConversationSummary] = msgspec.field(default_factory=dict)
    """Per conversation id of `items`: the customer's name and the last message, for a list row."""


class AttachmentView(msgspec.Struct):
    kind: str
    url: str | None = None
    media_id: str | None = None
    """The channel's handle for the media until a worker has stored it at `url`."""
    mime_type: str | None = None
    name: str | None = None
    size: int | None = None
    meta: dict[str, Any] = {}


class MessageView(msgspec.Struct):
    id: str
    conversation_id: str
    direction: MessageDirection
    sender: SenderType
    sender_id: str | None
    content_type: str
    text: str
    attachments: list[AttachmentView]
    metadata: dict[str, Any]
    status: MessageStatus
    error: str | None
    """Why delivery failed (or is being retried), in words an agent can read."""
    delivery_attempts: int
    """Delivery attempts made so far."""
    next_attempt_at: datetime | None
    """When a waiting delivery retry is due; null when none waits."""
    created_at: datetime
    updated_at: datetime


class MessagePage(msgspec.Struct):
    items: list[MessageView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class NotePage(msgspec.Struct):
    items: list[MessageView]
    """Oldest first."""
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class UploadedFile(msgspec.Struct):
    url: str
    """What a reply's attachment names as its `url`."""
    name: str
    mime_type: str
    size: int


class TypingState(msgspec.Struct):
    typing: bool


class InboundEventView(msgspec.Struct):
    """An inbound event as an admin sees it: where it came from, how its processing went, the raw delivery."""

    id: str
    inbox_id: str
    channel: str
    status: InboundEventStatus
    attempts: int
    error: str | None
    """Why the last attempt failed."""
    received_at: datetime
    next_attempt_at: datetime | None
    message_id: str
    """The id the message gets once stored."""
    raw: str
    """The delivery as the channel sent it, with secrets removed by its connector."""


class TeamView(msgspec.Struct):
    id: str
    name: str
    agent_ids: list[str]
    created_at: datetime


class QueueEntry(msgspec.Struct):
    """A conversation waiting for an agent, in the order routing serves the queue."""

    position: int
    """1 is served first: higher VIP level, then higher priority, then the longest waiting."""
    vip_level: int
    """The customer's `vip_level` (the contact's)."""
    waiting_since: datetime
    conversation: ConversationView


class InboundEventPage(msgspec.Struct):
    items: list[InboundEventView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class TicketSla(msgspec.Struct):
    """Due times count only the inbox's business hours; null when the ticket's priority has no such target."""

    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_responded_at: datetime | None
    """The first agent reply in the ticket's conversation."""
    solved_at: datetime | None
    first_response_breached_at: datetime | None
    """When the breach was detected (and `ticket.sla_breached` emitted); null while none was."""
    resolution_breached_at: datetime | None


class TicketView(msgspec.Struct):
    id: str
    inbox_id: str
    conversation_id: str | None
    contact_id: str | None
    subject: str
    description: str
    summary: str
    """The automatic summary of the conversation it was opened from (who, what was asked, what was tried), quoted
    from its messages; empty for a ticket opened on an inbox."""
    status: TicketStatus
    priority: Priority
    assignee_id: str | None
    source: TicketSource
    sla: TicketSla
    created_at: datetime
    updated_at: datetime


class TicketCommentView(msgspec.Struct):
    id: str
    ticket_id: str
    author_type: Literal["agent", "api_token"]
    author_id: str | None
    """The agent's id; null for an integration's comment."""
    body: str
    public: bool
    """Also sent to the customer on the ticket's conversation, as the reply `message_id`."""
    message_id: str | None
    created_at: datetime


class TicketCommentPage(msgspec.Struct):
    items: list[TicketCommentView]
    """Oldest first."""
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class TicketPage(msgspec.Struct):
    items: list[TicketView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class WorkspaceEvent(msgspec.Struct, tag_field="type"):
    """A change in a workspace: stored in the outbox (without `type`, kept in its own column) and sent to the
    workspace's agent sockets."""


class ConversationCreated(WorkspaceEvent, tag="conversation.created"):
    conversation: ConversationView


class ConversationAssigned(WorkspaceEvent, tag="conversation.assigned"):
    conversation: ConversationView
    previous_assignee_id: str | None


class ConversationRequeued(WorkspaceEvent, tag="conversation.requeued"):
    """Taken from its agent (gone offline, or silent past the inbox's answer timeout): it waits in the queue."""

    conversation: ConversationView
    previous_assignee_id: str
    reason: Literal["agent_offline", "answer_timeout"]


class ConversationTransferred(WorkspaceEvent, tag="conversation.transferred"):
    """Handed to another agent, or to a team's queue, with a note for whoever picks it up."""

    conversation: ConversationView
    from_agent_id: str | None
    to_agent_id: str | None
    to_team_id: str | None
    note: str


class ConversationResolved(WorkspaceEvent, tag="conversation.resolved"):
    conversation: ConversationView


class ConversationLabelsChanged(WorkspaceEvent, tag="conversation.labels_changed"):
    """An agent or integration replaced the conversation's labels (a request that changes nothing sends nothing)."""

    conversation: ConversationView
    added: list[str]
    removed: list[str]


LifecycleStatus = Literal["open", "pending", "snoozed", "resolved"]
"""The conversation's life (routing.lifecycle); `queued`, `assigned` and `bot` all read as `open` here."""


class ConversationStatusChanged(WorkspaceEvent, tag="conversation.status_changed"):
    """The conversation moved between open, pending, snoozed and resolved (who holds it: `conversation.assigned`)."""

    conversation: ConversationView
    from_status: LifecycleStatus
    to_status: LifecycleStatus


class ConversationReopened(WorkspaceEvent, tag="conversation.reopened"):
    """A resolved conversation is open again: the customer wrote within the reopen window, or an agent reopened
    it or replied into it."""

    conversation: ConversationView
    by: Literal["customer", "agent"]


class ConversationSnoozed(WorkspaceEvent, tag="conversation.snoozed"):
    """Put aside until `until`, when it opens again by itself (or earlier, when the customer writes)."""

    conversation: ConversationView
    until: datetime


class ConversationHandedOff(WorkspaceEvent, tag="conversation.handed_off"):
    """The bot handed the conversation to a person: it waits for an agent (a note says what was asked)."""

    conversation: ConversationView


class CsatSubmitted(WorkspaceEvent, tag="csat.submitted"):
    """The customer rated a resolved conversation (once per conversation): `conversation.csat` holds the rating."""

    conversation: ConversationView


class ContactMerged(WorkspaceEvent, tag="contact.merged"):
    """Two contacts are one person: the merged contact's id now answers 410 pointing at the surviving one."""

    surviving_contact_id: str
    merged_contact_id: str
    audit_id: str
    """The audit entry recording what moved; `POST /api/v1/contacts/merges/{audit_id}/undo` undoes it."""
    reason: str


class MessageEvent(WorkspaceEvent):
    message: MessageView
    conversation: ConversationView


class MessageCreated(MessageEvent, tag="message.created"):
    pass


class MessageUpdated(MessageEvent, tag="message.updated"):
    pass


class NoteDeleted(WorkspaceEvent, tag="note.deleted"):
    """An internal note was deleted by its author or an admin: open inboxes drop it."""

    note_id: str
    conversation_id: str
    actor_type: Literal["agent", "api_token"]


class NoteMentioned(WorkspaceEvent, tag="note.mentioned"):
    """An internal note named agents of the workspace as "@Their Name" (its author excepted): each now has an
    unread mention of the conversation (`GET /api/v1/me/mentions`)."""

    note_id: str
    conversation_id: str
    author_id: str | None
    """The agent who wrote the note; null for an integration's token."""
    agent_ids: list[str]
    """The agents named, each once."""


class MentionView(msgspec.Struct):
    """A note of the caller's workspace that named the caller."""

    id: str
    conversation_id: str
    note_id: str
    author_id: str | None
    """The agent who wrote the note; null for an integration's token."""
    created_at: datetime
    read_at: datetime | None
    """When the caller opened the conversation after it; null while unread."""


class MentionPage(msgspec.Struct):
    items: list[MentionView]
    """Newest first."""
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class MentionsRead(msgspec.Struct):
    marked: int
    """How many of the caller's unread mentions in the conversation are now read."""


class MessageFailed(MessageEvent, tag="message.failed"):
    """An outgoing message will not reach the customer: no attempt is left, the channel refused it for good, or
    a delivery failure report came back. Recorded beside the `message.updated` of the same change."""

    reason: str
    """Why, as the agent reads it (also the message's `error`)."""


class TicketCreated(WorkspaceEvent, tag="ticket.created"):
    ticket: TicketView


class TicketCommented(WorkspaceEvent, tag="ticket.commented"):
    """A comment on a ticket; a public one was also sent to the customer (its `message.created` follows)."""

    ticket: TicketView
    comment: TicketCommentView


class TicketUpdated(WorkspaceEvent, tag="ticket.updated"):
    ticket: TicketView
    changed: list[str]
    """The fields that changed: `status`, `priority`, `assignee_id`, `subject`, `first_responded_at`."""
    previous_status: TicketStatus


class TicketSlaBreached(WorkspaceEvent, tag="ticket.sla_breached"):
    """A target passed unmet (or was met late): emitted once per ticket and metric."""

    ticket: TicketView
    metric: SlaMetric
    due_at: datetime


class WebhookEnvelope(msgspec.Struct):
    """The body of every webhook delivery; `data` is the event's payload as the agent socket receives it."""

    id: str
    """The event's id, stable across retries and replays (also the `webhook-id` header)."""
    type: str
    timestamp: datetime
    """When the change was committed."""
    version: int
    """The payload's version (1); raised only for a change a receiver could misread."""
    workspace_id: str
    sequence: int
    """Increases by one with each event dispatched to this subscription: a gap or a step back shows a delivery
    is missing or arrived out of order (retries can reorder them)."""
    data: dict[str, Any]


class WebhookSubscriptionView(msgspec.Struct):
    id: str
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    """Why the hub disabled the subscription (its deliveries kept failing); null otherwise."""
    created_at: datetime
    updated_at: datetime
    mask_sensitive: bool
    """Payloads are sent with the workspace's masking rules applied (card and ID numbers, its templates)."""


class WebhookSubscriptionCreated(WebhookSubscriptionView):
    secret: str
    """The signing secret (`whsec_` + base64): shown in this answer only."""


class WebhookSubscriptionPage(msgspec.Struct):
    items: list[WebhookSubscriptionView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class WebhookAttemptView(msgspec.Struct):
    at: datetime
    status_code: int | None
    """The receiver's HTTP status; null when no answer came (refused, timed out, unreachable)."""
    error: str | None
    duration_ms: int
    response: str
    """The start of the receiver's answer (at most 1 KiB)."""


class WebhookDeliveryView(msgspec.Struct):
    id: str
    event_id: str
    event_type: str
    sequence: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    """When the next attempt is due; null when none waits."""
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[WebhookAttemptView]
    """The latest attempts, oldest first (at most 20)."""


class WebhookDeliveryPage(msgspec.Struct):
    items: list[WebhookDeliveryView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class SocketFrame(msgspec.Struct, tag_field="type"):
    """A frame of the agent socket that is about the socket itself rather than the workspace."""


class SocketReady(SocketFrame, tag="ready"):
    workspace_id: str
    agent_id: str | None


class SocketPong(SocketFrame, tag="pong"):
    pass


class SocketError(SocketFrame, tag="error"):
    code: str
    detail: str


class ContactIdentityView(IdentityView):
    id: str
    verified: bool
    """Whether a trusted source (the channel, the business's signed identify call, an agent) vouches for it."""


class MergeSuggestionView(msgspec.Struct):
    """An unverified claim matching another contact: an agent decides whether they are one person."""

    id: str
    contact_id: str
    candidate_id: str
    kind: str
    value: str
    created_at: datetime


class ContactSummary(msgspec.Struct):
    id: str
    name: str | None
    tags: list[str]
    vip_level: int
    identities: list[ContactIdentityView]
    created_at: datetime


class PageViewView(msgspec.Struct):
    url: str
    """The page's address without its query string or fragment."""
    title: str
    referrer: str | None
    viewed_at: datetime


class ContactPageViewed(WorkspaceEvent, tag="contact.page_viewed"):
    """On the agents' socket only (not recorded in the outbox, not sent to webhooks): the page a visitor is on now."""

    contact_id: str
    page: PageViewView


class CustomerTyping(WorkspaceEvent, tag="conversation.customer_typing"):
    """On the agents' socket only (not recorded in the outbox, not sent to webhooks): the customer is typing in the
    conversation now (web chat). Sent at most every few seconds while they type; none says they stopped."""

    conversation_id: str


class ContactRecord(ContactSummary):
    """A contact as integrations receive it in events: its identities and what was written about it."""

    attributes: dict[str, Any]
    notes: str


class ContactDetail(ContactRecord):
    first_seen_at: datetime
    """The first conversation's start, or when the contact was created."""
    last_seen_at: datetime | None
    """The customer's last message on any channel."""
    merge_suggestions: list[MergeSuggestionView]
    conversations: ConversationPage
    """The first page of the timeline, most recent first; `GET /contacts/{id}/conversations` pages on."""
    tickets: TicketPage
    """The contact's newest tickets on every channel, with their status; `GET /tickets?contact_id=` pages on."""
    current_page: PageViewView | None
    """The page the visitor's browser last reported (web chat)."""
    recent_pages: list[PageViewView]
    """The pages the visitor's browser reported, newest first (at most 50 are kept)."""
    time_zone: str | None
    """The IANA time zone the browser gave: where the customer is, roughly."""
    language: str | None
    """The language tag the browser gave."""
    first_channel: str | None
    """The channel kind of the customer's first conversation (`webchat`, `email`, ...): where they came from."""


class ContactPage(msgspec.Struct):
    items: list[ContactSummary]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class MergePreview(msgspec.Struct):
    """What a merge moves (or moved) to the surviving contact, and its profile afterwards."""

    dry_run: bool
    surviving_contact_id: str
    merged_contact_id: str
    identity_ids: list[str]
    conversation_ids: list[str]
    ticket_ids: list[str]
    name: str | None
    attributes: dict[str, Any]
    """The surviving contact's attributes after the merge: its own values win."""
    overridden_attributes: dict[str, Any]
    """The merged contact's values that lost to the surviving contact's (kept in the audit entry)."""
    tags: list[str]
    vip_level: int
    audit_id: str | None
    """The audit entry to undo the merge from; null on a dry run."""


class MergeUndone(msgspec.Struct):
    surviving_contact_id: str
    restored_contact_id: str


class ContactCreated(WorkspaceEvent, tag="contact.created"):
    """A new contact: a customer's first message from an unknown identity, or one created through the API."""

    contact: ContactRecord
    actor_type: Literal["system", "agent", "api_token"]
    """Who created it: the hub on a customer's first message, an agent, or an integration's token (a CRM that
    syncs both ways can skip the contacts it created itself)."""


class ContactUpdated(WorkspaceEvent, tag="contact.updated"):
    """A contact's profile (name, attributes, tags, VIP level, notes) or identities were changed by an agent or
    an integration."""

    contact: ContactRecord
    changed: list[str]
    """The fields the request set: `name`, `attributes`, `tags`, `vip_level`, `notes`, `identities`."""
    actor_type: Literal["system", "agent", "api_token"]


class ContactUnmerged(WorkspaceEvent, tag="contact.unmerged"):
    """A merge was undone: the restored contact's id answers again, with its identities and conversations."""

    surviving_contact_id: str
    restored_contact_id: str
    merge_audit_id: str
    """The audit entry of the merge that was undone (the `audit_id` of its `contact.merged`)."""
