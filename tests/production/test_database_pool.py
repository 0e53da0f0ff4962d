"""Pooled PostgreSQL connections: checked before use only after sitting idle, and renewed when the server dropped them."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from hub import db as hub_db
from hub.db import Database
from hub.jobs import JobQueue, make_broker
from hub.realtime import RedisPublisher
from hub.runtime import open_hub
from hub.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL


async def _backend_pid(database: Database) -> int:
    async with database.engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def _pooled_connection(database: Database) -> tuple[int, asyncpg.Connection]:
    """The backend of the connection the pool hands out next, and the driver's connection to it."""
    async with database.engine.connect() as connection:
        pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        return pid, (await connection.get_raw_connection()).driver_connection


async def _until_the_client_sees_it_closed(driver_connection: asyncpg.Connection) -> None:
    """The server sends its farewell error before it closes the socket, and leaves `pg_stat_activity` in between:
    wait until the client has read the close itself, which is what a connection the server closed looks like."""
    for _ in range(500):
        if driver_connection.is_closed():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the client never saw the terminated connection close")


async def _terminate(pid: int) -> None:
    """End the backend and wait until it has gone (its socket closed)."""
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(500):
            if not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
                break
            await asyncio.sleep(0.01)
    finally:
        await admin.close()


def _counting_pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    ping = database.engine.dialect.do_ping

    def counted(dbapi_connection) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted)
    return pings


@pytest.mark.parametrize(
    ("idle_threshold", "pings"),
    [(hub_db.PING_AFTER_IDLE_SECONDS, 0), (0.0, 1)],
    ids=["busy, reused unchecked", "idle, pinged and kept"],
)
def test_a_live_connection_is_reused_and_pinged_only_after_sitting_idle(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, idle_threshold: float, pings: int
) -> None:
    monkeypatch.setattr(hub_db, "PING_AFTER_IDLE_SECONDS", idle_threshold)

    async def scenario() -> tuple[int, int, list[object]]:
        database = Database(postgres_url, pool_size=1)
        counted = _counting_pings(database, monkeypatch)
        try:
            return await _backend_pid(database), await _backend_pid(database), counted
        finally:
            await database.dispose()

    first, second, counted = asyncio.run(scenario())
    assert first == second and len(counted) == pings


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL restarted, or a proxy closed an idle connection: the next request gets a fresh one, no error."""
    monkeypatch.setattr(hub_db, "PING_AFTER_IDLE_SECONDS", 0.0)

    async def scenario() -> tuple[int, int]:
        database = Database(postgres_url, pool_size=1)
        try:
            dropped = await _backend_pid(database)
            await _terminate(dropped)
            return dropped, await _backend_pid(database)
        finally:
            await database.dispose()

    dropped, replacement = asyncio.run(scenario())
    assert replacement != dropped


def test_a_busy_connection_the_server_closed_is_replaced_before_a_statement_is_sent(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL restarted while the pool was busy: no ping is due, yet no request fails on the dead connection."""

    async def scenario() -> tuple[int, int, list[object]]:
        database = Database(postgres_url, pool_size=1)
        pings = _counting_pings(database, monkeypatch)
        try:
            dropped, driver_connection = await _pooled_connection(database)
            await _terminate(dropped)
            await _until_the_client_sees_it_closed(driver_connection)
            return dropped, await _backend_pid(database), pings
        finally:
            await database.dispose()

    dropped, replacement, pings = asyncio.run(scenario())
    assert replacement != dropped and pings == []


def test_a_process_keeps_the_connections_its_settings_ask_for(postgres_url: str, redis_url: str) -> None:
    """`database_pool_size` connections stay open between bursts (opening one costs both sides its start and a
    re-plan of every statement); those opened beyond it while all were busy are closed when given back."""
    settings = Settings(database_url=postgres_url, database_pool_size=4, secret_key="k" * 32)

    async def scenario() -> tuple[int, int]:
        hub = open_hub(settings, JobQueue(make_broker(settings)), RedisPublisher(redis_url))
        try:
            burst = [await hub.database.engine.connect() for _ in range(6)]
            pids = {
                (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                for connection in burst
            }
            for connection in burst:
                await connection.close()
            return len(pids), hub.database.engine.pool.checkedin()  # type: ignore[attr-defined]
        finally:
            await hub.close()

    assert asyncio.run(scenario()) == (6, 4)


def test_a_pool_size_out_of_range_is_refused() -> None:
    for size in (0, 201):
        with pytest.raises(ValidationError, match="database_pool_size"):
            Settings(database_pool_size=size)
