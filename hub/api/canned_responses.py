"""Canned responses: replies an agent inserts by typing their short code. Every agent reads them; admins write
them. Their content is plain text, shown and sent as text wherever it goes."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.dependencies import workspace_row
from hub.api.fields import invalid_field
from hub.api.paging import id_page
from hub.auth import Caller
from hub.db import like_literal
from hub.errors import ApiError, error_responses
from hub.fields import SINGLE_LINE, CursorQuery, IdPath
from hub.labels import as_word
from hub.models import CannedResponse
from hub.runtime import Hub
from hub.views import CannedResponsePage, CannedResponseView
from normalizer import clean_text

__all__ = ["CannedResponseController"]

MAX_CONTENT_LENGTH = 5000
ShortCode = Annotated[
    str,
    Meta(
        max_length=100,
        description="Trimmed and lower-cased: 1-40 letters (CJK included), digits, `-` or `_`; unique in the workspace.",
    ),
]
Content = Annotated[
    str,
    Meta(
        max_length=MAX_CONTENT_LENGTH, description="Plain text; control characters but line breaks removed."
    ),
]


TypedQuery = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=100,
        pattern=SINGLE_LINE,
        description="What the agent typed: short codes starting with it, and contents containing it.",
    ),
]


class CannedResponseBody(msgspec.Struct, forbid_unknown_fields=True):
    short_code: ShortCode
    content: Content


class CannedResponsePatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields to change; the others stay as they are."""

    short_code: ShortCode | UnsetType = UNSET
    content: Content | UnsetType = UNSET


def _short_code(raw: str) -> str:
    short_code = as_word(raw)
    if short_code is None:
        raise invalid_field("short_code", "1-40 letters, digits, '-' or '_', one word")
    return short_code


def _content(raw: str) -> str:
    content = clean_text(raw)
    if not content:
        raise invalid_field("content", "must not be empty")
    return content


def _taken(short_code: str) -> ApiError:
    return ApiError(
        409,
        "short_code_taken",
        f"Another canned response already has the short code {short_code!r}.",
        extra=[{"field": "short_code", "message": "taken"}],
    )


def _view(row: CannedResponse) -> CannedResponseView:
    return CannedResponseView(
        id=row.id,
        short_code=row.short_code,
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _load(session: AsyncSession, caller: Caller, canned_response_id: str) -> CannedResponse:
    """The caller's canned response; 404 for one of another workspace, as for one that does not exist."""
    return await workspace_row(
        session,
        caller,
        CannedResponse,
        canned_response_id,
        code="canned_response_not_found",
        noun="canned response",
    )


async def _save(session: AsyncSession, row: CannedResponse) -> CannedResponseView:
    """Commit `row`; 409 `short_code_taken` when another holds its short code (checked first, and by the unique
    index for a race)."""
    with session.no_autoflush:
        holder = (
            await session.exec(
                select(CannedResponse.id).where(
                    col(CannedResponse.workspace_id) == row.workspace_id,
                    col(CannedResponse.short_code) == row.short_code,
                    col(CannedResponse.id) != row.id,
                )
            )
        ).first()
    if holder is not None:
        raise _taken(row.short_code)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        raise _taken(row.short_code) from None
    await session.refresh(row)
    return _view(row)


class CannedResponseController(Controller):
    path = "/canned_responses"
    tags = ("canned responses",)

    @get("/", responses=error_responses(400, 401))
    async def list_canned_responses(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        q: TypedQuery = None,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> CannedResponsePage:
        """The workspace's canned responses, oldest first; `q` narrows them to short codes starting with it (case
        does not matter) or contents containing it."""
        statement = select(CannedResponse).where(col(CannedResponse.workspace_id) == caller.workspace_id)
        typed = (q or "").strip()
        if typed:
            escaped = like_literal(typed.lower())
            statement = statement.where(
                or_(
                    col(CannedResponse.short_code).like(f"{escaped}%", escape="\\"),
                    func.lower(col(CannedResponse.content)).like(f"%{escaped}%", escape="\\"),
                )
            )
        page, next_cursor = await id_page(session, statement, col(CannedResponse.id), cursor, limit)
        return CannedResponsePage(items=[_view(row) for row in page], next_cursor=next_cursor)

    @post("/", status_code=201, responses=error_responses(400, 401, 409, 413, 422))
    async def create_canned_response(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[CannedResponseBody],
    ) -> CannedResponseView:
        """Admins only. 409 `short_code_taken` when the workspace already has the short code."""
        now = hub.now()
        row = CannedResponse(
            workspace_id=admin.workspace_id,
            short_code=_short_code(data.short_code),
            content=_content(data.content),
            created_at=now,
            updated_at=now,
        )
        return await _save(session, row)

    @patch("/{canned_response_id:str}", responses=error_responses(400, 401, 404, 409, 413, 422))
    async def update_canned_response(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        canned_response_id: IdPath,
        data: JSONBody[CannedResponsePatch],
    ) -> CannedResponseView:
        """Admins only: change the short code or the content."""
        row = await _load(session, admin, canned_response_id)
        if not isinstance(data.short_code, UnsetType):
            row.short_code = _short_code(data.short_code)
        if not isinstance(data.content, UnsetType):
            row.content = _content(data.content)
        row.updated_at = hub.now()
        return await _save(session, row)

    @delete("/{canned_response_id:str}", status_code=204, responses=error_responses(400, 401, 404))
    async def delete_canned_response(
        self,
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        canned_response_id: IdPath,
    ) -> None:
        """Admins only."""
        await session.delete(await _load(session, admin, canned_response_id))
        await session.commit()
