"""The hub's side of connectors.routes: the services the routes a connector contributes ask for, and the
`omnihub.routes` entry points that contribute them (the web chat widget, the agent inbox pages).

The services speak of connectors and identities, never of a channel: what a visitor is, how it is proven and
what it is shown stay in the connector's package.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from litestar import WebSocket
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from connectors import Connector, UndeclaredIdentityKind
from connectors.routes import (
    CHANNEL_SERVICES,
    AcceptedMessage,
    CustomerClaims,
    CustomerFeed,
    CustomerMessage,
    CustomerPage,
)
from hub import assignment, csat, customers, events, inbound, journey, tickets
from hub.auth import client_address
from hub.crypto import derive_key
from hub.errors import ApiError, unavailable
from hub.fields import looks_like_token
from hub.models import Conversation, Identity, Inbox, Message, StoredFile, Workspace
from hub.ratelimit import RateLimiter, enforce
from hub.realtime import Fanout, audience_channel, workspace_channel
from hub.runtime import Hub
from hub.statuses import MessageDirection, MessageStatus
from hub.views import ContactPageViewed, CustomerTyping
from normalizer import Attachment, IdentityRef, InboundMessage, InvalidIdentity
from routing.hours import is_open

__all__ = ["ENTRY_POINT_GROUP", "HubChannelServices", "channel_services_dependency", "contributed_routes"]

ENTRY_POINT_GROUP = "omnihub.routes"
CUSTOMER_VISIBLE = ("in", "out")
READABLE = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED)
"""A reply the customer's client says was read: shown to them already, whether or not its outcome is recorded yet."""
READ_RECEIPT_LIMIT = 200
"""Replies one receipt marks at most (the newest), as many as the history a client is shown."""
RATE_WINDOW_SECONDS = 60
TYPING_RELAY_SECONDS = 3
"""A customer's typing reaches the agents at most once in this many seconds; the inbox shows it a little longer."""
RAW_AUDIT_CHARACTERS = 65536
IDENTIFY_ATTEMPTS = 3


def contributed_routes() -> list[Any]:
    """Route handlers of installed packages (entry point group `omnihub.routes`): a connector's own endpoints,
    the agent inbox's pages."""
    return [
        handler for entry_point in entry_points(group=ENTRY_POINT_GROUP) for handler in entry_point.load()()
    ]


def customer_channel(connector: Connector, customer: IdentityRef) -> str:
    """Where a customer's live events go, on every web process; a worker can address it without a socket."""
    return audience_channel(connector.inbox.id, customer.kind, customer.scope, customer.value)


@contextlib.contextmanager
def outages_as_route_errors() -> Iterator[None]:
    """The database or Redis being away, as the RouteError a connector's route answers or puts in an error frame:
    503 `database_unavailable` or `redis_unavailable`, with Retry-After."""
    try:
        yield
    except Exception as error:
        outage = unavailable(error)
        if outage is None:
            raise
        raise outage from error


