"""Each workspace's knowledge base: its articles in the database, and this process's index of them.

Every change to a workspace's articles, synonym groups or out-of-scope examples bumps `Workspace.kb_version` in the change's own transaction.
Before answering, a process reads that version (one indexed row) and, when it differs from the one
its index was built at, reloads the articles and derives the next index with `BotIndex.updated`
(only changed articles are analysed again). So an edit takes effect at once on every web and worker
process, with no restart and no message between processes.

With `OMNIHUB_KB_SEMANTIC_RERANKER` on, each index also holds its phrasings' embeddings and its out-of-scope
examples' (routing.bot.semantic, with the model OMNIHUB_KB_SEMANTIC_MODEL names): the model is loaded in a thread at
the first rebuild, and a rebuild, in a thread too, embeds only the texts no index of the process holds.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import Database
from hub.models import KbArticle, KbOutOfScopeExample, Workspace, WorkspaceBot
from routing.bot import Article, BotAnswer, BotIndex
from routing.bot.decision import ScoredArticle
from routing.bot.semantic_package import SemanticModelName

if TYPE_CHECKING:
    from hub.runtime import Hub
    from routing.bot.semantic import OutOfScopeExample, SemanticIndex

__all__ = [
    "KnowledgeBase",
    "answer",
    "bump_version",
    "engine_article",
    "grounding",
    "knowledge_base",
    "out_of_scope_example_rows",
    "out_of_scope_examples",
    "workspace_synonyms",
]


def engine_article(row: KbArticle) -> Article:
    """The row as the pure engine sees it."""
    return Article(
        id=row.id,
        title=row.title,
        questions=tuple(row.questions),
        answer=row.answer,
        locale=row.locale,
        tags=tuple(row.tags),
        enabled=row.enabled,
    )


async def bump_version(session: AsyncSession, workspace_id: str) -> None:
    """Call in the transaction that changes the workspace's articles: every process sees the change at its next ask."""
    await session.execute(
        update(Workspace)
        .where(col(Workspace.id) == workspace_id)
        .values(kb_version=col(Workspace.kb_version) + 1)
    )


@dataclass(frozen=True, slots=True)
class _Built:
    version: int
    index: BotIndex | SemanticIndex
    article_ids: frozenset[str]
    synonyms: tuple[tuple[str, ...], ...]


@dataclass(slots=True)
class KnowledgeBase:
    """This process's (this event loop's) indexes, one per workspace, each at the version it was built from;
    with `semantic`, indexes that re-rank with `semantic_model`'s sentence embedding and veto answers closer to the
    workspace's out-of-scope examples."""

    semantic: bool = False
    semantic_model: SemanticModelName = "use"
    _built: dict[str, _Built] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def ask(
        self, session: AsyncSession, workspace_id: str, text: str, locale: str | None = None
    ) -> BotAnswer:
        """What the bot does with `text`: the same answer for the API's ask and in a conversation."""
        return await answer(await self.index(session, workspace_id), text, locale)

    async def index(
        self, session: AsyncSession, workspace_id: str, version: int | None = None
    ) -> BotIndex | SemanticIndex:
        """The workspace's index at the version the database holds now, read on the caller's session.

        Never on a session of its own: a caller holding a pooled connection (a bot turn) while waiting for a
        second one would, with as many turns in flight as the pool has connections, wait for the pool's timeout.
        `version` is the workspace's `kb_version` when the caller has just read it (a bot turn reads it with its
        conversation), which spares a round trip; None reads it here.
        """
        if version is None:
            version = await _version(session, workspace_id)
        built = self._built.get(workspace_id)
        if built is not None and built.version == version:
            return built.index
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        async with lock:
            built = self._built.get(workspace_id)
            if built is None or built.version != version:
                built = await self._rebuild(session, workspace_id, built)
                self._built[workspace_id] = built
            return built.index

    async def _rebuild(self, session: AsyncSession, workspace_id: str, previous: _Built | None) -> _Built:
        """The version is read before the articles: an edit committed in between makes the next ask rebuild
        again, never leaves an index older than the version it claims."""
        version = await _version(session, workspace_id)
        rows = (
            await session.exec(select(KbArticle).where(col(KbArticle.workspace_id) == workspace_id))
        ).all()
        synonyms = await workspace_synonyms(session, workspace_id)
        articles = [engine_article(row) for row in rows]
        ids = frozenset(article.id for article in articles)
        # Analysing articles costs milliseconds each: off the event loop, which keeps serving meanwhile.
        if previous is None or previous.synonyms != synonyms:
            index = await asyncio.to_thread(BotIndex.build, articles, synonyms)
        else:
            index = await asyncio.to_thread(
                _lexical(previous.index).updated, articles, previous.article_ids - ids
            )
        if not self.semantic:
            return _Built(version, index, ids, synonyms)
        from routing.bot.semantic import FITTED, SemanticIndex, shared_encoder

        examples = await out_of_scope_examples(session, workspace_id)
        model, thresholds = FITTED[self.semantic_model]
        encode = await asyncio.to_thread(shared_encoder, self.semantic_model)
        semantic = await asyncio.to_thread(SemanticIndex.build, index, encode, model, thresholds, examples)
        return _Built(version, semantic, ids, synonyms)


