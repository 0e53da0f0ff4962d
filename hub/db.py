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
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from hub.batching import Batcher

__all__ = ["Database", "migrate"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PING_AFTER_IDLE_SECONDS = 5.0


class Database:
    """One engine and session factory per event loop that uses them."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        json_codec = {"json_serializer": _json_text, "json_deserializer": msgspec.json.decode}
        if url.startswith("sqlite"):
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 30}, **json_codec)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, **json_codec)
            _ping_connections_after_idle(self.engine)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.batchers: dict[str, Batcher] = {}
        """Writes grouped into shared transactions (hub.batching), by kind; they live as long as the engine."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _json_text(value: object) -> str:
    """JSON columns (message metadata, event payloads) encoded by msgspec: several times faster than the json module."""
    return msgspec.json.encode(value).decode()


def _ping_connections_after_idle(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only if it sat idle: a busy connection is known to be alive.

    SQLAlchemy's pool_pre_ping costs three round trips (BEGIN, ping, ROLLBACK) on every checkout,
    which was half the round trips of a grouped accept. A connection the server dropped while in
    steady use fails one statement instead, and SQLAlchemy then renews the whole pool.
    """
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def note_idle_since(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
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
