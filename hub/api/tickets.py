"""Tickets: open one (on an inbox, or from a conversation), list them with filters, read one, change its status,
priority, assignee or subject, comment on it. Status changes follow routing's ticket lifecycle: one it forbids
answers 409."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, Meta, UnsetType
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events
from hub.api.dependencies import load_conversation, load_inbox, workspace_row
from hub.api.fields import invalid_field
from hub.api.messages import ReplyBody, write_message
from hub.api.paging import id_page
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import CursorQuery, Id, IdPath, IdQuery, StatusQuery
from hub.models import Agent, InboxService, Ticket, TicketComment
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.statuses import MessageDirection, TicketSource
from hub.summaries import conversation_summary
from hub.tickets import TicketChanges, add_ticket, apply_changes, new_ticket, service_level, ticket_view
from hub.views import TicketCommentPage, TicketCommentView, TicketPage, TicketView
from normalizer import clean_text
from routing.errors import InvalidTransition
from routing.sla import Priority
from routing.tickets import TicketStatus

__all__ = ["TicketBody", "TicketCommentBody", "TicketController", "TicketPatch"]

MAX_SUBJECT_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 10_000
Subject = Annotated[
    str,
    Meta(
        max_length=MAX_SUBJECT_LENGTH, description="What the ticket is about; control characters are removed."
    ),
]
Description = Annotated[str, Meta(max_length=MAX_DESCRIPTION_LENGTH)]
MAX_COMMENT_LENGTH = 10_000


class TicketBody(msgspec.Struct, forbid_unknown_fields=True):
    """A new ticket: on `inbox_id`, or from `conversation_id` (its inbox and customer)."""

    subject: Subject
    inbox_id: Id | None = None
    conversation_id: Id | None = None
    description: Description = ""
    priority: Priority = Priority.NORMAL
    assignee_id: Id | None = None


class TicketPatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields to change; the others stay as they are. `assignee_id: null` unassigns."""

    status: TicketStatus | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    assignee_id: Id | UnsetType | None = UNSET
    subject: Subject | UnsetType = UNSET


