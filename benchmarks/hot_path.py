"""SQL statements and transactions per message on the inbound path, counted in this process.

The hub's own accept and process functions run against the cluster's database with a counter
on the engine, at several batch sizes, so the figures show what batching buys. Jobs go to an
in-memory broker here, so the cluster's workers do not race this count.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import event
from sqlmodel import select

from benchmarks.cluster import Cluster
from connectors.webchat.routes import accept, find_visitor
from connectors.webchat.wire import WidgetMessage
from hub import inbound
from hub.connector_routes import HubChannelServices
from hub.db import Database
from hub.jobs import JobQueue, make_broker
from hub.models import InboundEvent
from hub.ratelimit import MemoryRateLimiter
from hub.realtime import RedisPublisher, make_fanout
from hub.runtime import Hub
from hub.settings import Settings

__all__ = ["round_trips_per_message"]


class _Counter:
    """Statements and transactions the hub sends PostgreSQL.

    Through SQLAlchemy, from its events. Straight through asyncpg, from asyncpg's query log: there a
    statement SQLAlchemy did not announce is the hub's own, in autocommit; the driver's housekeeping
    (transaction control, pings, type introspection) is not counted, as SQLAlchemy's events do not count it.
    """

    def __init__(self, database: Database) -> None:
        self.statements = 0
        self.transactions = 0
        self._announced: set[str] = set()
        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._transaction)
        event.listen(engine, "checkout", self._watch_driver)

    def _statement(self, _connection, _cursor, statement: str, *_arguments) -> None:
        self.statements += 1
        self._announced.add(statement)

    def _transaction(self, *_arguments) -> None:
        self.transactions += 1

    def _watch_driver(self, dbapi_connection, record, _proxy) -> None:
        if not record.info.get("counted"):
            record.info["counted"] = True
            dbapi_connection.driver_connection.add_query_logger(self._logged)

    def _logged(self, query) -> None:
        if query.query not in self._announced and not _driver_housekeeping(query.query):
            self.statements += 1
            self.transactions += 1

    def take(self) -> tuple[int, int]:
        counted = (self.statements, self.transactions)
        self.statements = self.transactions = 0
        return counted


def _driver_housekeeping(query: str) -> bool:
    """Transaction control, the ";" ping, and the type introspection asyncpg runs before a statement's first use."""
    statement = query.strip().rstrip(";").upper()
    return statement in ("", "BEGIN", "COMMIT", "ROLLBACK") or statement.startswith(
        ("BEGIN ", "WITH RECURSIVE TYPEINFO_TREE")
    )


async def round_trips_per_message(
    cluster: Cluster, *, messages: int = 200, batch_sizes: tuple[int, ...] = (1, 10, 50)
) -> list[tuple[str, float, float]]:
    """(step, statements per message, transactions per message) for accepting one by one and processing in batches."""
    settings = Settings(
        database_url=cluster.database_url,
        redis_url=cluster.redis_url,
        secret_key=cluster.env["OMNIHUB_SECRET_KEY"],
        public_url=cluster.url,
    )
    broker = make_broker(settings.model_copy(update={"redis_url": None}))
    hub = Hub(settings, Database(settings.database_url), JobQueue(broker), RedisPublisher(settings.redis_url))
    try:
        services = HubChannelServices(hub, make_fanout(None), MemoryRateLimiter())
        widget_token = cluster.inbox("webchat")["widget_token"]
        visitors = [await find_visitor(services, widget_token, None, issue=True) for _ in range(20)]
        counter = _Counter(hub.database)
        rows = []
        for batch_size in batch_sizes:
            counter.take()
            event_ids = []
            for number in range(messages):
                visitor = visitors[number % len(visitors)]
                post = WidgetMessage(text=f"message {number}", client_id=f"count-{batch_size}-{number}")
                accepted = await accept(services, visitor, post, msgspec.json.encode(post).decode())
                event_ids.append(accepted.id)
            if batch_size == batch_sizes[0]:
                statements, transactions = counter.take()
                rows.append(
                    (
                        "accept (one message per request, nothing to group)",
                        statements / messages,
                        transactions / messages,
                    )
                )
            pending = await _event_ids(hub, event_ids)
            counter.take()
            for start in range(0, len(pending), batch_size):
                await inbound.process(hub, *pending[start : start + batch_size])
            statements, transactions = counter.take()
            rows.append((f"process, {batch_size} per batch", statements / messages, transactions / messages))
        return rows
    finally:
        await hub.close()


async def _event_ids(hub: Hub, message_ids: list[str]) -> list[str]:
    async with hub.database.session() as session:
        found = await session.exec(select(InboundEvent.id).where(InboundEvent.message_id.in_(message_ids)))
        return list(found.all())
