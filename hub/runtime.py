"""The hub's runtime: everything a request handler or a job needs, built once per process/loop."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails

from connectors import Connector, ConnectorContext, ConnectorRegistry, InboxRef, default_registry
from connectors.base import OUTGOING_URL_JUDGE
from hub.agent_connections import AgentConnections, MemoryAgentConnections, make_agent_connections
from hub.attachments import AttachmentStore
from hub.crypto import SecretBox
from hub.db import Database
from hub.egress import (
    EgressPolicy,
    KeptConnections,
    Resolver,
    guarded_client,
    guarded_connect,
    system_resolver,
)
from hub.inbox_cache import InboxCache
from hub.jobs import JobQueue
from hub.models import Inbox, utcnow
from hub.realtime import Publisher, audience_channel
from hub.settings import Settings
from hub.store import DatabaseSharedStore, InboxStore
from normalizer import IdentityRef

__all__ = [
    "ENCRYPTED",
    "HEARTBEATS_PER_TTL",
    "Hub",
    "InvalidInboxSettings",
    "new_agent_connections",
    "open_hub",
]

log = logging.getLogger("omnihub")
ENCRYPTED = "$encrypted"


class InvalidInboxSettings(ValueError):
    def __init__(self, errors: list[ErrorDetails]) -> None:
        self.errors = errors
        fields = ", ".join(".".join(str(part) for part in error["loc"]) or "settings" for error in errors)
        super().__init__(f"invalid settings: {fields}")


HEARTBEATS_PER_TTL = 3
"""An agent's connection lives this many presence heartbeats unless refreshed: one late beat does not drop it."""
KEPT_CONNECTIONS_PER_ORIGIN = 64
"""Idle connections kept per destination: two webhook jobs' worth of requests in flight."""


@dataclass
class Hub:
    settings: Settings
    database: Database
    jobs: JobQueue
    publisher: Publisher
    registry: ConnectorRegistry = field(default_factory=default_registry)
    resolver: Resolver = system_resolver
    """Host names to addresses for every outgoing request (tests answer with stand-in servers)."""
    now: Any = utcnow
    agent_connections: AgentConnections = field(default_factory=lambda: MemoryAgentConnections(30.0))
    """Which agents have a live connection, shared by every process (hub.presence)."""

    def __post_init__(self) -> None:
        self.egress = EgressPolicy.from_settings(self.settings, self.resolver)
        self.http = guarded_client(self.egress)
        self.connect = guarded_connect(self.egress)
        self.kept_connections = KeptConnections(self.connect, most_per_origin=KEPT_CONNECTIONS_PER_ORIGIN)
        """Connections kept between bursts of POSTs to one destination (webhook deliveries)."""
        key, fallback_keys = self.settings.secret_key_bytes(), self.settings.fallback_key_bytes()
        self.box = SecretBox(key, fallback_keys)
        self.store = DatabaseSharedStore(self.database, self.box)
        self.inboxes = InboxCache(self.database)
        self.attachments = AttachmentStore(self.database, self.settings.public_url, self.http)
        self._connectors: dict[tuple[str, str], Connector] = {}

    async def close(self) -> None:
        await self.agent_connections.close()
        await self.http.aclose()
        self.kept_connections.close()
        await self.database.dispose()

    # Inbox settings: validated by the connector's model, secrets encrypted at rest.

    def seal_settings(self, kind: str, raw_settings: dict[str, Any]) -> dict[str, Any]:
        model = self.registry.get(kind).settings_model
        try:
            settings = model.model_validate(raw_settings, context={OUTGOING_URL_JUDGE: self.egress})
        except ValidationError as error:
            raise InvalidInboxSettings(error.errors(include_url=False, include_input=False)) from None
        sealed: dict[str, Any] = {}
        for name in type(settings).model_fields:
            value = getattr(settings, name)
            if isinstance(value, SecretStr):
                sealed[name] = {ENCRYPTED: self.box.encrypt(value.get_secret_value())}
            else:
                sealed[name] = settings.model_dump(mode="json", include={name})[name]
        return sealed

    def open_settings(self, inbox: Inbox) -> Any:
        plain = {
            name: self.box.decrypt(value[ENCRYPTED])
            if isinstance(value, dict) and ENCRYPTED in value
            else value
            for name, value in inbox.settings.items()
        }
        return self.registry.get(inbox.kind).settings_model.model_validate(plain)

    def connector_for(self, inbox: Inbox) -> Connector:
        """Connectors are cached per inbox and rebuilt when its settings change."""
        cache_key = (inbox.id, repr(inbox.settings))
        connector = self._connectors.get(cache_key)
        if connector is None:
            connector = self._new_connector(inbox)
            self._connectors = {key: value for key, value in self._connectors.items() if key[0] != inbox.id}
            self._connectors[cache_key] = connector
        return connector

    async def check_credentials(self, inbox: Inbox) -> None:
        """Let the inbox's connector prove its credentials with the channel before the inbox is stored.

        Raises the connector's CredentialsRefused or CredentialsUnchecked. What the check caches (a first access
        token) is kept in the inbox's own part of the store, ready for its first send.
        """
        await self._new_connector(inbox).check_credentials(self.connector_context(inbox))

    def connector_context(self, inbox: Inbox) -> ConnectorContext:
        """The I/O a connector may do for one inbox: what it stores belongs to that inbox of its workspace."""
        workspace_id = inbox.workspace_id

        async def save_attachment(content: bytes, filename: str, mime_type: str) -> str:
            return self.attachments.url(
                await self.attachments.save(workspace_id, content, filename, mime_type)
            )

        async def push(customer: IdentityRef, event: dict[str, Any]) -> None:
            channel = audience_channel(inbox.id, customer.kind, customer.scope, customer.value)
            await self.publisher.publish(event, [channel])

        return ConnectorContext(
            http=self.http,
            store=InboxStore(self.store, workspace_id, inbox.id),
            save_attachment=save_attachment,
            read_attachment=self.attachments.read,
            now=self.now,
            connect=self.connect,
            push=push,
        )

    def _new_connector(self, inbox: Inbox) -> Connector:
        reference = InboxRef(
            id=inbox.id,
            workspace_id=inbox.workspace_id,
            name=inbox.name,
            public_token=inbox.public_token,
            public_url=self.settings.public_url,
        )
        return self.registry.get(inbox.kind)(self.open_settings(inbox), reference)


def open_hub(
    settings: Settings,
    jobs: JobQueue,
    publisher: Publisher,
    *,
    registry: ConnectorRegistry | None = None,
    resolver: Resolver = system_resolver,
    agent_connections: AgentConnections | None = None,
) -> Hub:
    """A Hub with its own database engine: one per event loop (the web process's, each worker's).
    `agent_connections`: the registry the process's other Hubs share (embedded mode keeps it in memory)."""
    return Hub(
        settings,
        Database(settings.database_url, pool_size=settings.database_pool_size),
        jobs,
        publisher,
        registry=registry or default_registry(),
        resolver=resolver,
        agent_connections=agent_connections or new_agent_connections(settings),
    )


def new_agent_connections(settings: Settings) -> AgentConnections:
    """The presence registry of the settings' mode; connections live `HEARTBEATS_PER_TTL` heartbeats."""
    ttl_seconds = settings.presence_heartbeat_seconds * HEARTBEATS_PER_TTL
    return make_agent_connections(settings.redis_url, ttl_seconds)
