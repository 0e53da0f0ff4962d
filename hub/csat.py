"""Customer satisfaction: once a conversation is resolved its customer may rate it, 1 to 5 with an optional
comment, once per resolution: a conversation that reopened and was resolved again may be rated again (the new
rating replaces the one given before the reopen, which rated a resolution that no longer stands). The rating is kept on the conversation (reports count it), recorded as `csat.submitted` in the
outbox, and the customer's live connections are asked for it when the conversation is resolved."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from connectors.routes import RatingRequested
from hub import events
from hub.errors import ApiError
from hub.models import Conversation, Identity
from hub.realtime import audience_channel, workspace_channel
from hub.runtime import Hub
from hub.statuses import ConversationStatus
from normalizer import IdentityRef

__all__ = ["RATING_WINDOW", "pending_rating", "rate", "rated_since_resolved", "request_rating"]

RATING_WINDOW = timedelta(days=7)
"""How long after its resolution a conversation is still offered for rating when the customer comes back."""


def _customer_conversations(
    workspace_id: str, inbox_id: str, customer: IdentityRef
) -> SelectOfScalar[Conversation]:
    """The customer's own conversations on the inbox: another customer's id finds nothing."""
    return (
        select(Conversation)
        .join(Identity, col(Identity.id) == col(Conversation.identity_id))
        .where(
            Conversation.inbox_id == inbox_id,
            Identity.workspace_id == workspace_id,
            Identity.kind == customer.kind,
            Identity.scope == customer.scope,
            Identity.value == customer.value,
        )
    )


def rated_since_resolved(conversation: Conversation) -> bool:
    """Whether its last resolution was rated: a rating given before a reopen does not count for the next one."""
    return (
        conversation.csat_at is not None
        and conversation.resolved_at is not None
        and conversation.csat_at >= conversation.resolved_at
    )


async def pending_rating(hub: Hub, workspace_id: str, inbox_id: str, customer: IdentityRef) -> str | None:
    async with hub.database.session() as session:
        latest = (
            await session.exec(
                _customer_conversations(workspace_id, inbox_id, customer)
                .order_by(col(Conversation.created_at).desc(), col(Conversation.id).desc())
                .limit(1)
            )
        ).first()
    if (
        latest is None
        or latest.status != ConversationStatus.RESOLVED
        or latest.resolved_at is None
        or rated_since_resolved(latest)
        or latest.resolved_at < hub.now() - RATING_WINDOW
    ):
        return None
    return latest.id


async def rate(
    hub: Hub,
    workspace_id: str,
    inbox_id: str,
    customer: IdentityRef,
    conversation_id: str,
    rating: int,
    comment: str | None,
) -> Conversation:
    """Claimed by a conditional update, so two ratings sent at once keep the first and refuse the second."""
    now = hub.now()
    async with hub.database.session() as session:
        conversation = (
            await session.exec(
                _customer_conversations(workspace_id, inbox_id, customer).where(
                    Conversation.id == conversation_id
                )
            )
        ).first()
        if conversation is None:
            raise ApiError(404, "conversation_not_found", f"You have no conversation {conversation_id}.")
        if conversation.status != ConversationStatus.RESOLVED:
            raise ApiError(
                409, "conversation_not_resolved", "A conversation can be rated once it has been resolved."
            )
        claimed = await session.execute(
            update(Conversation)
            .where(
                col(Conversation.id) == conversation.id,
                or_(
                    col(Conversation.csat_at).is_(None),
                    col(Conversation.csat_at) < col(Conversation.resolved_at),
                ),
            )
            .values(csat_rating=rating, csat_comment=comment, csat_at=now)
        )
        if claimed.rowcount == 0:  # type: ignore[attr-defined]
            raise ApiError(409, "already_rated", "This conversation has been rated already.")
        await session.refresh(conversation)
        event = events.record(
            session,
            workspace_id,
            "csat.submitted",
            conversation.id,
            {"conversation": events.conversation_view(conversation)},
        )
        await session.commit()
    await hub.publisher.publish(event, [workspace_channel(workspace_id)])
    return conversation


async def request_rating(hub: Hub, conversation: Conversation) -> None:
    """Ask the customer's live connections (a web chat widget) for a rating of their resolved conversation."""
    async with hub.database.session() as session:
        identity = await session.get_one(Identity, conversation.identity_id)
    await hub.publisher.publish(
        RatingRequested(conversation.id),
        [audience_channel(conversation.inbox_id, identity.kind, identity.scope, identity.value)],
    )
