"""The bot's workspace-wide settings: the business's synonym groups (`/api/v1/kb/synonyms`) and the endpoints of
the LLM and external-webhook engines (`/api/v1/bot/engines`), secrets write-only and sealed at rest.

A synonym change bumps the workspace's knowledge-base version in its own transaction, so the next question on
every process is answered with it.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors.base import DestinationRefused
from hub.auth import Caller
from hub.bot_engines import EngineName, LlmEngineSettings, WebhookEngineSettings, signing_key, stored_engines
from hub.errors import ApiError, error_responses
from hub.knowledge_base import bump_version
from hub.models import WorkspaceBot
from hub.runtime import ENCRYPTED, Hub
from hub.tickets import service_levels
from normalizer import clean_text
from routing.bot import RunWhen
from routing.hours import ALWAYS_OPEN

__all__ = [
    "BotEnginesBody",
    "BotEnginesController",
    "BotEnginesView",
    "Synonyms",
    "judged_url",
    "refuse_run_when_without_hours",
    "refuse_unconfigured_engine",
]

MAX_SYNONYM_GROUPS = 500
Term = Annotated[str, Meta(min_length=1, max_length=100)]
SynonymGroup = Annotated[list[Term], Meta(min_length=2, max_length=50)]


class Synonyms(msgspec.Struct, forbid_unknown_fields=True):
    groups: Annotated[list[SynonymGroup], Meta(max_length=MAX_SYNONYM_GROUPS)]
    """Each group: terms (Chinese or English words or phrases) the bot treats as the same, added to its built-in
    customer-service vocabulary. Groups that share a term are merged."""


class BotEnginesBody(msgspec.Struct, forbid_unknown_fields=True):
    """Both engines' endpoints; null (or absent) removes one."""

    llm: LlmEngineSettings | None = None
    webhook: WebhookEngineSettings | None = None


class LlmEngineView(msgspec.Struct):
    base_url: str
    model: str
    timeout_seconds: float
    api_key_set: bool


class WebhookEngineView(msgspec.Struct):
    url: str
    timeout_seconds: float
    secret_set: bool


class BotEnginesView(msgspec.Struct):
    llm: LlmEngineView | None
    webhook: WebhookEngineView | None


def _engines_view(row: WorkspaceBot | None) -> BotEnginesView:
    llm, webhook = (row.llm, row.webhook) if row else ({}, {})
    return BotEnginesView(
        llm=LlmEngineView(llm["base_url"], llm["model"], llm["timeout_seconds"], "api_key" in llm)
        if llm
        else None,
        webhook=WebhookEngineView(webhook["url"], webhook["timeout_seconds"], "secret" in webhook)
        if webhook
        else None,
    )


def judged_url(hub: Hub, field: str, url: str) -> str:
    """`url` when the egress policy lets the hub reach it, else 422 `destination_refused` naming `field`."""
    try:
        hub.egress.judge_url(url)
    except DestinationRefused as refused:
        raise ApiError(
            422,
            "destination_refused",
            f"{field} {refused.refusal}.",
            extra=[{"field": field, "message": refused.refusal}],
        ) from None
    return url


def _missing_secret(field: str) -> ApiError:
    return ApiError(
        422,
        "secret_required",
        f"{field} is required the first time.",
        extra=[{"field": field, "message": "required"}],
    )


async def _row(session: AsyncSession, workspace_id: str) -> WorkspaceBot:
    return await stored_engines(session, workspace_id) or WorkspaceBot(workspace_id=workspace_id)


async def refuse_unconfigured_engine(
    hub: Hub, session: AsyncSession, workspace_id: str, engine: EngineName
) -> None:
    """An inbox may choose the LLM or webhook engine only once the workspace has configured it."""
    if engine == "knowledge_base":
        return
    row = await stored_engines(session, workspace_id)
    if row is None or not getattr(row, engine):
        raise ApiError(
            422,
            "engine_not_configured",
            f"Configure the {engine} engine at PUT /api/v1/bot/engines first.",
            extra=[{"field": "engine", "message": "not configured for the workspace"}],
        )


