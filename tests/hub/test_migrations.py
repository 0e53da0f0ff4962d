"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers the tables)
from hub.db import alembic_config, migrate


def _differences(url: str) -> list:
    async def compare() -> list:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), SQLModel.metadata
                )
            )
        await engine.dispose()
        return differences

    return asyncio.run(compare())


def _tables(url: str) -> set[str]:
    async def names() -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            found = await connection.run_sync(lambda sync: set(sync.dialect.get_table_names(sync)))
        await engine.dispose()
        return found

    return asyncio.run(names())


def _index_definitions(url: str) -> dict[str, str]:
    """Each index's CREATE statement as the database keeps it (autogenerate does not compare partial predicates)."""
    query = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        if url.startswith("sqlite")
        else "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )

    async def definitions() -> dict[str, str]:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            rows = (await connection.exec_driver_sql(query)).all()
        await engine.dispose()
        return {name: " ".join((definition or "").split()) for name, definition in rows}

    return asyncio.run(definitions())


def _check_round_trip(url: str) -> None:
    migrate(url)
    assert _differences(url) == []
    indexes = _index_definitions(url)
    assert all(part in indexes["ix_inbound_pending"] for part in ("WHERE", "status", "'pending'"))
    assert all(
        part in indexes["ix_message_delivery"] for part in ("WHERE", "status", "'pending'", "'sending'")
    )
    assert all(part in indexes["ix_inbound_parked"] for part in ("WHERE", "status", "'dead'", "'discarded'"))
    assert "identity_id" in indexes["ix_conversation_identity"] and "ix_conversation_open" not in indexes
    assert not {"ix_identity_workspace_id", "ix_conversation_workspace_id", "ix_message_workspace_id"} & set(
        indexes
    )
    assert set(SQLModel.metadata.tables) <= _tables(url)
    command.downgrade(alembic_config(url), "base")
    assert _tables(url) <= {"alembic_version"}
    migrate(url)
    assert _differences(url) == []


def test_migrations_match_the_models_on_sqlite(tmp_path):
    _check_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'omnihub.db'}")


@pytest.mark.production
def test_migrations_match_the_models_on_postgresql(postgres_url):
    _check_round_trip(postgres_url)


def _failed_events_become_dead_and_back(url: str) -> None:
    """0005 renames the status of events that failed for good (`failed`) to `dead`, which admins can retry."""
    migrate(url, "0004")

    async def statuses(*statements: str) -> list[str]:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)
            found = (
                (await connection.exec_driver_sql("SELECT status FROM inbound_event ORDER BY id"))
                .scalars()
                .all()
            )
        await engine.dispose()
        return list(found)

    assert asyncio.run(
        statuses(
            "INSERT INTO workspace (id, name, created_at) VALUES ('w', 'W', CURRENT_TIMESTAMP)",
            "INSERT INTO inbox (id, workspace_id, kind, name, public_token, settings, routing_strategy, business_hours, "
            "bot_enabled, created_at) VALUES ('i', 'w', 'webchat', 'I', 't', '{}', 'least_busy', '{}', false, CURRENT_TIMESTAMP)",
            *(
                f"INSERT INTO inbound_event (id, workspace_id, inbox_id, dedupe_key, message_id, message, raw, status, "
                f"attempts, received_at) VALUES ('{status}', 'w', 'i', '{status}', 'm-{status}', '{{}}', '', '{status}', 1, "
                f"CURRENT_TIMESTAMP)"
                for status in ("failed", "pending", "processed")
            ),
        )
    ) == ["failed", "pending", "processed"]
    migrate(url)
    assert asyncio.run(statuses()) == ["dead", "pending", "processed"]
    command.downgrade(alembic_config(url), "0004")
    assert asyncio.run(statuses()) == ["failed", "pending", "processed"]


def test_migration_0005_parks_failed_events_as_dead_on_sqlite(tmp_path):
    _failed_events_become_dead_and_back(f"sqlite+aiosqlite:///{tmp_path / 'omnihub.db'}")


@pytest.mark.production
def test_migration_0005_parks_failed_events_as_dead_on_postgresql(postgres_url):
    _failed_events_become_dead_and_back(postgres_url)
