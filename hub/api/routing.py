"""An inbox's routing (strategy, team, skills, weights, fallback, answer timeout, external service) and the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import actors, assignment, events
from hub.api.bot_settings import judged_url
from hub.api.dependencies import load_inbox
from hub.api.fields import invalid_field
from hub.api.paging import NEXT_PAGE_LINK, array_page, array_slice
from hub.api.teams import workspace_team
from hub.auth import Caller
from hub.bot_engines import Timeout, Url, signing_key
from hub.errors import error_responses
from hub.fields import ArrayLimitQuery, CursorQuery, Id, IdPath
from hub.models import Inbox
from hub.runtime import ENCRYPTED, Hub
from hub.views import QueueEntry
from routing.config import policy_from_config
from routing.errors import InvalidPolicy
from routing.policy import Strategy
from routing.queue import queue_key

__all__ = ["RoutingController", "routing_view"]

Weight = Annotated[float, msgspec.Meta(ge=0, le=1000)]
QueueCursor = tuple[int, int, Annotated[datetime, msgspec.Meta(tz=True)], Id]
"""A queue position (routing.queue.QueueKey) as a cursor carries it: its instant must name a time zone."""


class ScoreWeightsBody(msgspec.Struct, forbid_unknown_fields=True):
    """How much each part of the weighted strategy's score counts (each part is between 0 and 1 before)."""

    vip: Weight = 1.0
    skill: Weight = 1.0
    spare_capacity: Weight = 1.0
    vip_levels: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    """The top of the VIP scale: a customer's `vip_level` is read as a share of it."""


class ExternalRoutingBody(msgspec.Struct, forbid_unknown_fields=True):
    """The business's routing service; `secret` is write-only (sealed at rest, never shown)."""

    url: Url
    secret: (
        Annotated[str, msgspec.Meta(min_length=30, max_length=200, pattern=r"^whsec_[A-Za-z0-9+/=]+$")] | None
    ) = None
    """The Standard Webhooks signing secret `whsec_<base64 of at least 24 bytes>`; omitted: the stored one is kept."""
    timeout_seconds: Timeout = 3.0
    """Past this the inbox's fallback strategy decides."""


class ExternalRoutingView(msgspec.Struct):
    url: str
    timeout_seconds: float
    secret_set: bool


class InboxRoutingBody(msgspec.Struct, forbid_unknown_fields=True):
    strategy: Strategy
    team_id: Id | None = None
    """Only this team's agents take the inbox's conversations (null: every agent of the workspace)."""
    skill_required: bool = False
    """Only agents holding the conversation's category as a skill take it."""
    weights: ScoreWeightsBody = msgspec.field(default_factory=ScoreWeightsBody)
    fallback: Strategy = Strategy.LEAST_BUSY
    """What decides when the external service fails, times out or names nobody who can take the conversation."""
    answer_timeout_seconds: Annotated[int, msgspec.Meta(ge=10, le=7 * 86400)] | None = None
    """An agent who has not replied this long after being assigned loses the conversation to the queue."""
    external: ExternalRoutingBody | None = None
    """Required for the `external` strategy."""


class InboxRoutingView(msgspec.Struct):
    strategy: Strategy
    team_id: str | None
    skill_required: bool
    weights: ScoreWeightsBody
    fallback: Strategy
    answer_timeout_seconds: int | None
    external: ExternalRoutingView | None


def routing_view(inbox: Inbox) -> InboxRoutingView:
    policy = assignment.inbox_policy(inbox)
    webhook = inbox.routing_webhook
    weights = policy.weights
    return InboxRoutingView(
        strategy=policy.strategy,
        team_id=policy.team_id,
        skill_required=policy.skill_required,
        weights=ScoreWeightsBody(weights.vip, weights.skill, weights.spare_capacity, weights.vip_levels),
        fallback=policy.fallback,
        answer_timeout_seconds=inbox.routing.get("answer_timeout_seconds"),
        external=ExternalRoutingView(webhook["url"], webhook["timeout_seconds"], "secret" in webhook)
        if webhook
        else None,
    )


