"""How an inbox is doing, for an admin or a monitoring integration: whether the hub reads it, when a customer last
wrote, when a reply last went out, and the latest reply that failed with its reason."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.dependencies import load_inbox
from hub.api.inboxes import inbox_view
from hub.auth import Caller
from hub.errors import error_responses
from hub.fields import IdPath
from hub.models import Conversation, Inbox, Message
from hub.pollers import poll_states
from hub.runtime import Hub
from hub.statuses import InboxStatus, MessageDirection, MessageStatus

__all__ = ["InboxHealth", "InboxHealthController", "ReplyFailure", "inbox_health_of"]

FAILURE_WINDOW = timedelta(hours=24)


class ReplyFailure(msgspec.Struct):
    message_id: str
    conversation_id: str
    error: str | None
    at: datetime


class InboxHealth(msgspec.Struct):
    inbox_id: str
    status: InboxStatus
    """Whether the hub reads the channel (`active`; a pull channel can be `connecting`, `retrying`, `failed`)."""
    status_reason: str | None
    """Why it is retrying or failed (the poller's last error), in words an admin can act on."""
    status_retry_at: datetime | None
    last_inbound_at: datetime | None
    """The latest customer message received on the inbox."""
    last_outbound_at: datetime | None
    """The latest reply the channel accepted (`sent`, `delivered` or `read`)."""
    last_failure: ReplyFailure | None
    """The latest reply that failed for good, with the channel's reason."""
    failed_replies_24h: int


class InboxHealthController(Controller):
    path = "/inboxes"
    tags = ("inboxes",)

    @get("/{inbox_id:str}/health", responses=error_responses(400, 401, 404))
    async def inbox_health(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
    ) -> InboxHealth:
        """Poller status and last error, last message each way, and the replies that failed in the last 24 h."""
        return await inbox_health_of(hub, session, await load_inbox(session, caller, inbox_id))


async def inbox_health_of(hub: Hub, session: AsyncSession, inbox: Inbox) -> InboxHealth:
    """Shared with the admin pages, which show it beside the inbox's connection facts."""
    view = inbox_view(hub, inbox, (await poll_states(hub, [inbox.id])).get(inbox.id))
    replies = (
        col(Conversation.inbox_id) == inbox.id,
        col(Message.workspace_id) == inbox.workspace_id,
        col(Message.direction) == MessageDirection.OUT,
    )
    accepted = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    last_outbound = (
        await session.exec(
            select(func.max(Message.updated_at))
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(*replies, col(Message.status).in_(accepted))
        )
    ).one()
    failed = (*replies, col(Message.status) == MessageStatus.FAILED)
    latest_failure = (
        await session.exec(
            select(Message)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(*failed)
            .order_by(col(Message.updated_at).desc())
            .limit(1)
        )
    ).first()
    recent_failures = (
        await session.exec(
            select(func.count(col(Message.id)))
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(*failed, col(Message.updated_at) >= hub.now() - FAILURE_WINDOW)
        )
    ).one()
    last_inbound = (
        await session.exec(
            select(func.max(Conversation.last_inbound_at)).where(
                Conversation.workspace_id == inbox.workspace_id, Conversation.inbox_id == inbox.id
            )
        )
    ).one()
    return InboxHealth(
        inbox_id=inbox.id,
        status=view.status,
        status_reason=view.status_reason,
        status_retry_at=view.status_retry_at,
        last_inbound_at=last_inbound,
        last_outbound_at=last_outbound,
        last_failure=None
        if latest_failure is None
        else ReplyFailure(
            message_id=latest_failure.id,
            conversation_id=latest_failure.conversation_id,
            error=latest_failure.error,
            at=latest_failure.updated_at,
        ),
        failed_replies_24h=recent_failures,
    )
