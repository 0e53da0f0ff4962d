"""What a search text finds: contacts by name or any identity, conversations by those contacts or by what was
said in them (message text, an email's subject).

On PostgreSQL every part reads an index: identities by value, names and message texts and subjects through
pg_trgm trigram indexes (migration 0023); a text whose matches are too many to sort in time is stopped at
SEARCH_TIMEOUT_MS and refused as too broad rather than left to hold a connection. SQLite (embedded) scans
with LIKE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, CompoundSelect, and_, func, literal_column, or_, text, union
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from hub.db import like_literal, query_canceled
from hub.errors import ApiError
from hub.models import Contact, Conversation, Identity, Message, Workspace
from normalizer import IdentityKind, IdentityRef, InvalidIdentity, fold_text, normalize_identity

__all__ = [
    "SEARCH_TIMEOUT_MS",
    "contacts_matching",
    "conversations_matching",
    "message_subject",
    "message_text",
    "run_bounded",
]

SEARCH_TIMEOUT_MS = 3000
"""How long PostgreSQL may spend on one search's statements (a text found in most messages of a large
workspace) before the search is refused as too broad."""

Row = TypeVar("Row")
Ids = SelectOfScalar[str] | CompoundSelect
"""A subquery of ids, for `IN`."""


def message_text() -> ColumnElement[str]:
    """The expression `ix_message_text_search` indexes: the query must say it the same way to read the index."""
    return func.lower(col(Message.text))


def message_subject() -> ColumnElement[str]:
    """The expression `ix_message_subject_search` indexes (`->>` is PostgreSQL's and SQLite's alike)."""
    return func.lower(col(Message.meta).op("->>")(literal_column("'subject'")))


def search_values(query: str, region: str) -> list[tuple[str, str]]:
    """The (kind, value) pairs a search text may be: an email and a phone in any spelling, or a value as stored."""
    folded = fold_text(query)
    candidates = [("", folded)]
    for kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
        try:
            candidates.append(
                (kind, normalize_identity(IdentityRef(kind, folded), default_region=region).value)
            )
        except InvalidIdentity:
            continue
    return candidates


async def contacts_matching(session: AsyncSession, workspace_id: str, query: str) -> Ids:
    """Ids of the workspace's contacts whose name contains `query` or who hold it as an identity."""
    workspace = await session.get_one(Workspace, workspace_id)
    candidates = search_values(query, workspace.default_region)
    matches = [
        and_(col(Identity.value) == value, col(Identity.kind) == kind)
        if kind
        else col(Identity.value) == value
        for kind, value in candidates
    ]
    by_identity = select(Identity.contact_id).where(Identity.workspace_id == workspace_id, or_(*matches))
    if len(candidates) > 1:
        # A valid phone number or email address is no part of anyone's name: the name index is not read.
        return by_identity
    by_name = select(Contact.id).where(
        Contact.workspace_id == workspace_id,
        col(Contact.name).ilike(f"%{like_literal(fold_text(query))}%", escape="\\"),
    )
    return union(by_identity, by_name)


def conversations_matching(workspace_id: str, query: str, contact_ids: Ids) -> ColumnElement[bool]:
    """Whether a conversation is one of the contacts `contact_ids` names, or has a message (notes included)
    whose text or subject contains `query`, case aside.

    Said as EXISTS/IN beside the list's own order, PostgreSQL walks the list's index newest first and checks
    each row against the matching messages gathered once through the trigram indexes, so a page stops at
    its last row."""
    pattern = f"%{like_literal(query.lower())}%"
    said = select(Message.id).where(
        Message.workspace_id == workspace_id,
        Message.conversation_id == Conversation.id,
        or_(message_text().like(pattern, escape="\\"), message_subject().like(pattern, escape="\\")),
    )
    return or_(said.exists(), col(Conversation.contact_id).in_(contact_ids))


async def run_bounded(session: AsyncSession, statement: SelectOfScalar[Row]) -> Sequence[Row]:
    """The rows of a search, within SEARCH_TIMEOUT_MS on PostgreSQL (for this statement and the rest of the
    request's transaction); 422 `search_too_broad` when it takes longer."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL statement_timeout = {SEARCH_TIMEOUT_MS}"))
    try:
        return (await session.exec(statement)).all()
    except DBAPIError as error:
        if not query_canceled(error):
            raise
    raise ApiError(
        422,
        "search_too_broad",
        "The search matches too much to list in time: add words or a filter.",
        extra=[{"field": "q", "message": "too broad"}],
    )
