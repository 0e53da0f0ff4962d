"""The connectors' SharedStore on the database: one value and one lock holder for every process.

Connectors see it only through an InboxStore, the part that belongs to the inbox they serve.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from connectors import SharedStore
from hub.crypto import SecretBox
from hub.db import Database
from hub.models import Lease, SharedValue, utcnow

__all__ = ["DatabaseSharedStore", "InboxStore", "LeaseHeld"]

PROCESS_HOLDER = f"{os.uname().nodename}:{os.getpid()}"


class LeaseHeld(Exception):
    """Another process holds the lease."""


class DatabaseSharedStore:
    """Values are encrypted (they are usually channel credentials) and expire."""

    def __init__(self, database: Database, box: SecretBox, now=utcnow) -> None:
        self._database = database
        self._box = box
        self._now = now

    async def get(self, key: str) -> str | None:
        async with self._database.session() as session:
            row = await session.get(SharedValue, key)
            if row is None or row.expires_at <= self._now():
                return None
            return self._box.decrypt(row.value)

    async def set(self, key: str, value: str, ttl: timedelta) -> None:
        async with self._database.session() as session:
            await session.merge(
                SharedValue(key=key, value=self._box.encrypt(value), expires_at=self._now() + ttl)
            )
            await session.commit()

    @asynccontextmanager
    async def lock(self, key: str, ttl: timedelta) -> AsyncIterator[None]:
        """Wait for the lease on `key`, hold it for the block (at most `ttl`)."""
        holder = f"{PROCESS_HOLDER}:{id(asyncio.current_task())}"
        while not await self.try_acquire(key, holder, ttl):  # noqa: ASYNC110  (another process frees the lease)
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            await self.release(key, holder)

    async def try_acquire(self, key: str, holder: str, ttl: timedelta) -> bool:
        now: datetime = self._now()
        async with self._database.session() as session:
            taken = await session.exec(
                update(Lease)
                .where(col(Lease.key) == key, (col(Lease.expires_at) <= now) | (col(Lease.holder) == holder))
                .values(holder=holder, expires_at=now + ttl)
            )
            if taken.rowcount == 1:
                await session.commit()
                return True
            session.add(Lease(key=key, holder=holder, expires_at=now + ttl))
            try:
                await session.commit()
                return True
            except IntegrityError:
                return False

    async def release(self, key: str, holder: str) -> None:
        async with self._database.session() as session:
            await session.exec(delete(Lease).where(col(Lease.key) == key, col(Lease.holder) == holder))
            await session.commit()


class InboxStore:
    """The part of a SharedStore that belongs to one inbox of one workspace: every key (values and locks) is
    prefixed with both ids, so a connector cannot name, read, overwrite or lock another inbox's entries, whatever
    its settings share with that inbox's (an app id, an account name)."""

    def __init__(self, store: SharedStore, workspace_id: str, inbox_id: str) -> None:
        self._store = store
        self._prefix = f"inbox:{workspace_id}:{inbox_id}:"

    async def get(self, key: str) -> str | None:
        return await self._store.get(self._prefix + key)

    async def set(self, key: str, value: str, ttl: timedelta) -> None:
        await self._store.set(self._prefix + key, value, ttl)

    def lock(self, key: str, ttl: timedelta) -> AbstractAsyncContextManager[None]:
        return self._store.lock(self._prefix + key, ttl)
