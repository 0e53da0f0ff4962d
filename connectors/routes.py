"""What the hub offers the routes a connector contributes, for channels whose customers reach the hub on the
connector's own endpoints rather than on the webhook route (the web chat widget's HTTP, WebSocket and script).

A connector package contributes Litestar route handlers through the `omnihub.routes` entry point group, as the
agent inbox contributes its pages: the entry point names a callable that returns the handlers. A handler asks for
the hub's services by declaring a parameter named `channel_services` (CHANNEL_SERVICES) of type ChannelServices;
the hub provides it as a Litestar dependency, so the package never imports the hub. What the connector sends back
to the customer's connections goes through `ConnectorContext.push`, from its `send`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec

if TYPE_CHECKING:
    from litestar import WebSocket
    from litestar.connection import ASGIConnection

    from connectors.base import Connector
    from normalizer import Attachment, IdentityRef, InboundMessage

__all__ = [
    "CHANNEL_SERVICES",
    "AcceptedMessage",
    "ChannelServices",
    "CustomerClaims",
    "CustomerFeed",
    "CustomerMessage",
    "CustomerPage",
    "ErrorBody",
    "ErrorField",
    "RatingRequested",
    "RouteError",
    "error_responses",
]

CHANNEL_SERVICES = "channel_services"
"""The name of the handler parameter the hub injects ChannelServices into."""


class ErrorField(msgspec.Struct, omit_defaults=True):
    field: str
    """The field at fault, e.g. `attachments[0].kind` or `settings.app_secret`."""
    message: str
    source: str | None = None
    """Where the field was: `path`, `query`, `header` or `body`, when known."""


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The body of every error the hub, and the routes connectors contribute, answer over HTTP."""

    status_code: int
    code: str
    """A machine code, e.g. `conversation_not_found`."""
    detail: str
    """What went wrong, in words a person can act on."""
    errors: list[ErrorField] = []
    """The fields at fault, when a request breaks a declared limit or a value the hub checks."""


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers an operation declares, all in the one error shape; every operation may answer 500, and
    503 (with Retry-After) while the database or Redis it needs is away."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody, description=HTTPStatus(status).phrase, generate_examples=False
        )
        for status in sorted({*statuses, 500, 503})
    }


class RouteError(HTTPException):
    """Answered in the hub's one error shape, `{"status_code", "code", "detail"}` (plus `errors`, from `extra`).

    The hub's own errors are RouteErrors too (429 `rate_limited`, 422 `unstorable_message`...), so a WebSocket
    handler can put their code in an error frame.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        extra: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, extra=extra, headers=headers)
        self.code = code


class RatingRequested(msgspec.Struct, tag="csat.requested", tag_field="type"):
    """Sent to a customer's live connections when their conversation is resolved: they may rate it once
    (`ChannelServices.rate`)."""

    conversation_id: str


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    message_id: str
    duplicate: bool
    """The channel message id was accepted before: the earlier message's id is answered, nothing is stored."""


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """A stored message its customer may see: theirs and the replies to them, never an agent's note.

    It carries no agent's or conversation's ids; what a channel shows its customer is chosen from these fields.
    """

    id: str
    sender: str
    """`contact`, `agent`, `bot` or `system`."""
    content_type: str
    text: str
    attachments: tuple[Attachment, ...]
    metadata: Mapping[str, Any]
    """What the channel's connector put in the inbound message's metadata (e.g. the web chat's client_id)."""
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerClaims:
    """What the business's site or app says of its customer: the business's user id first, then email, phone.

    `verified` when the connector checked the business's signature over them: only then do they link the
    customer to a contact. Unverified claims never reveal or join another customer's history.
    """

    identities: tuple[IdentityRef, ...]
    name: str | None
    verified: bool


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """A page the customer's browser is on, as the channel's client reports it: the address without its query
    or fragment (where a form's values would be), the title, where they came from, and what the browser says of
    its time zone and language."""

    url: str
    title: str
    referrer: str | None
    time_zone: str | None
    language: str | None


class CustomerFeed(Protocol):
    def start(self) -> None:
        """Begin handing the customer's events to the socket: call it once the socket's first frame is sent."""
        ...


