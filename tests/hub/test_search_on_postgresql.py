"""Search on PostgreSQL: the message text and subject conditions are said as migration 0023's trigram indexes
index them, so those indexes can serve them; a search running past its budget is stopped and refused as too broad
instead of holding a connection."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, or_, text
from sqlalchemy.dialects import postgresql
from sqlmodel import select

from hub import search
from hub.db import Database
from hub.errors import ApiError
from hub.models import Message

pytestmark = pytest.mark.production


def test_the_message_conditions_read_the_trigram_indexes(migrated_postgres_url):
    statement = select(Message.id).where(
        or_(search.message_text().like("%refund 退款%"), search.message_subject().like("%refund 退款%"))
    )
    sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))

    async def plan() -> str:
        database = Database(migrated_postgres_url)
        try:
            async with database.session() as session:
                await session.execute(text("SET LOCAL enable_seqscan = off"))
                rows = (await session.execute(text(f"EXPLAIN {sql}"))).all()
        finally:
            await database.dispose()
        return "\n".join(row[0] for row in rows)

    explained = asyncio.run(plan())
    assert "ix_message_text_search" in explained and "ix_message_subject_search" in explained, explained


def test_a_search_past_its_budget_is_refused_as_too_broad(migrated_postgres_url, monkeypatch):
    monkeypatch.setattr(search, "SEARCH_TIMEOUT_MS", 50)

    async def attempt() -> ApiError:
        database = Database(migrated_postgres_url)
        try:
            async with database.session() as session:
                with pytest.raises(ApiError) as refused:
                    await search.run_bounded(session, select(func.pg_sleep(5)))
        finally:
            await database.dispose()
        return refused.value

    refused = asyncio.run(attempt())
    assert (refused.status_code, refused.code) == (422, "search_too_broad")
