"""hub.models.new_row makes the same rows as the model's own constructor, only cheaper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm.attributes import flag_modified

from hub.models import Contact, Message, new_row
from tests.conftest import run


def test_defaults_are_filled_fresh_for_every_row() -> None:
    first, second = new_row(Contact, workspace_id="w"), new_row(Contact, workspace_id="w")
    assert first.id != second.id
    assert first.attributes == {} and first.tags == [] and first.attributes is not second.attributes
    assert first.created_at.tzinfo is not None and first.name is None


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
    made = new_row(Message, **values)
    assert made.model_dump() == Message(**values).model_dump()
    assert made.id == "m-1" and made.created_at == when


def test_a_made_row_is_inserted_whole_and_later_changes_are_saved(settings, demo) -> None:
    """The row is a normal pending ORM object: the INSERT takes every field, later assignments become UPDATEs."""

    async def round_trip(hub):
        async with hub.database.session() as session:
            contact = new_row(Contact, workspace_id=demo["workspace_id"], name="小明")
            session.add(contact)
            await session.commit()
            contact.name = "王小明"
            contact.tags.append("vip")
            flag_modified(contact, "tags")
            await session.commit()
        async with hub.database.session() as session:
            return await session.get(Contact, contact.id)

    stored = run(round_trip, settings)
    assert (stored.name, stored.tags, stored.attributes) == ("王小明", ["vip"], {})
    assert stored.created_at.tzinfo is not None


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="Contact has no field nmae"):
        new_row(Contact, workspace_id="w", nmae="typo")
