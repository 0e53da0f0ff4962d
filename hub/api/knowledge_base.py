"""The knowledge-base API under /api/v1/kb (articles, their CSV and Markdown files, asking the bot), and each
inbox's bot settings at /api/v1/inboxes/{id}/bot.

Every query is scoped to the caller's workspace; every change bumps the workspace's knowledge-base version in
its own transaction, so the next question on any process is answered from the changed articles.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.bot_settings import refuse_run_when_without_hours, refuse_unconfigured_engine
from hub.api.dependencies import load_inbox, workspace_row
from hub.api.fields import required_text
from hub.api.paging import id_page
from hub.auth import Caller
from hub.bot import BotSettings, bot_settings
from hub.errors import ApiError, error_responses
from hub.fields import CursorQuery, IdPath
from hub.ids import looks_like_id
from hub.kb_formats import FormatError, parse_csv, parse_markdown, to_csv, to_markdown
from hub.knowledge_base import bump_version, knowledge_base
from hub.models import KbArticle
from hub.runtime import Hub
from normalizer import clean_text

__all__ = [
    "MAX_ARTICLES",
    "ArticleBody",
    "ArticlePage",
    "ArticlePatch",
    "ArticleView",
    "AskAnswer",
    "AskBody",
    "ImportAnswer",
    "KnowledgeBaseController",
    "SuggestionView",
]

MAX_ARTICLES = 5_000
"""Per workspace: every process keeps each workspace's index in memory."""
MAX_QUESTION_LENGTH = 500
MAX_ANSWER_LENGTH = 10_000
MAX_ASK_LENGTH = 4_000
LOCALE_PATTERN = r"^([A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3})?$"

