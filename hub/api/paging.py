"""Cursor pagination by id: ids are time-ordered (hub.ids), so a page after an id is stable while rows are added."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from sqlalchemy.orm import Mapped
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from hub.errors import ApiError
from hub.ids import looks_like_id

__all__ = ["id_page"]


class _HasId(Protocol):
    id: str


Row = TypeVar("Row", bound=_HasId)


async def id_page(
    session: AsyncSession,
    statement: SelectOfScalar[Row],
    id_column: Mapped[str],
    cursor: str | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> tuple[Sequence[Row], str | None]:
    """Up to `limit` rows after `cursor` (an id this API answered) and the cursor of the next page, None on the
    last; 400 `invalid_cursor` for a cursor that is not an id."""
    if cursor is not None:
        if not looks_like_id(cursor):
            raise ApiError(400, "invalid_cursor", "The cursor is not one this API returned.")
        statement = statement.where(id_column < cursor if newest_first else id_column > cursor)
    ordered = statement.order_by(id_column.desc() if newest_first else id_column).limit(limit + 1)
    rows = (await session.exec(ordered)).all()
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit else None
