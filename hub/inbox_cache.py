"""A process's short-lived copies of inbox rows, for the paths that look one up on every request.

Channel callbacks and widget sockets arrive by the thousand for a handful of inboxes. Each web
process answers them from a copy at most INBOX_CACHE_SECONDS old: a changed inbox (a rotated
callback token, new allowed origins) reaches every process within that time, and a busy inbox
costs one query a second instead of one per request. Every holder shares the same detached row,
so thousands of idle widget sockets hold one inbox between them, not one each.
"""

from __future__ import annotations

import time

from sqlmodel import select

from connectors.single_flight import SingleFlight
from hub.db import Database, database_unavailable
from hub.models import Inbox

__all__ = ["INBOX_CACHE_SECONDS", "InboxCache"]

INBOX_CACHE_SECONDS = 1.0
INBOX_CACHE_ENTRIES = 10_000


class InboxCache:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._copies: dict[tuple[tuple[str, str], ...], tuple[float, Inbox | None]] = {}
        self._look_ups: SingleFlight[Inbox | None] = SingleFlight()

    async def find(self, **columns: str) -> Inbox | None:
        """The inbox whose columns have these values (None when there is none), from a recent copy when there is one.

        Requests that find the copy expired at the same moment share one query.
        """
        key = tuple(sorted(columns.items()))
        now = time.monotonic()
        copy = self._copies.get(key)
        if copy is not None and copy[0] > now:
            return copy[1]
        return await self._look_ups.run(key, lambda: self._look_up(key, columns))

    async def _look_up(self, key: tuple[tuple[str, str], ...], columns: dict[str, str]) -> Inbox | None:
        """While the database is away, the last copy serves: channel callbacks are then verified and spooled
        (hub.spool) with the inbox as it was a moment before."""
        read_at = time.monotonic()
        try:
            async with self._database.session() as session:
                statement = select(Inbox).where(
                    *(getattr(Inbox, column) == value for column, value in columns.items())
                )
                inbox = (await session.exec(statement)).first()
        except Exception as error:
            last_copy = self._copies.get(key)
            if last_copy is None or not database_unavailable(error):
                raise
            return last_copy[1]
        if len(self._copies) >= INBOX_CACHE_ENTRIES:
            self._copies.clear()
        self._copies[key] = (read_at + INBOX_CACHE_SECONDS, inbox)
        return inbox