def _external_settings(hub: Hub, inbox: Inbox, body: ExternalRoutingBody | None) -> dict[str, Any]:
    if body is None:
        return {}
    stored: dict[str, Any] = {
        "url": judged_url(hub, "external.url", body.url),
        "timeout_seconds": body.timeout_seconds,
    }
    if body.secret is not None:
        try:
            signing_key(body.secret)
        except ValueError as error:
            raise invalid_field("external.secret", str(error)) from None
        stored["secret"] = {ENCRYPTED: hub.box.encrypt(body.secret)}
    elif "secret" in inbox.routing_webhook:
        stored["secret"] = inbox.routing_webhook["secret"]
    else:
        raise invalid_field("external.secret", "a signing secret is required")
    return stored


class RoutingController(Controller):
    tags = ("routing",)

    @get("/inboxes/{inbox_id:str}/routing", responses=error_responses(400, 401, 404))
    async def get_routing(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], inbox_id: IdPath
    ) -> InboxRoutingView:
        """How the inbox's conversations find an agent (the external service's secret is never shown)."""
        return routing_view(await load_inbox(session, caller, inbox_id))

    @put("/inboxes/{inbox_id:str}/routing", responses=error_responses(400, 401, 403, 404, 413, 422))
    async def put_routing(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
        data: JSONBody[InboxRoutingBody],
    ) -> InboxRoutingView:
        """Replace the inbox's routing (admins only); the waiting conversations are served by it at once."""
        inbox = await load_inbox(session, admin, inbox_id)
        if data.team_id is not None:
            await workspace_team(session, admin, data.team_id, field="team_id")
        if data.strategy is Strategy.EXTERNAL and data.external is None:
            raise invalid_field("external", "the external strategy needs the service's url and secret")
        config: dict[str, Any] = {
            "skill_required": data.skill_required,
            "fallback": data.fallback.value,
            "weights": msgspec.structs.asdict(data.weights),
        }
        if data.team_id is not None:
            config["team_id"] = data.team_id
        if data.answer_timeout_seconds is not None:
            config["answer_timeout_seconds"] = data.answer_timeout_seconds
        try:
            policy_from_config({**config, "strategy": data.strategy.value})
        except InvalidPolicy as invalid:
            raise invalid_field(invalid.field or "routing", invalid.detail) from None
        inbox.routing_webhook = _external_settings(hub, inbox, data.external)
        inbox.routing = config
        inbox.routing_strategy = data.strategy
        session.add(inbox)
        await session.commit()
        await hub.jobs.send(actors.serve_queue, admin.workspace_id)
        return routing_view(inbox)

    @get("/queue", responses=error_responses(400, 401), response_headers=[NEXT_PAGE_LINK])
    async def queue(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        limit: ArrayLimitQuery = None,
        cursor: CursorQuery = None,
    ) -> Response[list[QueueEntry]]:
        """The conversations waiting for an agent, in the order routing serves them. Paged (`limit`, `cursor`), a
        page resumes after the queue position (VIP level, priority, waiting since, id) of the last entry before,
        the next page named by the `Link` header: a conversation waiting all along with the same place is listed
        once, however many arrive or are served meanwhile, and `position` is its place in the whole queue when
        its page is read. One whose place changes between pages (its VIP level or priority changed, or it was
        queued again) is listed where it then stands: once more, or not at all, as any row whose sort key
        changes under a cursor. Each page reads the whole queue, as serving it does, and cuts it with the key
        routing sorts it by."""
        waiting = await assignment.queued_conversations(session, caller.workspace_id, lock=False)
        start, page, next_page = array_slice(
            waiting, "queue", lambda row: queue_key(row[1]), QueueCursor, limit, cursor
        )
        return array_page(
            request,
            [
                QueueEntry(
                    position=position,
                    vip_level=entry.vip_level,
                    waiting_since=entry.queued_at,
                    conversation=events.conversation_view(conversation),
                )
                for position, (conversation, entry) in enumerate(page, start=start + 1)
            ],
            next_page,
        )