async def answer(index: BotIndex | SemanticIndex, text: str, locale: str | None = None) -> BotAnswer:
    """`index.ask`; a semantic index's in a thread: encoding the question takes 2-50 ms, which the event loop spends
    serving other requests and turns (the models' C code and numpy release the GIL, so another core may encode)."""
    if isinstance(index, BotIndex):
        return index.ask(text, locale)
    return await asyncio.to_thread(index.ask, text, locale)


async def grounding(index: BotIndex | SemanticIndex, text: str) -> tuple[ScoredArticle, ...]:
    """The articles an engine that writes its own answer may ground it in, best first: none when the workspace's
    out-of-scope examples veto the question (a semantic index's, in a thread as `answer`)."""
    if isinstance(index, BotIndex):
        return index.ranked(text)
    return await asyncio.to_thread(index.grounding, text)


def _lexical(index: BotIndex | SemanticIndex) -> BotIndex:
    return index if isinstance(index, BotIndex) else index.lexical


async def _version(session: AsyncSession, workspace_id: str) -> int:
    version = (
        await session.exec(select(Workspace.kb_version).where(col(Workspace.id) == workspace_id))
    ).first()
    return version or 0


async def workspace_synonyms(session: AsyncSession, workspace_id: str) -> tuple[tuple[str, ...], ...]:
    """The business's own synonym groups (the engine adds its built-in ones); none when never set."""
    found = (
        await session.exec(
            select(WorkspaceBot.synonyms).where(col(WorkspaceBot.workspace_id) == workspace_id)
        )
    ).first()
    return tuple(tuple(group) for group in found or ())


async def out_of_scope_example_rows(
    session: AsyncSession, workspace_id: str
) -> Sequence[KbOutOfScopeExample]:
    """The questions the business listed as not for the bot, oldest first."""
    return (
        await session.exec(
            select(KbOutOfScopeExample)
            .where(col(KbOutOfScopeExample.workspace_id) == workspace_id)
            .order_by(col(KbOutOfScopeExample.id))
        )
    ).all()


async def out_of_scope_examples(session: AsyncSession, workspace_id: str) -> list[OutOfScopeExample]:
    """The workspace's out-of-scope examples as the re-ranker takes them."""
    from routing.bot.semantic import OutOfScopeExample

    return [
        OutOfScopeExample(row.text, row.locale)
        for row in await out_of_scope_example_rows(session, workspace_id)
    ]


_KNOWLEDGE_BASES: weakref.WeakKeyDictionary[Database, KnowledgeBase] = weakref.WeakKeyDictionary()


def knowledge_base(hub: Hub) -> KnowledgeBase:
    """The knowledge base of the hub's (the event loop's) database handle: one index cache per Hub."""
    found = _KNOWLEDGE_BASES.get(hub.database)
    if found is None:
        found = _KNOWLEDGE_BASES[hub.database] = KnowledgeBase(
            semantic=hub.settings.kb_semantic_reranker, semantic_model=hub.settings.kb_semantic_model
        )
    return found
