"""hub.models.row_values gives a bulk INSERT every column of a new row, the model's defaults included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from hub.models import Contact, Message, row_values
from tests.conftest import run


def test_defaults_are_filled_fresh_for_every_row() -> None:
    first, second = row_values(Contact, workspace_id="w"), row_values(Contact, workspace_id="w")
    assert first["id"] != second["id"]
    assert (
        first["attributes"] == {} and first["tags"] == [] and first["attributes"] is not second["attributes"]
    )
    assert first["created_at"].tzinfo is not None and first["name"] is None and first["merged_into"] is None


def test_given_values_win_and_the_row_matches_the_constructor() -> None:
    when = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    values = dict(
        id="m-1",
        workspace_id="w",
        conversation_id="c",
        direction="in",
        sender_type="contact",
        text="你好",
        created_at=when,
        updated_at=when,
    )
    assert row_values(Message, **values) == Message(**values).model_dump()


def test_rows_are_inserted_whole_in_one_statement(settings, demo) -> None:
    async def round_trip(hub):
        rows = [row_values(Contact, workspace_id=demo["workspace_id"], name=name) for name in ("小明", "Ann")]
        async with hub.database.session() as session:
            await session.execute(insert(Contact), rows)
            await session.commit()
        async with hub.database.session() as session:
            return [await session.get(Contact, row["id"]) for row in rows]

    stored = run(round_trip, settings)
    assert [(row.name, row.tags, row.merged_into, row.attributes) for row in stored] == [
        ("小明", [], None, {}),
        ("Ann", [], None, {}),
    ]
    assert all(row.created_at.tzinfo is not None for row in stored)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="Contact has no field nmae"):
        row_values(Contact, workspace_id="w", nmae="typo")
