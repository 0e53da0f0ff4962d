"""The connector contract: what the hub asks of every channel, and what it gives back.

The hub owns HTTP routes, storage and queues; a connector owns the channel's rules:
verifying and parsing what the channel sends, and sending replies through its API.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from ipaddress import IPv6Address, ip_address
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

import httpx
from pydantic import AfterValidator, BaseModel, ValidationInfo
from pydantic_core import PydanticCustomError

from normalizer import Attachment, IdentityRef, InboundMessage, ReplyAllowance

if TYPE_CHECKING:
    from connectors.attachments import AttachmentContent

__all__ = [
    "OUTGOING_URL_JUDGE",
    "AckResponse",
    "Capabilities",
    "Connect",
    "Connector",
    "ConnectorContext",
    "CredentialsRefused",
    "CredentialsUnchecked",
    "DeferredSendError",
    "DeliveryReport",
    "DestinationRefused",
    "InboxRef",
    "MalformedPayload",
    "OutboundMessage",
    "OutgoingHost",
    "OutgoingUrl",
    "OutgoingUrlJudge",
    "ParsingConnector",
    "PermanentPollError",
    "PermanentSendError",
    "PollError",
    "PollResult",
    "PollSession",
    "PolledItem",
    "PollingConnector",
    "Push",
    "RawRequest",
    "ReplayKey",
    "SendResult",
    "SharedStore",
    "SignatureInvalid",
    "TransientPollError",
    "TransientSendError",
    "WebhookConnector",
]


class ConnectorError(Exception):
    """Root of the errors a connector raises for the hub to handle."""


class SignatureInvalid(ConnectorError):
    """The request is not from the channel (bad, missing or stale signature). Answer 403, store nothing."""


class MalformedPayload(ConnectorError):
    """The request is from the channel but cannot be understood. Answer 400, store nothing."""


class TransientSendError(ConnectorError):
    """Sending failed for a reason that may pass (rate limit, 5xx, network): retry with backoff."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class DeferredSendError(TransientSendError):
    """The channel refuses for now for a known, long-lasting reason (a daily quota): retry much later."""