Title = Annotated[
    str,
    Meta(min_length=1, max_length=200, description="Control characters are removed; must not end up empty."),
]
Question = Annotated[
    str, Meta(min_length=1, max_length=MAX_QUESTION_LENGTH, description="One way customers ask.")
]
Questions = Annotated[list[Question], Meta(min_length=1, max_length=50)]
Answer = Annotated[str, Meta(min_length=1, max_length=MAX_ANSWER_LENGTH, description="What the bot sends.")]
Locale = Annotated[
    str,
    Meta(
        max_length=35,
        pattern=LOCALE_PATTERN,
        description="BCP 47 tag such as zh-CN or en; empty: the language of the article's text.",
    ),
]
Tag = Annotated[str, Meta(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f,]+$")]
Tags = Annotated[list[Tag], Meta(max_length=20)]


class ArticleBody(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    questions: Questions
    answer: Answer
    locale: Locale = ""
    tags: Tags = []
    enabled: bool = True
    """Disabled articles are kept but never answered with."""


class ImportedArticle(ArticleBody, forbid_unknown_fields=True):
    id: str = ""
    """An article of the workspace to update; empty, or an id the workspace does not have, creates one."""


class ArticlePatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields to change; the others stay."""

    title: Title | UnsetType = UNSET
    questions: Questions | UnsetType = UNSET
    answer: Answer | UnsetType = UNSET
    locale: Locale | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET


class ArticleView(msgspec.Struct):
    id: str
    title: str
    questions: list[str]
    answer: str
    locale: str
    tags: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ArticlePage(msgspec.Struct):
    items: list[ArticleView]
    next_cursor: str | None
    """Pass back as `cursor` for the next page; null on the last one."""


class AskBody(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, Meta(max_length=MAX_ASK_LENGTH, description="The customer's question.")]
    locale: Locale | None = None
    """Only articles in this language; without it, the question's own language is preferred."""


class SuggestionView(msgspec.Struct):
    article_id: str
    title: str
    score: float


class AskAnswer(msgspec.Struct):
    decision: Literal["answer", "suggest", "abstain"]
    article_id: str | None
    """The article answered with (for `answer`)."""
    score: float
    """The confidence, from 0 to 1, that the best article is right."""
    suggestions: list[SuggestionView]
    """For `suggest`: the articles offered, best first."""


class ImportAnswer(msgspec.Struct):
    created: int
    updated: int


FileFormat = Annotated[
    Literal["csv", "markdown"],
    QueryParameter(description="`csv` or `markdown` (see the README for both formats)."),
]
FORMAT_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}
FORMAT_SUFFIXES = {"csv": "csv", "markdown": "md"}


def article_view(row: KbArticle) -> ArticleView:
    return ArticleView(
        id=row.id,
        title=row.title,
        questions=list(row.questions),
        answer=row.answer,
        locale=row.locale,
        tags=list(row.tags),
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _cleaned_questions(questions: list[str], field: str = "questions") -> list[str]:
    cleaned = [required_text(f"{field}[{number}]", question) for number, question in enumerate(questions)]
    return list(dict.fromkeys(cleaned))


def _cleaned_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(required_text(f"tags[{number}]", tag) for number, tag in enumerate(tags)))


def _apply(row: KbArticle, body: ArticleBody, prefix: str = "") -> None:
    row.title = required_text(prefix + "title", body.title)
    row.questions = _cleaned_questions(body.questions, prefix + "questions")
    row.answer = required_text(prefix + "answer", body.answer)
    row.locale = body.locale
    row.tags = _cleaned_tags(body.tags)
    row.enabled = body.enabled


async def _article(session: AsyncSession, caller: Caller, article_id: str) -> KbArticle:
    """The caller's article; 404 for one of another workspace, as for one that does not exist."""
    return await workspace_row(
        session, caller, KbArticle, article_id, code="article_not_found", noun="article"
    )


async def _refuse_beyond_limit(session: AsyncSession, workspace_id: str, adding: int) -> None:
    count = (
        await session.exec(
            select(func.count()).select_from(KbArticle).where(col(KbArticle.workspace_id) == workspace_id)
        )
    ).one()
    if count + adding > MAX_ARTICLES:
        raise ApiError(
            422,
            "too_many_articles",
            f"A workspace holds at most {MAX_ARTICLES} articles; it has {count}, and this would add {adding}.",
        )


class KnowledgeBaseController(Controller):
    tags = ["knowledge base and bot"]

    @post("/kb/articles", status_code=201, responses=error_responses(400, 401, 413, 422))
    async def create_article(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[ArticleBody],
    ) -> ArticleView:
        """Add an article; the bot answers with it from the next question on, on every process."""
        row = KbArticle(workspace_id=caller.workspace_id, title="", answer="")
        _apply(row, data)
        await _refuse_beyond_limit(session, caller.workspace_id, 1)
        session.add(row)
        await bump_version(session, caller.workspace_id)
        await session.commit()
        return article_view(row)

    @get("/kb/articles", responses=error_responses(400, 401))
    async def list_articles(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> ArticlePage:
        """Oldest first; pass `next_cursor` back for more."""
        statement = select(KbArticle).where(col(KbArticle.workspace_id) == caller.workspace_id)
        page, next_cursor = await id_page(session, statement, col(KbArticle.id), cursor, limit)
        return ArticlePage(items=[article_view(row) for row in page], next_cursor=next_cursor)

    @get("/kb/articles/{article_id:str}", responses=error_responses(400, 401, 404))
    async def get_article(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], article_id: IdPath
    ) -> ArticleView:
        return article_view(await _article(session, caller, article_id))

    @patch("/kb/articles/{article_id:str}", responses=error_responses(400, 401, 404, 413, 422))
    async def update_article(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        article_id: IdPath,
        data: JSONBody[ArticlePatch],
    ) -> ArticleView:
        """Change the fields given; the next question on any process is answered from the changed article."""
        row = await _article(session, caller, article_id)
        if not isinstance(data.title, UnsetType):
            row.title = required_text("title", data.title)
        if not isinstance(data.questions, UnsetType):
            row.questions = _cleaned_questions(data.questions)
        if not isinstance(data.answer, UnsetType):
            row.answer = required_text("answer", data.answer)
        if not isinstance(data.locale, UnsetType):
            row.locale = data.locale
        if not isinstance(data.tags, UnsetType):
            row.tags = _cleaned_tags(data.tags)
        if not isinstance(data.enabled, UnsetType):
            row.enabled = data.enabled
        row.updated_at = hub.now()
        session.add(row)
        await bump_version(session, caller.workspace_id)
        await session.commit()
        return article_view(row)

    @delete("/kb/articles/{article_id:str}", status_code=204, responses=error_responses(400, 401, 404))
    async def delete_article(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], article_id: IdPath
    ) -> None:
        row = await _article(session, caller, article_id)
        await session.delete(row)
        await bump_version(session, caller.workspace_id)
        await session.commit()

    @post("/kb/ask", status_code=200, opt={"scope": "read"}, responses=error_responses(400, 401, 413))
    async def ask(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[AskBody],
    ) -> AskAnswer:
        """Exactly the decision the bot would take on this text in a conversation (before any handoff request)."""
        answer = await knowledge_base(hub).ask(
            session, caller.workspace_id, clean_text(data.text), data.locale
        )
        return AskAnswer(
            decision=answer.decision,
            article_id=answer.article_id,
            score=answer.score,
            suggestions=[
                SuggestionView(article_id=item.article_id, title=item.title, score=item.score)
                for item in answer.suggestions
            ],
        )

    @get("/kb/export", media_type=MediaType.TEXT, responses=error_responses(400, 401))
    async def export_articles(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        format: FileFormat = "csv",
    ) -> Response[str]:
        """Every article of the workspace as one CSV or Markdown file, which `POST /api/v1/kb/import` reads back."""
        rows = (
            await session.exec(
                select(KbArticle)
                .where(col(KbArticle.workspace_id) == caller.workspace_id)
                .order_by(col(KbArticle.id))
            )
        ).all()
        content = to_csv(rows) if format == "csv" else to_markdown(rows)
        return Response(
            content,
            media_type=FORMAT_MEDIA_TYPES[format],
            headers={
                "Content-Disposition": f'attachment; filename="knowledge-base.{FORMAT_SUFFIXES[format]}"'
            },
        )

    @post("/kb/import", status_code=200, responses=error_responses(400, 401, 413, 422))
    async def import_articles(
        self,
        request: Request,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        format: FileFormat = "csv",
    ) -> ImportAnswer:
        """The body is a CSV or Markdown file (UTF-8). A row whose `id` names an article of the workspace updates
        it; any other row creates one. All rows or none: the first bad row answers 422 naming it."""
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_encoding", "The file must be UTF-8.") from None
        try:
            parsed = parse_csv(text) if format == "csv" else parse_markdown(text)
        except FormatError as error:
            raise ApiError(
                422, "invalid_file", str(error), extra=[{"field": error.where, "message": error.message}]
            ) from None
        articles = []
        for number, fields in enumerate(parsed):
            try:
                articles.append(msgspec.convert(fields, ImportedArticle))
            except msgspec.ValidationError as error:
                field = f"articles[{number}]"
                raise ApiError(
                    422,
                    "invalid_file",
                    f"Article {number + 1} ({str(fields.get('title', ''))[:40]!r}): {error}",
                    extra=[{"field": field, "message": str(error)}],
                ) from None
        wanted_ids = [article.id for article in articles if article.id and looks_like_id(article.id)]
        existing = {
            row.id: row
            for row in (
                await session.exec(
                    select(KbArticle).where(
                        col(KbArticle.workspace_id) == caller.workspace_id, col(KbArticle.id).in_(wanted_ids)
                    )
                )
            ).all()
        }
        await _refuse_beyond_limit(
            session, caller.workspace_id, sum(1 for article in articles if article.id not in existing)
        )
        created = updated = 0
        now = hub.now()
        for number, article in enumerate(articles):
            row = existing.get(article.id)
            if row is None:
                row = KbArticle(workspace_id=caller.workspace_id, title="", answer="")
                created += 1
            else:
                row.updated_at = now
                updated += 1
            _apply(row, article, prefix=f"articles[{number}].")
            session.add(row)
        if articles:
            await bump_version(session, caller.workspace_id)
        await session.commit()
        return ImportAnswer(created=created, updated=updated)

    @get("/inboxes/{inbox_id:str}/bot", responses=error_responses(400, 401, 404))
    async def get_bot_settings(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], inbox_id: IdPath
    ) -> BotSettings:
        """Whether the bot holds the inbox's new conversations, its greeting, and when it hands over."""
        return bot_settings(await load_inbox(session, caller, inbox_id))

    @put("/inboxes/{inbox_id:str}/bot", responses=error_responses(400, 401, 404, 413, 422))
    async def put_bot_settings(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
        data: JSONBody[BotSettings],
    ) -> BotSettings:
        """Replace the inbox's bot settings; the next customer message is handled by them, on every process."""
        inbox = await load_inbox(session, caller, inbox_id)
        await refuse_unconfigured_engine(hub, session, caller.workspace_id, data.engine)
        await refuse_run_when_without_hours(session, inbox.id, data.run_when)
        greeting = clean_text(data.greeting)
        inbox.bot_enabled = data.enabled
        inbox.bot_settings = {
            "greeting": greeting,
            "run_when": data.run_when,
            "handoff_after_abstains": data.handoff_after_abstains,
            "engine": data.engine,
        }
        session.add(inbox)
        await session.commit()
        return bot_settings(inbox)