class HubChannelServices:
    """One per web process; handlers receive it as the `channel_services` dependency.

    Every service that needs the database or Redis raises RouteError 503 while it is away (outages_as_route_errors),
    so a connector's route tells an outage from its own failure without knowing what the hub runs on.
    """

    def __init__(self, hub: Hub, realtime: Fanout, rate_limiter: RateLimiter) -> None:
        self._hub = hub
        self._realtime = realtime
        self._rate_limiter = rate_limiter
        self._signing_keys: dict[str, tuple[bytes, ...]] = {}
        self.max_frame_length = hub.settings.max_body_bytes
        self.max_file_bytes = hub.settings.max_attachment_bytes

    def now(self) -> datetime:
        return self._hub.now()

    async def connector_for_token(self, kind: str, public_token: str) -> Connector | None:
        if kind not in self._hub.registry or not looks_like_token(public_token):
            return None
        with outages_as_route_errors():
            inbox = await self._hub.inboxes.find(public_token=public_token)
        if inbox is None or inbox.kind != kind:
            return None
        return self._hub.connector_for(inbox)

    def signing_keys(self, kind: str) -> tuple[bytes, ...]:
        keys = self._signing_keys.get(kind)
        if keys is None:
            settings = self._hub.settings
            purpose = f"connector-signing:{kind}".encode()
            keys = tuple(
                derive_key(key, purpose)
                for key in (settings.secret_key_bytes(), *settings.fallback_key_bytes())
            )
            self._signing_keys[kind] = keys
        return keys

    async def limit_rate(
        self, connection: ASGIConnection, connector: Connector, customer: IdentityRef
    ) -> None:
        """Per customer (a new one too: a socket keeps the customer it was issued) and per IP, so a script
        hammering a widget cannot fill the database."""
        settings = self._hub.settings
        with outages_as_route_errors():
            await enforce(
                self._rate_limiter,
                [
                    (f"ip:{client_address(connection)}", settings.ip_rate_per_minute),
                    (
                        f"customer:{connector.inbox.id}:{customer.kind}:{customer.value}",
                        settings.visitor_rate_per_minute,
                    ),
                ],
                RATE_WINDOW_SECONDS,
                "Too many messages; wait before sending more.",
            )

    async def accept(
        self, connector: Connector, messages: list[InboundMessage], raw: str
    ) -> list[AcceptedMessage]:
        try:
            self._hub.registry.check_identity_kinds(messages)
        except UndeclaredIdentityKind as error:
            raise ApiError(400, "malformed_payload", f"Message not understood: {error}") from None
        with outages_as_route_errors():
            inbox = await self._inbox(connector)
            accepted = await inbound.accept(self._hub, inbox, messages, raw[:RAW_AUDIT_CHARACTERS])
        return [AcceptedMessage(message.message_id, message.duplicate) for message in accepted]

    async def store_file(
        self, connector: Connector, content: bytes, filename: str | None, mime_type: str | None
    ) -> Attachment:
        with outages_as_route_errors():
            stored = await self._hub.attachments.save(
                connector.inbox.workspace_id, content, filename, mime_type
            )
        return _stored_attachment(self._hub.attachments.url(stored), stored)

    async def stored_file(self, connector: Connector, url: str) -> Attachment | None:
        file_id = self._hub.attachments.file_id(url)
        if file_id is None:
            return None
        with outages_as_route_errors():
            stored = await self._hub.attachments.load(file_id)
        if stored is None or stored.workspace_id != connector.inbox.workspace_id:
            return None
        return _stored_attachment(self._hub.attachments.url(stored), stored)

    async def history(
        self, connector: Connector, customer: IdentityRef, *, after: str | None, limit: int
    ) -> list[CustomerMessage]:
        statement = _customer_messages(connector, customer).where(
            col(Message.direction).in_(CUSTOMER_VISIBLE)
        )
        if after:
            statement = statement.where(col(Message.id) > after)
        with outages_as_route_errors():
            async with self._hub.database.session() as session:
                rows = (await session.exec(statement.order_by(col(Message.id).desc()).limit(limit))).all()
        return [_customer_message(row) for row in reversed(rows)]

    async def mark_read(self, connector: Connector, customer: IdentityRef, up_to: str) -> int:
        now = self._hub.now()
        statement = (
            _customer_messages(connector, customer)
            .where(
                col(Message.direction) == MessageDirection.OUT,
                col(Message.status).in_(READABLE),
                col(Message.id) <= up_to,
            )
            .order_by(col(Message.id).desc())
            .limit(READ_RECEIPT_LIMIT)
        )
        with outages_as_route_errors():
            async with self._hub.database.session() as session:
                rows = (await session.exec(statement)).all()
                read = []
                for row in rows:
                    row.status = MessageStatus.READ
                    row.updated_at = now
                    conversation = await session.get_one(Conversation, row.conversation_id)
                    payload = {
                        "message": events.message_json(row),
                        "conversation": events.conversation_json(conversation),
                    }
                    read.append(
                        (
                            events.record(session, row.workspace_id, "message.updated", row.id, payload),
                            conversation,
                        )
                    )
                await session.commit()
            for event, conversation in read:
                await events.publish_message_event(self._hub.publisher, event, conversation)
        return len(read)

    async def agent_available(self, connector: Connector) -> bool:
        """The inbox's business hours (routing.hours.is_open), then routing's own test of an agent with room."""
        now = self._hub.now()
        with outages_as_route_errors():
            async with self._hub.database.session() as session:
                inbox = await session.get_one(Inbox, connector.inbox.id)
                levels = await tickets.service_levels(session, [inbox.id])
                if not is_open(levels[inbox.id].hours, now):
                    return False
                return inbox.id in await assignment.inboxes_with_an_available_agent(
                    session, self._hub.agent_connections, [inbox], now
                )

    async def pending_rating(self, connector: Connector, customer: IdentityRef) -> str | None:
        with outages_as_route_errors():
            return await csat.pending_rating(
                self._hub, connector.inbox.workspace_id, connector.inbox.id, customer
            )

    async def rate(
        self,
        connector: Connector,
        customer: IdentityRef,
        conversation_id: str,
        rating: int,
        comment: str | None,
    ) -> None:
        with outages_as_route_errors():
            await csat.rate(
                self._hub,
                connector.inbox.workspace_id,
                connector.inbox.id,
                customer,
                conversation_id,
                rating,
                comment,
            )

    async def identify(self, connector: Connector, customer: IdentityRef, claims: CustomerClaims) -> None:
        """Tried again when another request created one of the same identities meanwhile (the unique constraint
        refused ours): the next attempt finds it and links to it."""
        workspace_id = connector.inbox.workspace_id
        for attempt in range(IDENTIFY_ATTEMPTS):
            with outages_as_route_errors():
                async with self._hub.database.session() as session:
                    workspace = await session.get_one(Workspace, workspace_id)
                    try:
                        await customers.identify(
                            session, workspace_id, workspace.default_region, customer, claims
                        )
                        await session.commit()
                        return
                    except InvalidIdentity as error:
                        raise ApiError(422, "invalid_identity", f"{error}.") from None
                    except IntegrityError:
                        if attempt == IDENTIFY_ATTEMPTS - 1:
                            raise

    async def page_view(self, connector: Connector, customer: IdentityRef, page: CustomerPage) -> None:
        """Tried again when another request created the visitor's contact meanwhile, as identify is."""
        workspace_id = connector.inbox.workspace_id
        for attempt in range(IDENTIFY_ATTEMPTS):
            with outages_as_route_errors():
                async with self._hub.database.session() as session:
                    workspace = await session.get_one(Workspace, workspace_id)
                    try:
                        contact_id, row = await journey.record_page(
                            session, workspace_id, workspace.default_region, customer, page, self._hub.now()
                        )
                        await session.commit()
                    except IntegrityError:
                        if attempt == IDENTIFY_ATTEMPTS - 1:
                            raise
                        continue
                event = ContactPageViewed(contact_id=contact_id, page=journey.page_view(row))
                await self._hub.publisher.publish(event, [workspace_channel(workspace_id)])
                return

    async def customer_typing(self, connector: Connector, customer: IdentityRef) -> None:
        """Throttled per customer across web processes (the rate limiter's window): an agent's screen needs one
        notice every few seconds, and a visitor's keystrokes must not reach every agent socket of the workspace."""
        throttle = f"typing:{connector.inbox.id}:{customer.kind}:{customer.value}"
        with outages_as_route_errors():
            if await self._rate_limiter.hit(throttle, 1, TYPING_RELAY_SECONDS) is not None:
                return
            async with self._hub.database.session() as session:
                latest = _customer_conversations(connector, customer).order_by(
                    col(Conversation.last_message_at).desc()
                )
                conversation = (await session.exec(latest.limit(1))).first()
            if conversation is not None:
                await self._hub.publisher.publish(
                    CustomerTyping(conversation_id=conversation.id),
                    [workspace_channel(connector.inbox.workspace_id)],
                )

    async def push(self, connector: Connector, customer: IdentityRef, event: dict[str, Any]) -> None:
        with outages_as_route_errors():
            await self._hub.publisher.publish(event, [customer_channel(connector, customer)])

    @contextlib.asynccontextmanager
    async def customer_events(
        self, connector: Connector, customer: IdentityRef
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        with outages_as_route_errors():
            async with self._realtime.event_stream([customer_channel(connector, customer)]) as events:
                yield events

    @contextlib.asynccontextmanager
    async def customer_socket(
        self, socket: WebSocket, connector: Connector, customer: IdentityRef
    ) -> AsyncIterator[CustomerFeed]:
        with outages_as_route_errors():
            async with self._realtime.socket_feed(socket, [customer_channel(connector, customer)]) as feed:
                yield feed

    async def _inbox(self, connector: Connector) -> Inbox:
        inbox = await self._hub.inboxes.find(id=connector.inbox.id)
        if inbox is None:
            raise LookupError(f"inbox {connector.inbox.id} is gone")
        return inbox


def _stored_attachment(url: str, stored: StoredFile) -> Attachment:
    kind = "image" if stored.mime_type.startswith("image/") else "file"
    return Attachment(kind=kind, url=url, mime_type=stored.mime_type, name=stored.name, size=stored.size)


def _customer_conversations(connector: Connector, customer: IdentityRef) -> SelectOfScalar[Conversation]:
    """`customer`'s conversations on the connector's inbox."""
    return (
        select(Conversation)
        .join(Identity, col(Identity.id) == col(Conversation.identity_id))
        .where(*_customers_conversation(connector, customer))
    )


def _customer_messages(connector: Connector, customer: IdentityRef) -> SelectOfScalar[Message]:
    """The messages of `customer`'s conversations on the connector's inbox."""
    return (
        select(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .join(Identity, col(Identity.id) == col(Conversation.identity_id))
        .where(*_customers_conversation(connector, customer))
    )


def _customers_conversation(connector: Connector, customer: IdentityRef) -> tuple[Any, ...]:
    """The conditions on a conversation joined with its identity: it is `customer`'s, on the connector's inbox."""
    return (
        Conversation.inbox_id == connector.inbox.id,
        Identity.workspace_id == connector.inbox.workspace_id,
        Identity.kind == customer.kind,
        Identity.scope == customer.scope,
        Identity.value == customer.value,
    )


def _customer_message(message: Message) -> CustomerMessage:
    return CustomerMessage(
        id=message.id,
        sender=message.sender_type,
        content_type=message.content_type,
        text=message.text,
        attachments=tuple(Attachment(**attachment) for attachment in message.attachments),
        metadata=message.meta,
        status=message.status,
        created_at=message.created_at,
    )


def _provide_channel_services(state: State) -> HubChannelServices:
    services: HubChannelServices = state.channel_services
    return services


channel_services_dependency = {CHANNEL_SERVICES: Provide(_provide_channel_services, sync_to_thread=False)}
"""The app's dependencies: every handler that declares `channel_services` receives the process's services."""