@runtime_checkable
class ChannelServices(Protocol):
    """The hub's services for one request of a route a connector contributes.

    While the hub's database or Redis is away, a service that needs it raises RouteError 503 (`database_unavailable`
    or `redis_unavailable`, with Retry-After): nothing of the request was kept, and the client may try again.

    Runtime-checkable because Litestar checks an injected dependency against its parameter's type.
    """

    max_frame_length: int
    """The longest WebSocket frame to accept, in characters (OMNIHUB_MAX_BODY_BYTES, as for request bodies)."""

    max_file_bytes: int
    """The largest file a customer may upload (OMNIHUB_MAX_ATTACHMENT_BYTES, as for agents' uploads)."""

    def now(self) -> datetime: ...

    async def connector_for_token(self, kind: str, public_token: str) -> Connector | None:
        """The connector of the `kind` inbox whose public token (`InboxRef.public_token`) this is; None when none is."""
        ...

    def signing_keys(self, kind: str) -> tuple[bytes, ...]:
        """Keys for what connectors of `kind` sign (visitor tokens), derived from OMNIHUB_SECRET_KEY and then each
        of OMNIHUB_SECRET_KEY_FALLBACKS: sign with the first, accept any, so a rotated key keeps tokens valid."""
        ...

    async def limit_rate(
        self, connection: ASGIConnection, connector: Connector, customer: IdentityRef
    ) -> None:
        """Count one request of `customer` and of the connection's address; over OMNIHUB_VISITOR_RATE_PER_MINUTE
        or OMNIHUB_IP_RATE_PER_MINUTE raise RouteError 429 `rate_limited` with Retry-After."""
        ...

    async def accept(
        self, connector: Connector, messages: list[InboundMessage], raw: str
    ) -> list[AcceptedMessage]:
        """Store the messages durably (deduplicated by channel message id) and queue their processing, as the
        webhook route does; `raw` is what is kept for audit. Raises RouteError 422 when the database refuses one."""
        ...

    async def store_file(
        self, connector: Connector, content: bytes, filename: str | None, mime_type: str | None
    ) -> Attachment:
        """Keep a file a customer uploaded in the hub's attachment storage, in the inbox's workspace: answers the
        attachment their message may carry (kind `image` for an image type, else `file`), reached by an unguessable
        URL and always downloaded, never rendered, from the hub."""
        ...

    async def stored_file(self, connector: Connector, url: str) -> Attachment | None:
        """The attachment at `url` when it is a file the hub stores for the inbox's workspace, with the facts the hub
        recorded (never the client's); None for any other URL, which the hub would otherwise have to fetch."""
        ...

    async def history(
        self, connector: Connector, customer: IdentityRef, *, after: str | None, limit: int
    ) -> list[CustomerMessage]:
        """The last `limit` messages `customer` may see on the connector's inbox after the message id `after`,
        oldest first."""
        ...

    async def mark_read(self, connector: Connector, customer: IdentityRef, up_to: str) -> int:
        """The customer's client showed them the replies up to the message id `up_to`: those (the newest 200) become
        `read`, which the agents see at once. Answers how many changed (0 for replies already read)."""
        ...

    async def agent_available(self, connector: Connector) -> bool:
        """The connector's inbox is within its business hours and some agent could take a new conversation now."""
        ...

    async def pending_rating(self, connector: Connector, customer: IdentityRef) -> str | None:
        """The id of `customer`'s latest conversation on the connector's inbox when it is resolved (within the last
        week) and not rated yet: the one their client may offer to rate."""
        ...

    async def rate(
        self,
        connector: Connector,
        customer: IdentityRef,
        conversation_id: str,
        rating: int,
        comment: str | None,
    ) -> None:
        """Keep the customer's rating (1 to 5) of their resolved conversation. Raises RouteError 404
        `conversation_not_found` for a conversation that is not theirs, 409 `conversation_not_resolved` or 409
        `already_rated` (a rating is given once and never replaced)."""
        ...

    async def identify(self, connector: Connector, customer: IdentityRef, claims: CustomerClaims) -> None:
        """Link `customer` to the contact its verified claims name (merging its anonymous conversations into it), or
        keep unverified claims as its attributes (a match with another contact becomes a merge suggestion).
        Raises RouteError 422 `invalid_identity` for a claimed phone or email that cannot be one."""
        ...

    async def page_view(self, connector: Connector, customer: IdentityRef, page: CustomerPage) -> None:
        """Keep the page on the customer's contact (its recent pages, bounded) and show it to the agents live."""
        ...

    async def customer_typing(self, connector: Connector, customer: IdentityRef) -> None:
        """Show the agents that the customer is typing in their latest conversation on the inbox; called as often as
        the customer's client likes, relayed at most once every few seconds."""
        ...

    async def push(self, connector: Connector, customer: IdentityRef, event: dict[str, Any]) -> None:
        """What `ConnectorContext.push` does from a connector's send: `event` to the customer's connections."""
        ...

    def customer_events(
        self, connector: Connector, customer: IdentityRef
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """While open, every event the connector pushes to `customer` (from any process), for a long poll."""
        ...

    def customer_socket(
        self, socket: WebSocket, connector: Connector, customer: IdentityRef
    ) -> AbstractAsyncContextManager[CustomerFeed]:
        """While open, every event the connector pushes to `customer` is written to `socket` once the feed starts.

        A socket that falls too far behind is closed (1013, try again later). An idle socket costs its place in a
        registry only, so thousands can wait at once.
        """
        ...