class TicketCommentBody(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[
        str, Meta(max_length=MAX_COMMENT_LENGTH, description="Plain text; control characters are removed.")
    ]
    public: bool = False
    """True also sends it to the customer on the ticket's conversation, as an agent's reply."""


def _comment_view(comment: TicketComment) -> TicketCommentView:
    return TicketCommentView(
        id=comment.id,
        ticket_id=comment.ticket_id,
        author_type="agent" if comment.author_type == "agent" else "api_token",
        author_id=comment.author_id,
        body=comment.body,
        public=comment.public,
        message_id=comment.message_id,
        created_at=comment.created_at,
    )


def _subject(text: str) -> str:
    subject = clean_text(text)
    if not subject:
        raise invalid_field("subject", "must not be empty")
    return subject


async def _refuse_unknown_agent(session: AsyncSession, caller: Caller, agent_id: str | None) -> None:
    if agent_id is None:
        return
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.workspace_id != caller.workspace_id:
        raise invalid_field("assignee_id", f"no agent {agent_id} in your workspace", "agent_not_found")


async def _load_ticket(session: AsyncSession, caller: Caller, ticket_id: str) -> Ticket:
    """The caller's ticket; 404 for one of another workspace, as for one that does not exist."""
    return await workspace_row(session, caller, Ticket, ticket_id, code="ticket_not_found", noun="ticket")


class TicketController(Controller):
    path = "/tickets"
    tags = ("tickets",)

    @post("/", status_code=201, responses=error_responses(400, 401, 404, 413, 422))
    async def create_ticket(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[TicketBody],
    ) -> TicketView:
        """Open a ticket (`new`); one opened from a conversation carries its summary. Its SLA due times follow the inbox's targets for its priority, counted in the
        inbox's business hours. A conversation or inbox of another workspace answers 404."""
        subject = _subject(data.subject)
        contact_id, summary = None, ""
        if data.conversation_id is not None:
            conversation = await load_conversation(session, caller, data.conversation_id)
            if data.inbox_id is not None and data.inbox_id != conversation.inbox_id:
                raise invalid_field("inbox_id", "is not the conversation's inbox (leave it out)")
            inbox_id, contact_id = conversation.inbox_id, conversation.contact_id
            summary = (await conversation_summary(session, conversation)).text
        elif data.inbox_id is not None:
            inbox_id = (await load_inbox(session, caller, data.inbox_id)).id
        else:
            raise invalid_field("inbox_id", "give inbox_id or conversation_id")
        await _refuse_unknown_agent(session, caller, data.assignee_id)
        ticket = new_ticket(
            workspace_id=caller.workspace_id,
            inbox_id=inbox_id,
            subject=subject,
            level=service_level(await session.get(InboxService, inbox_id)),
            now=hub.now(),
            source=TicketSource.API,
            priority=data.priority,
            description=clean_text(data.description),
            summary=summary,
            conversation_id=data.conversation_id,
            contact_id=contact_id,
            assignee_id=data.assignee_id,
        )
        event = await add_ticket(session, ticket)
        await session.commit()
        await hub.publisher.publish(event, [workspace_channel(caller.workspace_id)])
        return ticket_view(ticket)

    @get("/", responses=error_responses(400, 401))
    async def list_tickets(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        status: StatusQuery = None,
        priority: StatusQuery = None,
        inbox_id: IdQuery = None,
        conversation_id: IdQuery = None,
        contact_id: IdQuery = None,
        assignee_id: IdQuery = None,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> TicketPage:
        """Newest first. `status` and `priority` take comma-separated values; `assignee_id=none` lists unassigned
        ones; pass `next_cursor` back as `cursor` for more."""
        statement = select(Ticket).where(col(Ticket.workspace_id) == caller.workspace_id)
        if status:
            statement = statement.where(col(Ticket.status).in_(status.split(",")))
        if priority:
            statement = statement.where(col(Ticket.priority).in_(priority.split(",")))
        if inbox_id:
            statement = statement.where(col(Ticket.inbox_id) == inbox_id)
        if conversation_id:
            statement = statement.where(col(Ticket.conversation_id) == conversation_id)
        if contact_id:
            statement = statement.where(col(Ticket.contact_id) == contact_id)
        if assignee_id == "none":
            statement = statement.where(col(Ticket.assignee_id).is_(None))
        elif assignee_id:
            statement = statement.where(col(Ticket.assignee_id) == assignee_id)
        page, next_cursor = await id_page(
            session, statement, col(Ticket.id), cursor, limit, newest_first=True
        )
        return TicketPage(items=[ticket_view(ticket) for ticket in page], next_cursor=next_cursor)

    @get("/{ticket_id:str}", responses=error_responses(400, 401, 404))
    async def get_ticket(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], ticket_id: IdPath
    ) -> TicketView:
        return ticket_view(await _load_ticket(session, caller, ticket_id))

    @patch("/{ticket_id:str}", responses=error_responses(400, 401, 404, 409, 413, 422))
    async def update_ticket(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        ticket_id: IdPath,
        data: JSONBody[TicketPatch],
    ) -> TicketView:
        """Change the fields given. `status`: `open`, `pending`, `solved` or `closed` as the lifecycle allows
        (new → open → pending → solved → closed; a solved ticket reopens; a closed one is final), else 409
        `invalid_transition`. A new `priority` recomputes the SLA due times."""
        ticket = await _load_ticket(session, caller, ticket_id)
        assignee_id = None if isinstance(data.assignee_id, UnsetType) else data.assignee_id
        await _refuse_unknown_agent(session, caller, assignee_id)
        changes = TicketChanges(
            status=None if isinstance(data.status, UnsetType) else data.status,
            priority=None if isinstance(data.priority, UnsetType) else data.priority,
            assignee_id=assignee_id,
            clear_assignee=data.assignee_id is None,
            subject=None if isinstance(data.subject, UnsetType) else _subject(data.subject),
        )
        level = service_level(await session.get(InboxService, ticket.inbox_id))
        try:
            event = apply_changes(session, ticket, changes, level, hub.now())
        except InvalidTransition as refused:
            raise ApiError(409, "invalid_transition", refused.detail) from None
        if event is not None:
            await session.commit()
            await hub.publisher.publish(event, [workspace_channel(caller.workspace_id)])
        return ticket_view(ticket)

    @get("/{ticket_id:str}/comments", responses=error_responses(400, 401, 404))
    async def list_comments(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        ticket_id: IdPath,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> TicketCommentPage:
        """The ticket's comments, internal and public, oldest first."""
        await _load_ticket(session, caller, ticket_id)
        statement = select(TicketComment).where(
            col(TicketComment.ticket_id) == ticket_id, col(TicketComment.workspace_id) == caller.workspace_id
        )
        page, next_cursor = await id_page(session, statement, col(TicketComment.id), cursor, limit)
        return TicketCommentPage(items=[_comment_view(row) for row in page], next_cursor=next_cursor)

    @post("/{ticket_id:str}/comments", status_code=201, responses=error_responses(400, 401, 404, 413, 422))
    async def comment(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        ticket_id: IdPath,
        data: JSONBody[TicketCommentBody],
    ) -> TicketCommentView:
        """Comment on the ticket. An internal comment (`public: false`) stays with the ticket; a public one is
        also sent to the customer on the ticket's conversation as the calling agent's reply (422
        `ticket_without_conversation` for a ticket opened on an inbox alone). Records `ticket.commented`."""
        ticket = await _load_ticket(session, caller, ticket_id)
        body = clean_text(data.body)
        if not body:
            raise invalid_field("body", "must not be empty")
        message_id = None
        if data.public:
            if ticket.conversation_id is None:
                raise invalid_field(
                    "public",
                    "this ticket has no conversation to send a public comment on",
                    "ticket_without_conversation",
                )
            reply = await write_message(
                hub, caller, session, ticket.conversation_id, ReplyBody(text=body), MessageDirection.OUT
            )
            message_id = reply.id
            ticket = await _load_ticket(session, caller, ticket_id)
        comment = TicketComment(
            workspace_id=caller.workspace_id,
            ticket_id=ticket.id,
            author_type="agent" if caller.agent else "api_token",
            author_id=caller.agent_id,
            body=body,
            public=data.public,
            message_id=message_id,
            created_at=hub.now(),
        )
        session.add(comment)
        event = events.record(
            session,
            caller.workspace_id,
            "ticket.commented",
            ticket.id,
            {"ticket": ticket_view(ticket), "comment": _comment_view(comment)},
        )
        await session.commit()
        await hub.publisher.publish(event, [workspace_channel(caller.workspace_id)])
        return _comment_view(comment)
