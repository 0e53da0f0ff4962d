"""Inbound events that could not be processed, for admins: list them, retry them, or discard them.

An event is parked as `dead` after its last processing attempt failed (hub.inbound); it keeps the
raw delivery as stored at accept time (secrets already removed by the connector) and the reason of
its last failure. Retrying puts it back in the queue with its attempts reset; discarding keeps it
for audit and out of every queue and count of dead events.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import CursorResult, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import actors
from hub.api.paging import id_page
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import CursorQuery
from hub.ids import looks_like_id
from hub.models import AuditEntry, InboundEvent, Inbox
from hub.runtime import Hub
from hub.statuses import InboundEventStatus
from hub.views import InboundEventPage, InboundEventView

__all__ = ["InboundEventController"]

ListedStatus = Literal["dead", "pending", "discarded"]


class InboundEventController(Controller):
    path = "/inbound-events"
    tags = ("inbound events",)

    @get("/", responses=error_responses(400, 401, 403))
    async def list_events(
        self,
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        status: FromQuery[ListedStatus] = "dead",
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> InboundEventPage:
        """The workspace's events in `status` (`dead` by default; `pending` shows those waiting for a retry
        too, `discarded` those put aside), newest first."""
        statement = select(InboundEvent).where(
            InboundEvent.workspace_id == admin.workspace_id, InboundEvent.status == status
        )
        page, next_cursor = await id_page(
            session, statement, col(InboundEvent.id), cursor, limit, newest_first=True
        )
        kinds = dict(
            (
                await session.exec(
                    select(Inbox.id, Inbox.kind).where(col(Inbox.id).in_({event.inbox_id for event in page}))
                )
            ).all()
        )
        return InboundEventPage(
            items=[_view(event, kinds[event.inbox_id]) for event in page], next_cursor=next_cursor
        )

    @get("/{event_id:str}", responses=error_responses(400, 401, 403, 404))
    async def get_event(
        self, session: NamedDependency[AsyncSession], admin: NamedDependency[Caller], event_id: FromPath[str]
    ) -> InboundEventView:
        return _view(*await _find(session, admin, event_id))

    @post("/{event_id:str}/retry", status_code=200, responses=error_responses(400, 401, 403, 404, 409))
    async def retry(
        self,
        hub: NamedDependency[Hub],
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        event_id: FromPath[str],
    ) -> InboundEventView:
        """Put a dead event back in the queue with its attempts reset (after fixing what made it fail)."""
        now = hub.now()
        view = await _leave_dead(
            session,
            admin,
            event_id,
            "inbound_event.retried",
            {
                "status": InboundEventStatus.PENDING,
                "attempts": 0,
                "error": None,
                "next_attempt_at": None,
                "enqueued_at": now,
            },
        )
        await hub.jobs.send_or_leave_to_sweeper(actors.process_inbound, view.id)
        return view

    @post("/{event_id:str}/discard", status_code=200, responses=error_responses(400, 401, 403, 404, 409))
    async def discard(
        self, session: NamedDependency[AsyncSession], admin: NamedDependency[Caller], event_id: FromPath[str]
    ) -> InboundEventView:
        """Put a dead event aside for good; it is kept, with its error, for audit."""
        return await _leave_dead(
            session, admin, event_id, "inbound_event.discarded", {"status": InboundEventStatus.DISCARDED}
        )


async def _find(session: AsyncSession, admin: Caller, event_id: str) -> tuple[InboundEvent, str]:
    """The event and its channel; 404 for an id of another workspace, as for one that does not exist."""
    found = None
    if looks_like_id(event_id):
        found = (
            await session.exec(
                select(InboundEvent, Inbox.kind)
                .join(Inbox, col(Inbox.id) == col(InboundEvent.inbox_id))
                .where(InboundEvent.id == event_id, InboundEvent.workspace_id == admin.workspace_id)
            )
        ).first()
    if found is None:
        raise ApiError(404, "inbound_event_not_found", f"No inbound event {event_id} in your workspace.")
    return found


async def _leave_dead(
    session: AsyncSession, admin: Caller, event_id: str, action: str, changes: dict[str, Any]
) -> InboundEventView:
    """Apply `changes` to a dead event of the admin's workspace and audit it; 409 when it is not dead (any more)."""
    event, kind = await _find(session, admin, event_id)
    moved = await session.execute(
        update(InboundEvent)
        .where(
            col(InboundEvent.id) == event.id,
            col(InboundEvent.workspace_id) == admin.workspace_id,
            col(InboundEvent.status) == InboundEventStatus.DEAD,
        )
        .values(**changes)
    )
    if cast(CursorResult[Any], moved).rowcount != 1:
        raise ApiError(
            409,
            "inbound_event_not_dead",
            f"Only a dead event can be retried or discarded; this one is {event.status}.",
        )
    session.add(
        AuditEntry(
            workspace_id=admin.workspace_id,
            actor_type="agent",
            actor_id=admin.agent_id,
            action=action,
            subject_type="inbound_event",
            subject_id=event.id,
            details={"error": event.error, "attempts": event.attempts},
        )
    )
    await session.commit()
    await session.refresh(event)
    return _view(event, kind)


def _view(event: InboundEvent, channel: str) -> InboundEventView:
    return InboundEventView(
        id=event.id,
        inbox_id=event.inbox_id,
        channel=channel,
        status=InboundEventStatus(event.status),
        attempts=event.attempts,
        error=event.error,
        received_at=event.received_at,
        next_attempt_at=event.next_attempt_at,
        message_id=event.message_id,
        raw=event.raw,
    )
