"""The business's out-of-scope examples at /api/v1/kb/out-of-scope-examples: questions the bot must not answer.

With the semantic re-ranker on, a question more similar to one of them than to its most similar article is
abstained on. Like article edits, every change bumps the workspace's knowledge-base version in its own transaction,
so the next question on any process is decided with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import Meta
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.dependencies import workspace_row
from hub.api.fields import required_text
from hub.api.knowledge_base import LOCALE_PATTERN, MAX_QUESTION_LENGTH
from hub.api.paging import id_page
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import CursorQuery, IdPath
from hub.knowledge_base import bump_version, out_of_scope_example_rows
from hub.models import KbOutOfScopeExample

__all__ = [
    "MAX_OUT_OF_SCOPE_EXAMPLES",
    "OutOfScopeExampleBody",
    "OutOfScopeExampleController",
    "OutOfScopeExampleList",
    "OutOfScopeExampleView",
    "example_views",
]

MAX_OUT_OF_SCOPE_EXAMPLES = 1_000
"""Per workspace: every process embeds each one and compares every question with all of them."""
ExampleLocale = Annotated[
    str,
    Meta(
        max_length=35,
        pattern=LOCALE_PATTERN,
        description="BCP 47 tag such as zh-CN or en; empty: any language.",
    ),
]


class OutOfScopeExampleBody(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_QUESTION_LENGTH,
            description="A question the bot must not answer. Control characters are removed; must not end up "
            "empty; a text the workspace already lists is refused (409).",
        ),
    ]
    locale: ExampleLocale = ""
    """With a locale, the example vetoes only questions asked in that language when `kb/ask` is given one."""


class OutOfScopeExampleView(msgspec.Struct):
    id: str
    text: str
    locale: str
    created_at: datetime


class OutOfScopeExampleList(msgspec.Struct):
    items: list[OutOfScopeExampleView]
    """One page of the workspace's examples, oldest first."""
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


def _view(row: KbOutOfScopeExample) -> OutOfScopeExampleView:
    return OutOfScopeExampleView(id=row.id, text=row.text, locale=row.locale, created_at=row.created_at)


async def example_views(session: AsyncSession, workspace_id: str) -> list[OutOfScopeExampleView]:
    """Every example of the workspace, oldest first (the API's list and the admin page's)."""
    return [_view(row) for row in await out_of_scope_example_rows(session, workspace_id)]


def _duplicate(text: str) -> ApiError:
    return ApiError(409, "duplicate_example", f"The workspace already lists {text[:60]!r} as out of scope.")


class OutOfScopeExampleController(Controller):
    path = "/kb/out-of-scope-examples"
    tags = ["knowledge base and bot"]

    @get("/", responses=error_responses(400, 401))
    async def list_examples(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> OutOfScopeExampleList:
        """Oldest first; pass `next_cursor` back for more."""
        statement = select(KbOutOfScopeExample).where(
            col(KbOutOfScopeExample.workspace_id) == caller.workspace_id
        )
        page, next_cursor = await id_page(session, statement, col(KbOutOfScopeExample.id), cursor, limit)
        return OutOfScopeExampleList(items=[_view(row) for row in page], next_cursor=next_cursor)

    @post("/", status_code=201, responses=error_responses(400, 401, 409, 413, 422))
    async def add_example(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[OutOfScopeExampleBody],
    ) -> OutOfScopeExampleView:
        """List a question the bot must not answer; from the next question on, on every process, a question
        closer to it than to any article is abstained on (with the semantic re-ranker on)."""
        text = required_text("text", data.text)
        workspace = col(KbOutOfScopeExample.workspace_id) == caller.workspace_id
        count = (
            await session.exec(select(func.count()).select_from(KbOutOfScopeExample).where(workspace))
        ).one()
        if count >= MAX_OUT_OF_SCOPE_EXAMPLES:
            raise ApiError(
                422,
                "too_many_examples",
                f"A workspace lists at most {MAX_OUT_OF_SCOPE_EXAMPLES} out-of-scope examples.",
            )
        listed = (
            await session.exec(
                select(KbOutOfScopeExample.id).where(workspace, col(KbOutOfScopeExample.text) == text)
            )
        ).first()
        if listed is not None:
            raise _duplicate(text)
        row = KbOutOfScopeExample(workspace_id=caller.workspace_id, text=text, locale=data.locale)
        session.add(row)
        await bump_version(session, caller.workspace_id)
        try:
            await session.commit()
        except IntegrityError:
            raise _duplicate(text) from None
        return _view(row)

    @delete("/{example_id:str}", status_code=204, responses=error_responses(400, 401, 404))
    async def delete_example(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], example_id: IdPath
    ) -> None:
        """404 for an example of another workspace, as for one that does not exist."""
        row = await workspace_row(
            session,
            caller,
            KbOutOfScopeExample,
            example_id,
            code="example_not_found",
            noun="out-of-scope example",
        )
        await session.delete(row)
        await bump_version(session, caller.workspace_id)
        await session.commit()
