"""Cursor pagination: each page resumes strictly after the key of the last row of the one before, so rows added
between pages never make a page repeat or skip a row that was there.

Paged lists answer `{"items", "next_cursor"}` with the last row's id as cursor (ids are time-ordered, hub.ids).
The lists that answer bare JSON arrays (agents, inboxes, teams, the queue) keep that shape and are paged only when
asked (`limit` or `cursor`): the next page is named by an RFC 8288 `Link: <...>; rel="next"` header, and the cursor
is tagged with its list, so one made for another list is refused like any cursor the API did not make."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

import msgspec
from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Mapped
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from hub.errors import ApiError
from hub.ids import looks_like_id

__all__ = [
    "ARRAY_PAGE_SIZE",
    "NEXT_PAGE_LINK",
    "NextPage",
    "array_cursor",
    "array_cursor_key",
    "array_page",
    "array_rows",
    "array_slice",
    "id_page",
    "keyset_page",
]

ARRAY_PAGE_SIZE = 100
"""The page of a bare-array list given a `cursor` without a `limit`: the largest `limit` allowed."""

NEXT_PAGE_LINK = ResponseHeader(
    name="Link",
    documentation_only=True,
    required=False,
    description='`<path?query>; rel="next"` (RFC 8288) when the list was paged (`limit` or `cursor`) and more rows '
    "remain; absent on the last page and on an unpaged answer. The target is a path relative to this site (resolve "
    "it against the URL you called): the same path and filters with `limit` and the next `cursor`.",
)


class _HasId(Protocol):
    id: str


Row = TypeVar("Row")
IdRow = TypeVar("IdRow", bound=_HasId)
SortKey = TypeVar("SortKey", bound=tuple[Any, ...])
Item = TypeVar("Item")


def _not_ours() -> ApiError:
    return ApiError(400, "invalid_cursor", "The cursor is not one this API returned.")


async def keyset_page(
    session: AsyncSession,
    statement: SelectOfScalar[Row],
    key_column: ColumnElement[Any] | Mapped[Any],
    after: object | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> tuple[Sequence[Row], bool]:
    """Up to `limit` rows ordered by `key_column` alone (unique, so the order is total; an ordering the statement
    had is replaced) strictly after the key `after`, and whether more rows follow."""
    if after is not None:
        statement = statement.where(key_column < after if newest_first else key_column > after)
    ordering = key_column.desc() if newest_first else key_column
    rows = (await session.exec(statement.order_by(None).order_by(ordering).limit(limit + 1))).all()
    return rows[:limit], len(rows) > limit


async def id_page(
    session: AsyncSession,
    statement: SelectOfScalar[IdRow],
    id_column: Mapped[str],
    cursor: str | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> tuple[Sequence[IdRow], str | None]:
    """Up to `limit` rows after `cursor` (an id this API answered) and the cursor of the next page, None on the
    last; 400 `invalid_cursor` for a cursor that is not an id."""
    if cursor is not None and not looks_like_id(cursor):
        raise _not_ours()
    page, more = await keyset_page(session, statement, id_column, cursor, limit, newest_first=newest_first)
    return page, page[-1].id if more else None


@dataclass(frozen=True, slots=True)
class NextPage:
    """Where a paged bare-array list resumes: its cursor, and the page size asked for."""

    cursor: str
    size: int


def _page_size(limit: int | None, cursor: str | None) -> int | None:
    """The page size a bare-array list was asked for; None when it was not paged (every row, as it always was)."""
    if limit is None and cursor is None:
        return None
    return limit or ARRAY_PAGE_SIZE


def array_cursor(list_name: str, key: object) -> str:
    """The cursor resuming `list_name` after the row whose sort key is `key`."""
    return base64.urlsafe_b64encode(msgspec.json.encode([list_name, key])).rstrip(b"=").decode()


def array_cursor_key(cursor: str, list_name: str, key_type: Any) -> Any:
    """The sort key an `array_cursor` of `list_name` names, converted to `key_type` (a msgspec type form, so its
    constraints are checked); 400 `invalid_cursor` for anything else, a cursor of another list included."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, key = msgspec.json.decode(raw, type=tuple[str, Any])
        if name != list_name:
            raise _not_ours()
        return msgspec.convert(key, type=key_type)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise _not_ours() from None


async def array_rows(
    session: AsyncSession,
    statement: SelectOfScalar[Row],
    list_name: str,
    key_column: ColumnElement[Any] | Mapped[Any],
    key_of: Callable[[Row], object],
    key_type: Any,
    limit: int | None,
    cursor: str | None,
) -> tuple[Sequence[Row], NextPage | None]:
    """The rows of a bare-array list: all of them by `statement` as it stands when not paged; else one page ordered
    by `key_column` (unique, read from a row by `key_of`, of `key_type` in a cursor) after the cursor's key, and
    the next page if any."""
    size = _page_size(limit, cursor)
    if size is None:
        return (await session.exec(statement)).all(), None
    after = None if cursor is None else array_cursor_key(cursor, list_name, key_type)
    page, more = await keyset_page(session, statement, key_column, after, size)
    return page, NextPage(array_cursor(list_name, key_of(page[-1])), size) if more else None


def array_slice(
    ordered: Sequence[Item],
    list_name: str,
    key_of: Callable[[Item], SortKey],
    key_type: Any,
    limit: int | None,
    cursor: str | None,
) -> tuple[int, Sequence[Item], NextPage | None]:
    """A bare-array list held in memory, sorted ascending by `key_of` (a total order; `key_type` in a cursor): the
    index its page starts at, the page (every row when not paged) and the next page if any."""
    size = _page_size(limit, cursor)
    if size is None:
        return 0, ordered, None
    start = (
        0
        if cursor is None
        else bisect_right(ordered, array_cursor_key(cursor, list_name, key_type), key=key_of)
    )
    page = ordered[start : start + size]
    more = start + size < len(ordered)
    return start, page, NextPage(array_cursor(list_name, key_of(page[-1])), size) if more else None


def array_page(
    request: Request[Any, Any, Any], items: list[Item], next_page: NextPage | None
) -> Response[list[Item]]:
    """The bare array the list always answered, with `Link: <...>; rel="next"` when more remain: the request's own
    path and query with `limit` and `cursor` set for the next page."""
    if next_page is None:
        return Response(items)
    query = [
        (name, value) for name, value in request.query_params.multi_items() if name not in ("limit", "cursor")
    ]
    query += [("limit", str(next_page.size)), ("cursor", next_page.cursor)]
    return Response(items, headers={"Link": f'<{quote(request.url.path)}?{urlencode(query)}>; rel="next"'})