async def refuse_run_when_without_hours(session: AsyncSession, inbox_id: str, run_when: str) -> None:
    """A bot that runs out of hours needs the inbox's business hours: without them the inbox never closes."""
    if run_when != RunWhen.OUT_OF_HOURS:
        return
    levels = await service_levels(session, [inbox_id])
    if levels[inbox_id].hours is ALWAYS_OPEN:
        raise ApiError(
            422,
            "no_business_hours",
            f"The inbox has no business hours, so it is never out of hours: set them at PUT "
            f"/api/v1/inboxes/{inbox_id}/business_hours first, or choose another run_when.",
            extra=[{"field": "run_when", "message": "the inbox has no business hours"}],
        )


class BotEnginesController(Controller):
    tags = ["knowledge base and bot"]

    @get("/kb/synonyms", responses=error_responses(400, 401))
    async def get_synonyms(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession]
    ) -> Synonyms:
        row = await stored_engines(session, caller.workspace_id)
        return Synonyms(groups=[list(group) for group in row.synonyms] if row else [])

    @put("/kb/synonyms", responses=error_responses(400, 401, 413, 422))
    async def put_synonyms(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[Synonyms],
    ) -> Synonyms:
        """Replace the workspace's synonym groups; the next question on every process is answered with them."""
        groups = []
        for number, group in enumerate(data.groups):
            terms = list(dict.fromkeys(term for term in (clean_text(term) for term in group) if term))
            if len(terms) < 2:
                field = f"groups[{number}]"
                raise ApiError(
                    422,
                    "invalid_input",
                    f"{field} needs at least two different terms.",
                    extra=[{"field": field, "message": "needs at least two different terms"}],
                )
            groups.append(terms)
        row = await _row(session, caller.workspace_id)
        row.synonyms = groups
        session.add(row)
        await bump_version(session, caller.workspace_id)
        await session.commit()
        return Synonyms(groups=groups)

    @get("/bot/engines", responses=error_responses(400, 401))
    async def get_engines(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession]
    ) -> BotEnginesView:
        """The workspace's LLM and external-bot endpoints (their secrets are never shown)."""
        return _engines_view(await stored_engines(session, caller.workspace_id))

    @put("/bot/engines", responses=error_responses(400, 401, 413, 422))
    async def put_engines(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[BotEnginesBody],
    ) -> BotEnginesView:
        """Replace both engines' endpoints. A key or secret left out keeps the stored one."""
        row = await _row(session, caller.workspace_id)
        llm: dict[str, Any] = {}
        if data.llm is not None:
            llm = {
                "base_url": judged_url(hub, "llm.base_url", data.llm.base_url),
                "model": data.llm.model,
                "timeout_seconds": data.llm.timeout_seconds,
            }
            if data.llm.api_key is not None:
                llm["api_key"] = {ENCRYPTED: hub.box.encrypt(data.llm.api_key)}
            elif "api_key" in row.llm:
                llm["api_key"] = row.llm["api_key"]
            else:
                raise _missing_secret("llm.api_key")
        webhook: dict[str, Any] = {}
        if data.webhook is not None:
            webhook = {
                "url": judged_url(hub, "webhook.url", data.webhook.url),
                "timeout_seconds": data.webhook.timeout_seconds,
            }
            if data.webhook.secret is not None:
                try:
                    signing_key(data.webhook.secret)
                except ValueError as error:
                    raise ApiError(
                        422,
                        "invalid_input",
                        f"webhook.secret: {error}.",
                        extra=[{"field": "webhook.secret", "message": str(error)}],
                    ) from None
                webhook["secret"] = {ENCRYPTED: hub.box.encrypt(data.webhook.secret)}
            elif "secret" in row.webhook:
                webhook["secret"] = row.webhook["secret"]
            else:
                raise _missing_secret("webhook.secret")
        row.llm, row.webhook = llm, webhook
        session.add(row)
        await session.commit()
        return _engines_view(row)