class PermanentSendError(ConnectorError):
    """Sending can never succeed as asked (window closed, invalid recipient): fail with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationRefused(PermanentSendError):
    """The hub's egress policy refuses the address a request would reach (loopback, private, cloud metadata...).

    Raised by `ConnectorContext.http` when it would connect there; retrying cannot help, so the message fails.
    """

    def __init__(self, destination: str, category: str) -> None:
        self.destination = destination
        self.category = category
        self.refusal = f"points to {'an' if category[0] in 'aeiou' else 'a'} {category} address, which this hub may not reach"
        super().__init__(f"{destination} {self.refusal}")


class CredentialsRefused(ConnectorError):
    """The channel refused the inbox's credentials when asked to prove them. `setting` names the one to fix
    (None when the refusal is about none of them, e.g. the hub's address is not allowed by the channel)."""

    def __init__(self, reason: str, *, setting: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.setting = setting


class CredentialsUnchecked(ConnectorError):
    """The channel could not be asked to prove the credentials (unreachable, failing, busy): nothing is known either way."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PollError(ConnectorError):
    """Reading a pull channel's source (a mailbox) failed; `reason` is what the inbox's status shows admins."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientPollError(PollError):
    """The source cannot be read now (server down, timeout, connection lost): the hub retries with backoff."""


class PermanentPollError(PollError):
    """The source refuses for a reason only a settings change can fix (wrong password, missing folder, a refused
    destination): the hub stops reading the inbox until its settings change. `setting` names the one to fix."""

    def __init__(self, reason: str, *, setting: str | None = None) -> None:
        super().__init__(reason)
        self.setting = setting


@dataclass(frozen=True, slots=True)
class ReplayKey:
    """The one-time part of a delivery's signature (e.g. its timestamp and nonce) and how long it stays acceptable.

    The hub lets one request use `value` per inbox until `accepted_for` has passed since `raw.received_at`; the
    same request again (a channel's retry) is let through to be deduplicated, any other request is refused.
    """

    value: str
    accepted_for: timedelta


class OutgoingUrlJudge(Protocol):
    """The hub's egress policy, as settings validation sees it."""

    def judge_url(self, url: str) -> None:
        """Raise DestinationRefused for a URL whose host is already known to be refused (an address, `localhost`)."""
        ...


OUTGOING_URL_JUDGE = "outgoing_url_judge"
"""Key of the OutgoingUrlJudge in the validation context the hub passes when an admin saves an inbox's settings."""


def _judged_outgoing_url(url: str, info: ValidationInfo) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise PydanticCustomError("outgoing_url", "must be an http(s) URL with a host")
    judge: OutgoingUrlJudge | None = (info.context or {}).get(OUTGOING_URL_JUDGE)
    if judge is not None:
        try:
            judge.judge_url(url)
        except DestinationRefused as refused:
            raise PydanticCustomError("destination_refused", refused.refusal) from None
    return url


OutgoingUrl = Annotated[str, AfterValidator(_judged_outgoing_url)]
"""A settings field the hub sends requests to (an API base URL): the hub's egress policy judges it when the inbox is
saved, and `ConnectorContext.http` again on the address each request connects to."""


def _judged_outgoing_host(host: str, info: ValidationInfo) -> str:
    host = host.strip().lower().rstrip(".")
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if (
        not literal
        or any(character.isspace() or character in "/?#@[]" for character in literal)
        or (":" in literal and not _is_ipv6(literal))
    ):
        raise PydanticCustomError(
            "outgoing_host", "must be a host name or an IP address, without a scheme or port"
        )
    judge: OutgoingUrlJudge | None = (info.context or {}).get(OUTGOING_URL_JUDGE)
    if judge is not None:
        try:
            judge.judge_url(f"https://[{literal}]/" if ":" in literal else f"https://{literal}/")
        except DestinationRefused as refused:
            raise PydanticCustomError("destination_refused", refused.refusal) from None
    return literal


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ip_address(text), IPv6Address)
    except ValueError:
        return False


OutgoingHost = Annotated[str, AfterValidator(_judged_outgoing_host)]
"""A settings field naming a server the hub connects to without HTTP (an IMAP or SMTP host): judged by the hub's egress
policy when the inbox is saved (the judge reads only a URL's host), and by `ConnectorContext.connect` again on the
address it connects to. Stored lower-cased, without brackets around an IPv6 address."""

Connect = Callable[[str, int], Awaitable[socket.socket]]
"""`(host, port) -> a connected, non-blocking TCP socket` that the caller owns and closes.

The hub resolves `host` once, judges every address it resolves to by its egress policy and connects to an allowed
one, so the address actually connected to is the one judged; it raises DestinationRefused when none is allowed and
OSError (TimeoutError among them) when none can be reached. TLS is the caller's to start, with `host` as the server
name, so certificates are still checked against the name the admin typed."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    text: bool = True
    images: bool = False
    files: bool = False
    voice: bool = False
    typing: bool = False
    read_receipts: bool = False
    max_text_length: int | None = None
    reply_window: timedelta | None = None
    """How long after the customer's last message the business may still write."""
    max_replies_in_window: int | None = None
    """How many messages the business may send between two customer messages."""
    threads_by_reply: bool = False
    """Messages say which earlier messages they answer (an email's In-Reply-To and References): a message joins the
    conversation holding one of them, and one that answers none starts a new conversation, however many the
    customer has open. Replies then carry the conversation's subject and the ids they answer."""
    billed_per_sms_segment: bool = False
    """Each reply costs one SMS per segment: 160 GSM-7 characters, or 70 UTF-16 units as soon as one character is
    outside GSM-7, fewer per segment of a longer text. The inbox's composer counts them as the agent types."""

    @property
    def reply_allowance(self) -> ReplyAllowance:
        """What a customer's message usually lets the business send (a message may say otherwise)."""
        return ReplyAllowance(self.max_replies_in_window, self.reply_window)


@dataclass(frozen=True, slots=True)
class InboxRef:
    """What a connector may know of the inbox it serves."""

    id: str
    workspace_id: str
    name: str
    public_token: str
    public_url: str


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An HTTP delivery from a channel, as received. `url` is the public URL the channel called."""

    method: str
    url: str
    sub_path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    remote_addr: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class AckResponse:
    """The immediate answer a channel expects (`success`, TwiML, an echo string)."""

    body: bytes = b""
    media_type: str = "text/plain"
    status_code: int = 200


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply to deliver to one recipient identity on this connector's channel."""

    message_id: str
    conversation_id: str
    recipient: IdentityRef
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    """The conversation's subject (its first message's), for channels whose messages carry one (email)."""
    replies_to: tuple[str, ...] = ()
    """The channel message ids this reply answers: the customer's message it answers, then that message's
    `replies_to` (so a mail client threads the reply under the whole exchange)."""
    automatic: bool = False
    """Written by a machine (a bot answer, an automatic acknowledgement): channels that can say so do, so that the
    customer's own automatic replies stay quiet."""
    sender: str = "agent"
    """Who wrote it, as a customer may be told: `agent`, `bot` or `system`."""
    created_at: datetime | None = None
    """When the hub stored it (None: now)."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What a channel says became of a message the hub sent (a delivery status callback)."""

    channel_message_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    reason: str | None = None
    """Why a failed message failed, in words an agent can act on."""
    message_id: str | None = None
    """The hub's own id of the message, when the channel echoes it (it was part of the callback URL the send gave):
    the report then finds the message even before the send's answer is recorded."""


@dataclass(frozen=True, slots=True)
class SendResult:
    channel_message_ids: tuple[str, ...] = ()
    status: str = "sent"


class SharedStore(Protocol):
    """Small shared state every process of the deployment sees (e.g. a channel API access token).

    The store in a ConnectorContext belongs to the one inbox the connector serves: the same key names
    another entry in every other inbox, so nothing an inbox's settings say (an app id) reaches another's.
    """

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl: timedelta) -> None: ...

    def lock(self, key: str, ttl: timedelta) -> AbstractAsyncContextManager[None]:
        """Held by one process of the deployment at a time."""
        ...


