"""The web process's inbox copies: a busy inbox costs one query per INBOX_CACHE_SECONDS, however many requests wait."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from hub.inbox_cache import InboxCache
from hub.runtime import Hub
from hub.settings import Settings
from tests.conftest import inbox_of, run


def test_requests_that_find_the_copy_expired_together_share_one_query(
    settings: Settings, demo: dict[str, Any]
) -> None:
    wechat = inbox_of(demo, "wechat_oa")

    async def burst_of_lookups(hub: Hub) -> tuple[list[str | None], list[str]]:
        inbox_queries: list[str] = []

        def count_inbox_queries(_connection, _cursor, statement: str, *_args) -> None:
            if "FROM inbox" in statement:
                inbox_queries.append(statement)

        event.listen(hub.database.engine.sync_engine, "before_cursor_execute", count_inbox_queries)
        cache = InboxCache(hub.database)
        found = await asyncio.gather(
            *(cache.find(id=wechat["id"], kind="wechat_oa") for _ in range(30)),
            cache.find(id="no-such-inbox", kind="wechat_oa"),
        )
        return [inbox.id if inbox else None for inbox in found], inbox_queries

    found, queries = run(burst_of_lookups, settings)
    assert found == [wechat["id"]] * 30 + [None]
    assert len(queries) == 2, "one query for the inbox, one for the inbox that does not exist"
