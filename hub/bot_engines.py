"""The engines that answer a customer's question for the bot, behind one interface (`engine_answer`), chosen per inbox.

- `knowledge_base` (the default): the workspace's articles, ranked by routing.bot.
- `llm`: an OpenAI-compatible chat completions API, given the knowledge base's top articles and told to answer
  only from them (it names the article it used, or none); its timeouts, errors and unusable answers fall back to
  the knowledge base.
- `webhook`: the business's own bot, sent a signed event (Standard Webhooks headers) and answering in the HTTP
  response; its failures fall back to the knowledge base too.

Endpoints and secrets are per workspace (`WorkspaceBot`), secrets sealed at rest; every call goes through the
hub's egress-guarded client.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import metrics
from hub.knowledge_base import answer, knowledge_base
from hub.knowledge_base import grounding as article_grounding
from hub.models import Conversation, KbArticle, Message, WorkspaceBot
from hub.runtime import ENCRYPTED, Hub
from hub.signed_calls import ASK_FAILURES, ask_signed, failure_reason
from routing.bot import ScoredArticle

__all__ = [
    "ENGINES",
    "EngineAnswer",
    "EngineName",
    "LlmEngineSettings",
    "WebhookEngineSettings",
    "engine_answer",
    "signing_key",
    "stored_engines",
]

log = logging.getLogger("omnihub.bot")

EngineName = Literal["knowledge_base", "llm", "webhook"]
ENGINES: tuple[EngineName, ...] = ("knowledge_base", "llm", "webhook")
GROUNDING_ARTICLES = 3
"""How many of the knowledge base's best articles the LLM is given to answer from."""
MAX_REPLY_CHARS = 2000
"""An engine's reply longer than this is cut: a chat answer, not a document."""
STANDARD_WEBHOOKS_KEY_PREFIX = "whsec_"

LLM_INSTRUCTIONS = """You are the customer-service assistant of one business. Answer the customer's message \
using ONLY the numbered articles below. Never invent policies, prices, dates, delays, conditions or contact \
details that the articles do not state. If no article answers the message, do not answer it. Reply with one \
JSON object and nothing else: {"article": <the number of the article you used>, "answer": "<your reply, in the \
customer's language, short>"} or, when no article answers, {"article": null, "answer": ""}."""


