"""Database engine, sessions and migrations for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from hub.batching import Batcher

__all__ = [
    "Database",
    "database_refused_data",
    "database_unavailable",
    "like_literal",
    "migrate",
    "query_canceled",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PING_AFTER_IDLE_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
"""A database host that drops packets fails a request within this, rather than asyncpg's 60 s."""
REFUSED_DATA_SQLSTATES = ("22", "23")
"""PostgreSQL error classes that blame the values written: data exceptions and constraint violations."""
QUERY_CANCELED = "57014"
UNAVAILABLE_SQLSTATES = ("08", "40", "53", "57", "58")
"""PostgreSQL error classes that blame the moment: connection, serialization or deadlock, resources,
operator intervention, system errors. The same work may succeed when tried again."""


class Database:
    """One engine and session factory per event loop that uses them."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        # hide_parameters: a database error's text, which is logged, never quotes customers' messages.
        engine_options = {
            "json_serializer": _json_text,
            "json_deserializer": msgspec.json.decode,
            "hide_parameters": True,
        }
        if url.startswith("sqlite"):
            self.engine: AsyncEngine = create_async_engine(
                url, connect_args={"timeout": 30}, **engine_options
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                url,
                pool_size=pool_size,
                # A connection opened beyond the pool is closed when given back, and a new one costs both sides
                # its start (and PostgreSQL re-plans every statement on it): the bot's workers at 100 messages/s
                # with 10 kept opened about 20 a second, a third of a core.
                max_overflow=pool_size // 2,
                connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
                **engine_options,
            )
            _check_connections_before_use(self.engine)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.batchers: dict[str, Batcher] = {}
        """Writes grouped into shared transactions (hub.batching), by kind; they live as long as the engine."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def database_refused_data(error: BaseException) -> bool:
    """The database refused the values written (a NUL character, an over-long value, a broken constraint):
    the same rows will fail again, the other rows of a group need not."""
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        return sqlstate.startswith(REFUSED_DATA_SQLSTATES)
    return isinstance(error, (DataError, IntegrityError))


def database_unavailable(error: BaseException) -> bool:
    """The database could not do the work now (gone, locked, deadlocked, out of connections): no row is to blame."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        return sqlstate.startswith(UNAVAILABLE_SQLSTATES)
    return isinstance(error, (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError))


def query_canceled(error: BaseException) -> bool:
    """PostgreSQL stopped the statement at its `statement_timeout` (or an operator cancelled it)."""
    return _sqlstate(error) == QUERY_CANCELED


def _sqlstate(error: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE, from asyncpg's error or from SQLAlchemy's wrapper of it (None on SQLite)."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None


def _json_text(value: object) -> str:
    """JSON columns (message metadata, event payloads) encoded by msgspec: several times faster than the json module."""
    return msgspec.json.encode(value).decode()


def _check_connections_before_use(engine: AsyncEngine) -> None:
    """Hand out only pooled connections that are still open: one the server closed is replaced by a fresh one
    before any statement is sent on it (SQLAlchemy's pool retries a checkout that raises DisconnectionError).

    Every checkout asks the driver whether the server closed the connection, which costs no round trip
    and catches a restarted PostgreSQL (its backends' sockets are closed). Only a connection that sat
    idle is also pinged: SQLAlchemy's pool_pre_ping costs three round trips (BEGIN, ping, ROLLBACK) on
    every checkout, which was half the round trips of a grouped accept.
    """
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def note_idle_since(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def check_before_use(dbapi_connection, record, _proxy) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")
        if time.monotonic() - record.info.get("idle_since", math.inf) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"pooled connection is gone: {error}") from error


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (call outside a running event loop)."""
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def like_literal(text: str) -> str:
    """`text` as literal characters inside a LIKE pattern written with `escape="\\"`: a typed `%` or `_` matches
    itself, not anything."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