Push = Callable[[IdentityRef, dict[str, Any]], Awaitable[None]]
"""`(customer, event) -> None`: hands `event` (JSON-encodable) to every connection the customer holds open on the
routes the connector contributes (a visitor's widget sockets and long polls), on every web process of the hub."""


@dataclass(slots=True)
class ConnectorContext:
    """The I/O a connector may do, injected by the hub so tests can replace it."""

    http: httpx.AsyncClient
    """Guarded by the hub's egress policy: raises DestinationRefused rather than connect to a refused address."""
    store: SharedStore
    save_attachment: Callable[[bytes, str, str], Awaitable[str]]
    """`(content, filename, mime_type) -> url` of the stored copy."""
    read_attachment: Callable[[str, int], Awaitable[AttachmentContent]]
    """`(url, max_bytes) -> content`: the hub's stored copy, or the URL fetched; raises the send errors."""
    now: Callable[[], datetime]
    connect: Connect | None = None
    """TCP connections for channels that do not speak HTTP (IMAP, SMTP), guarded like `http`; None where the hub
    offers none."""
    push: Push | None = None
    """Delivery to the connections of a channel the hub serves itself through the connector's own routes (web chat);
    None where the hub offers none."""


class Connector(ABC):
    """One channel. Subclasses set the class attributes and implement send.

    How messages arrive decides the base class: a channel that calls the hub's public webhook route subclasses
    WebhookConnector, one the hub reads from subclasses PollingConnector; a channel whose customers reach the hub
    on routes of its own (the web chat widget) subclasses Connector and contributes those routes through the
    `omnihub.routes` entry point group (see connectors.routes).
    """

    kind: ClassVar[str]
    display_name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    settings_model: ClassVar[type[BaseModel]]
    identity_kinds: ClassVar[frozenset[str]] = frozenset()
    """The identity kinds of this channel's own (e.g. `wechat_openid`) its messages may name, beside the kinds every
    channel shares (normalizer.IdentityKind: email, phone...). The registry knows every kind from these."""

    def __init__(self, settings: BaseModel, inbox: InboxRef) -> None:
        self.settings = settings
        self.inbox = inbox

    @classmethod
    def demo_settings(cls) -> dict[str, Any]:
        """Made-up settings for the demo workspace, so anyone can try the channel locally."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Public facts an admin needs to connect the channel (callback URL, widget token). Never secrets."""
        return {}

    def console_settings(self) -> dict[str, str]:
        """Settings the admin also types into the channel's own console (e.g. a callback token).

        They may be secret, so the API never answers them; the demo prints them so the channel
        can be tried with a local simulator.
        """
        return {}

    async def check_credentials(self, context: ConnectorContext) -> None:
        """Prove the settings' credentials with the channel before the inbox is stored (e.g. fetch an API token).

        Raise CredentialsRefused naming the refused setting, or CredentialsUnchecked when the channel could not
        be asked. The default proves nothing, for channels that offer no way to check.
        """

    async def enrich(self, message: InboundMessage, context: ConnectorContext) -> InboundMessage:
        """Worker-side I/O on a received message (download media, look up profile data)."""
        return message

    def reply_subject(self, thread_subject: str | None) -> str | None:
        """The subject line `send` gives a reply in a conversation whose subject (its first message's) is
        `thread_subject`, exactly as sent, so the agent sees it before sending. None on channels whose messages
        carry no subject."""
        return None

    def parts_needed(self, outbound: OutboundMessage) -> int:
        """How many channel messages `send` will use for `outbound` (a long text may be split).

        The hub reserves that many from the channel's reply quota before sending.
        """
        return 1

    @abstractmethod
    async def send(self, outbound: OutboundMessage, context: ConnectorContext) -> SendResult:
        """Deliver `outbound`. Raise TransientSendError or PermanentSendError."""

    async def send_typing(self, recipient: IdentityRef, typing: bool, context: ConnectorContext) -> None:
        """Show or hide a typing indicator where the channel has one."""