Url = Annotated[str, Meta(min_length=8, max_length=2000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")]
Timeout = Annotated[float, Meta(gt=0, le=30)]


class LlmEngineSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The LLM engine's endpoint; `api_key` is write-only (sealed at rest, never shown)."""

    base_url: Url
    """The API's base, such as https://api.openai.com/v1: requests go to `{base_url}/chat/completions`."""
    model: Annotated[str, Meta(min_length=1, max_length=200)]
    api_key: Annotated[str, Meta(min_length=1, max_length=500)] | None = None
    """Sent as a bearer token. Omitted on a change: the stored key is kept."""
    timeout_seconds: Timeout = 8.0
    """Past this the bot answers from the knowledge base instead."""


class WebhookEngineSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The external bot's endpoint; `secret` is write-only (sealed at rest, never shown)."""

    url: Url
    secret: Annotated[str, Meta(min_length=30, max_length=200, pattern=r"^whsec_[A-Za-z0-9+/=]+$")] | None = (
        None
    )
    """The signing secret in the Standard Webhooks form `whsec_<base64 of at least 24 bytes>`. Omitted on a
    change: the stored secret is kept."""
    timeout_seconds: Timeout = 5.0


@dataclass(frozen=True, slots=True)
class _Llm:
    base_url: str
    model: str
    api_key: str
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class _Webhook:
    url: str
    key: bytes
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class EngineAnswer:
    """What an engine made of one customer message: answer with `text` (from `article_id` when an article was
    used), offer `suggestions`, abstain, or hand over to a person."""

    decision: Literal["answer", "suggest", "abstain", "handoff"]
    text: str = ""
    article_id: str | None = None
    suggestions: tuple[ScoredArticle, ...] = ()
    engine: EngineName = "knowledge_base"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError when it is not one, or shorter than 24 bytes."""
    if not secret.startswith(STANDARD_WEBHOOKS_KEY_PREFIX):
        raise ValueError("the secret must start with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(STANDARD_WEBHOOKS_KEY_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("the secret after whsec_ must be base64") from None
    if len(key) < 24:
        raise ValueError("the secret must decode to at least 24 bytes")
    return key


async def stored_engines(session: AsyncSession, workspace_id: str) -> WorkspaceBot | None:
    return (
        await session.exec(select(WorkspaceBot).where(col(WorkspaceBot.workspace_id) == workspace_id))
    ).first()


def _open_llm(hub: Hub, stored: dict[str, Any]) -> _Llm | None:
    if not stored.get("base_url") or not stored.get("api_key"):
        return None
    return _Llm(
        stored["base_url"],
        stored["model"],
        hub.box.decrypt(stored["api_key"][ENCRYPTED]),
        stored["timeout_seconds"],
    )


def _open_webhook(hub: Hub, stored: dict[str, Any]) -> _Webhook | None:
    if not stored.get("url") or not stored.get("secret"):
        return None
    return _Webhook(
        stored["url"], signing_key(hub.box.decrypt(stored["secret"][ENCRYPTED])), stored["timeout_seconds"]
    )


async def engine_answer(
    hub: Hub,
    session: AsyncSession,
    engine: EngineName,
    conversation: Conversation,
    message: Message,
    kb_version: int | None = None,
) -> EngineAnswer:
    """The inbox's engine's answer to `message`; the knowledge base's whenever the chosen engine is not configured
    or fails (the failure is logged and counted, never shown to the customer). `kb_version`: the workspace's
    knowledge base version the caller read in this transaction, if it did."""
    fallback = await _knowledge_base_answer(hub, session, conversation.workspace_id, message.text, kb_version)
    if engine == "knowledge_base":
        return fallback
    stored = await stored_engines(session, conversation.workspace_id)
    try:
        if engine == "llm":
            llm = _open_llm(hub, stored.llm) if stored else None
            if llm is not None:
                return await _llm_answer(hub, session, llm, conversation, message.text, kb_version)
        else:
            webhook = _open_webhook(hub, stored.webhook) if stored else None
            if webhook is not None:
                return await _webhook_answer(hub, webhook, conversation, message)
        reason = "not_configured"
    except ASK_FAILURES as error:
        reason = failure_reason(error)
    log.warning(
        "bot.engine_fell_back engine=%s reason=%s workspace=%s conversation=%s",
        engine,
        reason,
        conversation.workspace_id,
        conversation.id,
    )
    metrics.BOT_ENGINE_FALLBACKS.labels(engine, reason).inc()
    return fallback


async def _knowledge_base_answer(
    hub: Hub, session: AsyncSession, workspace_id: str, text: str, kb_version: int | None
) -> EngineAnswer:
    """The answer's text comes from the index that chose it, built at the version just read: every change to an
    article (its text, or disabling it) bumps that version, so the index holds the stored article."""
    if not text:
        return EngineAnswer("abstain")
    index = await knowledge_base(hub).index(session, workspace_id, kb_version)
    found = await answer(index, text)
    if found.decision == "answer" and found.article_id is not None:
        article = index.article(found.article_id)
        if article is not None:
            return EngineAnswer("answer", article.answer, article.id)
    if found.decision == "suggest":
        return EngineAnswer("suggest", suggestions=found.suggestions)
    return EngineAnswer("abstain")


async def enabled_article(session: AsyncSession, workspace_id: str, article_id: str) -> KbArticle | None:
    return (
        await session.exec(
            select(KbArticle).where(
                col(KbArticle.id) == article_id,
                col(KbArticle.workspace_id) == workspace_id,
                col(KbArticle.enabled).is_(True),
            )
        )
    ).first()


class _ChatCompletion(msgspec.Struct):
    class _Choice(msgspec.Struct):
        class _Message(msgspec.Struct):
            content: str

        message: _Message

    choices: list[_Choice]


class _GroundedReply(msgspec.Struct):
    article: int | None
    answer: str = ""


async def _llm_answer(
    hub: Hub, session: AsyncSession, llm: _Llm, conversation: Conversation, text: str, kb_version: int | None
) -> EngineAnswer:
    """Abstains without a call when no article is near the question: the model may only answer from articles."""
    index = await knowledge_base(hub).index(session, conversation.workspace_id, kb_version)
    ranked = await article_grounding(index, text)
    articles = [
        article
        for candidate in ranked[:GROUNDING_ARTICLES]
        if (article := await enabled_article(session, conversation.workspace_id, candidate.article_id))
    ]
    if not text or not articles:
        return EngineAnswer("abstain", engine="llm")
    grounding = "\n\n".join(
        f"Article {number}: {article.title}\n{article.answer}" for number, article in enumerate(articles, 1)
    )
    request = {
        "model": llm.model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": f"{LLM_INSTRUCTIONS}\n\n{grounding}"},
            {"role": "user", "content": text},
        ],
    }
    async with asyncio.timeout(llm.timeout_seconds):
        response = await hub.http.post(
            f"{llm.base_url.rstrip('/')}/chat/completions",
            json=request,
            headers={"Authorization": f"Bearer {llm.api_key}"},
        )
        response.raise_for_status()
        content = msgspec.json.decode(response.content, type=_ChatCompletion).choices[0].message.content
    reply = msgspec.json.decode(content.strip().removeprefix("```json").strip("`\n "), type=_GroundedReply)
    if reply.article is None or not reply.answer.strip():
        return EngineAnswer("abstain", engine="llm")
    if not 1 <= reply.article <= len(articles):
        raise ValueError("the model named an article it was not given")
    return EngineAnswer(
        "answer", reply.answer.strip()[:MAX_REPLY_CHARS], articles[reply.article - 1].id, engine="llm"
    )


class WebhookEvent(msgspec.Struct):
    """What the external bot receives for each customer message (`type` is `bot.message`)."""

    id: str
    """The customer message's id, also the `webhook-id` header: the same on a retried delivery."""
    type: str
    timestamp: int
    workspace_id: str
    inbox_id: str
    conversation_id: str
    contact_id: str
    text: str


class WebhookReply(msgspec.Struct):
    """The external bot's HTTP answer: `reply` with `text`, `handoff` to a person, or `abstain`."""

    action: Literal["reply", "handoff", "abstain"]
    text: Annotated[str, Meta(max_length=MAX_REPLY_CHARS)] = ""


async def _webhook_answer(
    hub: Hub, webhook: _Webhook, conversation: Conversation, message: Message
) -> EngineAnswer:
    timestamp = int(time.time())
    body = msgspec.json.encode(
        WebhookEvent(
            id=message.id,
            type="bot.message",
            timestamp=timestamp,
            workspace_id=conversation.workspace_id,
            inbox_id=conversation.inbox_id,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            text=message.text,
        )
    )
    reply = await ask_signed(
        hub, webhook.url, webhook.key, message.id, timestamp, body, webhook.timeout_seconds, WebhookReply
    )
    if reply.action == "reply":
        if not reply.text.strip():
            raise ValueError("a reply without text")
        return EngineAnswer("answer", reply.text.strip(), engine="webhook")
    return EngineAnswer(reply.action, engine="webhook")
