"""The caller's @mentions: internal notes of their workspace that named them, and marking them read."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.dependencies import load_conversation
from hub.api.paging import id_page
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import CursorQuery, Id
from hub.models import Mention
from hub.runtime import Hub
from hub.views import MentionPage, MentionsRead, MentionView

__all__ = ["MentionController", "MentionsReadBody"]


class MentionsReadBody(msgspec.Struct):
    conversation_id: Id


def _agent_id(caller: Caller) -> str:
    if caller.agent_id is None:
        raise ApiError(403, "agent_only", "Only an agent's token has mentions.")
    return caller.agent_id


def mention_view(mention: Mention) -> MentionView:
    return MentionView(
        id=mention.id,
        conversation_id=mention.conversation_id,
        note_id=mention.note_id,
        author_id=mention.author_id,
        created_at=mention.created_at,
        read_at=mention.read_at,
    )


class MentionController(Controller):
    path = "/me/mentions"
    tags = ("agents",)

    @get("/", responses=error_responses(400, 401, 403))
    async def list_mentions(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        unread: Annotated[bool, QueryParameter(description="Only the mentions not read yet.")] = False,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
    ) -> MentionPage:
        """The notes of the caller's workspace that named the caller as "@Their Name", newest first. Opening the
        conversation (`POST /api/v1/me/mentions/read`) marks them read."""
        statement = select(Mention).where(
            Mention.workspace_id == caller.workspace_id, Mention.agent_id == _agent_id(caller)
        )
        if unread:
            statement = statement.where(col(Mention.read_at).is_(None))
        page, next_cursor = await id_page(
            session, statement, col(Mention.id), cursor, limit, newest_first=True
        )
        return MentionPage(items=[mention_view(mention) for mention in page], next_cursor=next_cursor)

    @post("/read", status_code=200, responses=error_responses(400, 401, 403, 404, 413, 422))
    async def mark_read(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[MentionsReadBody],
    ) -> MentionsRead:
        """Mark the caller's unread mentions in the conversation read (the inbox does so when it opens it)."""
        agent_id = _agent_id(caller)
        await load_conversation(session, caller, data.conversation_id)
        result = await session.execute(
            update(Mention)
            .where(
                col(Mention.workspace_id) == caller.workspace_id,
                col(Mention.agent_id) == agent_id,
                col(Mention.conversation_id) == data.conversation_id,
                col(Mention.read_at).is_(None),
            )
            .values(read_at=hub.now())
        )
        await session.commit()
        return MentionsRead(marked=result.rowcount)  # type: ignore[attr-defined]