class ParsingConnector(Connector):
    """A channel whose deliveries reach the hub raw (a webhook request, a polled mail) for `parse` to read."""

    @abstractmethod
    def parse(self, raw: RawRequest) -> list[InboundMessage]:
        """Pure: the same request always gives the same messages. Raise MalformedPayload."""

    def redact(self, raw: RawRequest) -> str:
        """The raw delivery as kept for audit, with secrets removed."""
        return raw.body[:65536].decode("utf-8", errors="replace")


class WebhookConnector(ParsingConnector):
    """A channel that delivers to the hub's public route `/webhooks/{kind}/{inbox_id}`.

    Anyone on the internet can call that route, so the hub mounts a channel there only through this
    class, whose `verify` every subclass must implement: an inbox is reachable on the route only if
    its connector can tell the channel's deliveries from forged ones.
    """

    @abstractmethod
    def verify(self, raw: RawRequest) -> None:
        """Raise SignatureInvalid unless `raw` provably comes from the channel."""

    def replay_key(self, raw: RawRequest) -> ReplayKey | None:
        """For a request `verify` accepted: what must not sign a second, different request. None when the
        signature holds nothing one-time, or covers everything that could differ (the body and the query)."""
        return None

    def handshake(self, raw: RawRequest) -> AckResponse | None:
        """Answer a set-up request (e.g. an echo challenge); None when `raw` carries messages."""
        return None

    def delivery_reports(self, raw: RawRequest) -> list[DeliveryReport] | None:
        """Pure, for a request `verify` accepted: the reports it carries on messages the hub sent (a delivery status
        callback), which the hub applies before `ack`; None when `raw` carries customers' messages for `parse`.
        Raise MalformedPayload."""
        return None

    def ack(self, raw: RawRequest, messages: list[InboundMessage]) -> AckResponse:
        """The fast answer the channel expects once the messages are stored."""
        return AckResponse(body=b"ok")


@dataclass(frozen=True, slots=True)
class PolledItem:
    """One item read from a pull channel's source (one mail) and the messages it gives."""

    messages: tuple[InboundMessage, ...]
    raw: str
    """What the hub keeps for audit, secrets removed (what `redact` gives on the webhook path)."""


@dataclass(frozen=True, slots=True)
class PollResult:
    items: tuple[PolledItem, ...]
    cursor: str
    """Where the next poll resumes. Store it in the transaction that stores `items`: a crash then repeats the batch
    (its messages are deduplicated by their dedupe keys) and never skips one."""
    more: bool
    """The source held more than one batch: poll again at once rather than wait."""


class PollSession(ABC):
    """An open connection to a pull channel's source, read batch by batch from a cursor the hub keeps.

    The hub's loop: `async with connector.poll_session(context) as session`, then `poll(cursor)`, store the items
    and the new cursor together, and when `more` is false `wait_for_news(connector.poll_interval())` before the next
    poll. A PollError leaves the session: the hub opens a new one after its backoff (transient) or when the inbox's
    settings change (permanent).
    """

    @abstractmethod
    async def poll(self, cursor: str | None) -> PollResult:
        """The next batch after `cursor` (None: a new inbox, whose first poll the connector's settings bound).

        Bounded in size whatever the source holds. Raise TransientPollError or PermanentPollError.
        """

    @abstractmethod
    async def wait_for_news(self, timeout: float) -> bool:
        """Return True as soon as the source announces something new, False after `timeout` seconds without news
        (a source that cannot announce news simply waits out the timeout, so the hub polls every `timeout` seconds)."""


class PollingConnector(ParsingConnector):
    """A channel the hub reads from (a mailbox) rather than one that calls the hub's webhook route.

    `parse` still turns one raw item into messages (purely; the contract kit checks it on fixtures); the session
    fetches the items, parses them and stores their attachments through the context before handing them over.
    """

    @abstractmethod
    def poll_session(self, context: ConnectorContext) -> AbstractAsyncContextManager[PollSession]:
        """Connect and log in; raise TransientPollError or PermanentPollError when that fails."""

    def poll_interval(self) -> float:
        """Seconds between polls when the source announces nothing (and the longest wait for news)."""
        return 60.0
