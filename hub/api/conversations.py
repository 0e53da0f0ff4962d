"""Conversations: list and read them, assign them, move them through their life (open, pending, snoozed,
resolved; hub.lifecycle), show the customer that an agent is typing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from hub import actors, assignment, events, journey, labels, lifecycle, search
from hub.api.dependencies import load_conversation
from hub.api.labels import LabelQuery, label_or_400
from hub.api.teams import workspace_team
from hub.auth import Caller
from hub.conversation_summaries import conversation_summaries
from hub.errors import ApiError, error_responses
from hub.fields import SINGLE_LINE, CursorQuery, Id, IdPath, IdQuery, KindQuery, StatusQuery
from hub.ids import looks_like_id
from hub.models import Agent, Contact, Conversation, Identity, Inbox
from hub.reply_threads import thread_subject
from hub.reply_windows import reply_window
from hub.runtime import Hub
from hub.statuses import ConversationStatus
from hub.views import (
    ConversationDetail,
    ConversationPage,
    ConversationView,
    IdentityView,
    ReplyFormatView,
    ReplyWindowView,
    TypingState,
)
from normalizer import clean_text, fold_text
from routing.errors import ClaimRefused, InvalidTransition, TransferRefused
from routing.lifecycle import ConversationEvent, Resolve, Snooze
from routing.transitions import SetOpen, SetPending

__all__ = ["ConversationController", "decode_cursor", "encode_cursor"]


class AssignBody(msgspec.Struct):
    agent_id: Id | None
    """null leaves the conversation unassigned."""


class TransferBody(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly one of `agent_id` and `team_id`."""

    agent_id: Id | None = None
    team_id: Id | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    """Kept on the conversation as an internal note for whoever picks it up."""


class StatusBody(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["open", "pending", "snoozed", "resolved"]
    """`open` reopens a resolved conversation or brings back a pending or snoozed one."""
    snoozed_until: datetime | None = None
    """With `snoozed` only, and then required: when it opens again (in the future, with a time zone)."""


OPEN_STORED_STATUSES = {
    "open": (ConversationStatus.QUEUED, ConversationStatus.ASSIGNED, ConversationStatus.BOT)
}
"""What the list's `status=open` stands for: waiting for an agent, with one, or with the bot."""


SearchQuery = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=200,
        pattern=SINGLE_LINE,
        description="Text in the conversation's messages (notes included) or an email's subject, any case; or "
        "the customer's name (any part) or one of their identities in any spelling.",
    ),
]


class TypingBody(msgspec.Struct):
    typing: bool = True


def encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.last_message_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (last_message_at, id) a cursor names; anything else, however it decodes, is not a cursor we made."""
    try:
        moment, conversation_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        last_message_at = datetime.fromisoformat(moment)
        if last_message_at.tzinfo is not None and looks_like_id(conversation_id):
            return last_message_at.astimezone(UTC), conversation_id
    except (ValueError, OverflowError):
        pass
    raise ApiError(400, "invalid_cursor", "The cursor is not one this API returned.")


def newest_activity_first(
    statement: SelectOfScalar[Conversation], cursor: str | None
) -> SelectOfScalar[Conversation]:
    """The conversations after `cursor`, most recent activity first: the conversation list and a contact's
    timeline page alike, so a cursor from either reads the same way."""
    if cursor:
        moment, last_id = decode_cursor(cursor)
        statement = statement.where(
            or_(
                col(Conversation.last_message_at) < moment,
                and_(col(Conversation.last_message_at) == moment, col(Conversation.id) < last_id),
            )
        )
    return statement.order_by(col(Conversation.last_message_at).desc(), col(Conversation.id).desc())


class ConversationController(Controller):
    path = "/conversations"
    tags = ("conversations",)

    @get("/", responses=error_responses(400, 401))
    async def list_conversations(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        status: StatusQuery = None,
        inbox_id: IdQuery = None,
        assignee_id: IdQuery = None,
        label: LabelQuery = None,
        team_id: IdQuery = None,
        channel: KindQuery = None,
        q: SearchQuery = None,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> ConversationPage:
        """Most recent activity first. `assignee_id=none` lists unassigned ones; `label` those carrying it;
        `team_id` those handed to a team; `channel` those of its inboxes; `q` those whose customer or messages
        match it (422 `search_too_broad` when it matches too much to list in time); pass `next_cursor` back
        for more."""
        statement = select(Conversation).where(Conversation.workspace_id == caller.workspace_id)
        if status:
            wanted = [each for name in status.split(",") for each in OPEN_STORED_STATUSES.get(name, (name,))]
            statement = statement.where(col(Conversation.status).in_(wanted))
        if inbox_id:
            statement = statement.where(Conversation.inbox_id == inbox_id)
        if assignee_id == "none":
            statement = statement.where(col(Conversation.assignee_id).is_(None))
        elif assignee_id:
            statement = statement.where(Conversation.assignee_id == assignee_id)
        if label is not None:
            statement = statement.where(labels.labelled(label_or_400(label)))
        if team_id:
            statement = statement.where(Conversation.team_id == team_id)
        if channel:
            statement = statement.where(
                col(Conversation.inbox_id).in_(
                    select(Inbox.id).where(Inbox.workspace_id == caller.workspace_id, Inbox.kind == channel)
                )
            )
        searched = fold_text(q or "")
        if searched:
            contact_ids = await search.contacts_matching(session, caller.workspace_id, searched)
            statement = statement.where(
                search.conversations_matching(caller.workspace_id, searched, contact_ids)
            )
        statement = newest_activity_first(statement, cursor).limit(limit + 1)
        rows = (
            await search.run_bounded(session, statement)
            if searched
            else (await session.exec(statement)).all()
        )
        page = rows[:limit]
        return ConversationPage(
            items=[events.conversation_view(conversation) for conversation in page],
            next_cursor=encode_cursor(page[-1]) if len(rows) > limit else None,
            summaries=await conversation_summaries(session, caller.workspace_id, page),
        )

    @get("/{conversation_id:str}", responses=error_responses(400, 401, 404))
    async def get_conversation(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
    ) -> ConversationDetail:
        """The conversation with its channel, the customer's identity on it, the window replies may be sent in, the
        pages the customer viewed (`recent_pages`), and the conversation the customer started after this one was
        resolved (`next_conversation_id`), if any, the subject an email reply carries (`reply_subject`), and what the
        composer needs to know of a reply on the channel (`reply_format`: the subject line as sent, whether replies
        are billed per SMS segment)."""
        conversation = await load_conversation(session, caller, conversation_id)
        inbox = await session.get_one(Inbox, conversation.inbox_id)
        identity = await session.get_one(Identity, conversation.identity_id)
        connector = hub.connector_for(inbox)
        capabilities = connector.capabilities
        window = reply_window(capabilities, conversation)
        subject = await thread_subject(session, conversation.id) if capabilities.threads_by_reply else None
        next_conversation_id = (
            await session.exec(
                select(Conversation.id)
                .where(
                    Conversation.previous_conversation_id == conversation.id,
                    Conversation.workspace_id == caller.workspace_id,
                )
                .order_by(col(Conversation.created_at).desc())
                .limit(1)
            )
        ).first()
        return ConversationDetail(
            **msgspec.structs.asdict(events.conversation_view(conversation)),
            next_conversation_id=next_conversation_id,
            channel=inbox.kind,
            identity=IdentityView(kind=identity.kind, value=identity.value, scope=identity.scope),
            reply_window=ReplyWindowView(ends_at=window.ends_at, replies_remaining=window.replies_remaining),
            recent_pages=await journey.recent_pages(
                session, await session.get_one(Contact, conversation.contact_id)
            ),
            reply_subject=subject,
            reply_format=ReplyFormatView(
                subject=connector.reply_subject(subject),
                billed_per_sms_segment=capabilities.billed_per_sms_segment,
            ),
        )

    @post(
        "/{conversation_id:str}/assign", status_code=200, responses=error_responses(400, 401, 404, 413, 422)
    )
    async def assign(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        data: JSONBody[AssignBody],
    ) -> ConversationView:
        """Assign the conversation to an agent of the workspace, or leave it unassigned."""
        conversation = await load_conversation(session, caller, conversation_id)
        if data.agent_id is not None:
            agent = await session.get(Agent, data.agent_id)
            if agent is None or agent.workspace_id != caller.workspace_id:
                raise ApiError(422, "agent_not_found", f"No agent {data.agent_id} in your workspace.")
        await session.close()
        row = await assignment.assign(
            hub, conversation, data.agent_id, actor_type="agent", actor_id=caller.agent_id
        )
        return events.conversation_view(row)

    @post("/{conversation_id:str}/resolve", status_code=200, responses=error_responses(400, 401, 404, 409))
    async def resolve(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
    ) -> ConversationView:
        """Resolve the conversation; the customer's next message within the inbox's reopen window reopens it,
        a later one starts a new conversation linked to it. 409 `invalid_transition` when already resolved."""
        await load_conversation(session, caller, conversation_id)
        await session.close()
        return await _change_status(hub, caller, conversation_id, Resolve())

    @post(
        "/{conversation_id:str}/status",
        status_code=200,
        responses=error_responses(400, 401, 404, 409, 413, 422),
    )
    async def change_status(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        data: JSONBody[StatusBody],
    ) -> ConversationView:
        """Reopen (`open`), wait on the customer (`pending`), snooze until a time (`snoozed` with
        `snoozed_until`) or resolve; 409 `invalid_transition` says why a change cannot happen now."""
        await load_conversation(session, caller, conversation_id)
        await session.close()
        return await _change_status(hub, caller, conversation_id, _status_event(data, hub.now()))

    @post("/{conversation_id:str}/claim", status_code=200, responses=error_responses(400, 401, 403, 404, 409))
    async def claim(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
    ) -> ConversationView:
        """The calling agent takes the conversation from the queue: online, with room, of the inbox's team and
        holding the skill it needs; 409 `claim_refused` lists the reasons otherwise."""
        if caller.agent_id is None:
            raise ApiError(403, "agent_only", "Only an agent's token can claim a conversation.")
        await load_conversation(session, caller, conversation_id)
        await session.close()
        try:
            row = await assignment.claim(hub, caller.workspace_id, conversation_id, caller.agent_id)
        except ClaimRefused as refused:
            raise ApiError(
                409, "claim_refused", f"{refused.detail} ({', '.join(refused.reasons)})."
            ) from None
        return events.conversation_view(row)

    @post(
        "/{conversation_id:str}/transfer",
        status_code=200,
        responses=error_responses(400, 401, 404, 409, 413, 422),
    )
    async def transfer(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        data: JSONBody[TransferBody],
    ) -> ConversationView:
        """Hand the conversation to an agent (online, with room) or to a team's queue, with a note; 409
        `transfer_refused` lists the reasons a transfer cannot happen."""
        await load_conversation(session, caller, conversation_id)
        if (data.agent_id is None) == (data.team_id is None):
            raise ApiError(
                422,
                "invalid_input",
                "Transfer to exactly one of agent_id and team_id.",
                extra=[{"field": "agent_id", "message": "give agent_id or team_id, not both"}],
            )
        if data.agent_id is not None:
            agent = await session.get(Agent, data.agent_id)
            if agent is None or agent.workspace_id != caller.workspace_id:
                raise ApiError(
                    422,
                    "agent_not_found",
                    f"No agent {data.agent_id} in your workspace.",
                    extra=[{"field": "agent_id", "message": "unknown agent"}],
                )
        if data.team_id is not None:
            await workspace_team(session, caller, data.team_id, field="team_id")
        await session.close()
        try:
            row = await assignment.transfer(
                hub,
                caller.workspace_id,
                conversation_id,
                by_agent_id=caller.agent_id,
                to_agent_id=data.agent_id,
                to_team_id=data.team_id,
                note=clean_text(data.note),
            )
        except TransferRefused as refused:
            raise ApiError(
                409, "transfer_refused", f"{refused.detail} ({', '.join(refused.reasons)})."
            ) from None
        return events.conversation_view(row)

    @post("/{conversation_id:str}/typing", status_code=202, responses=error_responses(400, 401, 404, 413))
    async def typing(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        data: JSONBody[TypingBody],
    ) -> TypingState:
        """Show the customer that an agent is typing, where the channel can."""
        conversation = await load_conversation(session, caller, conversation_id)
        inbox = await session.get_one(Inbox, conversation.inbox_id)
        await session.close()
        if hub.connector_for(inbox).capabilities.typing:
            await hub.jobs.send(actors.send_typing, conversation.id, "on" if data.typing else "off")
        return TypingState(typing=data.typing)


def _status_event(data: StatusBody, now: datetime) -> ConversationEvent:
    """The lifecycle event the body asks for; 422 when `snoozed_until` is missing, misplaced or not ahead."""
    if data.status != "snoozed":
        if data.snoozed_until is not None:
            raise _invalid_snooze("give snoozed_until with status snoozed only")
        chosen: dict[str, ConversationEvent] = {
            "open": SetOpen(),
            "pending": SetPending(),
            "resolved": Resolve(),
        }
        return chosen[data.status]
    if data.snoozed_until is None:
        raise _invalid_snooze("required to snooze")
    if data.snoozed_until.tzinfo is None:
        raise _invalid_snooze("give a time zone (e.g. 2026-12-01T09:00:00Z)")
    if data.snoozed_until <= now:
        raise _invalid_snooze("must be in the future")
    return Snooze(until=data.snoozed_until)


def _invalid_snooze(message: str) -> ApiError:
    return ApiError(
        422,
        "invalid_input",
        f"snoozed_until: {message}.",
        extra=[{"field": "snoozed_until", "message": message}],
    )


async def _change_status(
    hub: Hub, caller: Caller, conversation_id: str, event: ConversationEvent
) -> ConversationView:
    try:
        row = await lifecycle.change_status(hub, caller.workspace_id, conversation_id, event)
    except InvalidTransition as refused:
        raise ApiError(409, "invalid_transition", f"{refused.detail}.") from None
    return events.conversation_view(row)
