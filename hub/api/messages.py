"""A conversation's messages: read them, reply to the customer, write internal notes."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import Meta
from sqlalchemy import delete as sql_delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import Capabilities
from connectors.base import DestinationRefused
from hub import events, outbound
from hub.api.dependencies import load_conversation
from hub.api.paging import id_page
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import AttachmentMeta, ClientId, CursorQuery, IdPath, IdQuery, MimeType, Name
from hub.masking import workspace_rules
from hub.models import AuditEntry, Inbox, Mention, Message
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.statuses import AgentRole, MessageDirection, SenderType
from hub.views import MessagePage, MessageView, NotePage
from normalizer import Attachment, clean_text
from normalizer.masking import MaskingRules

__all__ = ["MessageController", "ReplyBody", "write_message"]

MAX_REPLY_LENGTH = 10_000
MAX_ATTACHMENTS = 10
ATTACHMENT_KINDS = ("image", "voice", "video", "file", "link", "card")
MEDIA_CAPABILITIES = {"image": "images", "voice": "voice", "file": "files"}
"""Attachment kinds a channel's Capabilities can rule out; the connector judges the others when sending."""


class AttachmentBody(msgspec.Struct):
    """A file uploaded with POST /api/v1/attachments (its `url`), or a link or card the channel renders."""

    kind: str
    url: str
    name: Name | None = None
    mime_type: MimeType | None = None
    meta: AttachmentMeta = {}


class ReplyBody(msgspec.Struct):
    text: Annotated[str, Meta(max_length=MAX_REPLY_LENGTH, description="Control characters are removed.")] = (
        ""
    )
    client_id: ClientId | None = None
    attachments: Annotated[list[AttachmentBody], Meta(max_length=MAX_ATTACHMENTS)] = []


def validated_attachments(
    bodies: list[AttachmentBody], capabilities: Capabilities | None
) -> list[Attachment]:
    """Refuse what no channel could send, and media the channel's `capabilities` rule out (none for notes)."""
    attachments = []
    for index, body in enumerate(bodies):
        field = f"attachments[{index}]"
        if body.kind not in ATTACHMENT_KINDS:
            raise ApiError(
                422,
                "invalid_attachment",
                f"{field}.kind must be one of {', '.join(ATTACHMENT_KINDS)}.",
                extra=[{"field": f"{field}.kind", "message": "unknown attachment kind"}],
            )
        if not body.url.startswith(("https://", "http://")) or len(body.url) > 2000:
            raise ApiError(
                422,
                "invalid_attachment",
                f"{field}.url must be an http(s) URL.",
                extra=[{"field": f"{field}.url", "message": "not an http(s) URL"}],
            )
        capability = MEDIA_CAPABILITIES.get(body.kind)
        if capabilities is not None and capability is not None and not getattr(capabilities, capability):
            raise ApiError(
                422,
                "attachment_not_supported",
                f"This channel cannot send {body.kind} attachments.",
                extra=[{"field": f"{field}.kind", "message": "not supported by the channel"}],
            )
        attachments.append(
            Attachment(
                kind=body.kind,
                url=body.url,
                name=clean_text(body.name or "") or None,
                mime_type=body.mime_type,
                meta=body.meta,
            )
        )
    return attachments


def refuse_unreachable_attachments(hub: Hub, attachments: list[Attachment]) -> None:
    """The hub fetches a reply's attachments to upload them to the channel: their URLs must pass the egress policy."""
    for index, attachment in enumerate(attachments):
        if attachment.url is None or hub.attachments.holds(attachment.url):
            continue
        try:
            hub.egress.judge_url(attachment.url)
        except DestinationRefused as refused:
            field = f"attachments[{index}].url"
            raise ApiError(
                422,
                "destination_refused",
                f"{field} {refused.refusal}.",
                extra=[{"field": field, "message": refused.refusal}],
            ) from None


def masked_view(message: Message, rules: MaskingRules) -> MessageView:
    """What an agent reads: the workspace's masked kinds (bank card and resident ID numbers by default, its own
    templates) masked until an admin reveals them."""
    view = events.message_view(message)
    return msgspec.structs.replace(view, text=rules.mask(view.text))


async def _conversation_message(
    session: AsyncSession,
    caller: Caller,
    conversation_id: str,
    message_id: str,
    *conditions: Any,
    code: str,
    noun: str,
) -> Message:
    """A message of the caller's conversation: 404 for the conversation first, then 404 `code` ("No <noun> <id> in
    this conversation.") for a message of any other conversation, as for one that does not exist."""
    await load_conversation(session, caller, conversation_id)
    message = (
        await session.exec(
            select(Message).where(
                Message.id == message_id,
                Message.conversation_id == conversation_id,
                Message.workspace_id == caller.workspace_id,
                *conditions,
            )
        )
    ).first()
    if message is None:
        raise ApiError(404, code, f"No {noun} {message_id} in this conversation.")
    return message


class MessageController(Controller):
    path = "/conversations/{conversation_id:str}"
    tags = ("messages",)

    @get("/messages", responses=error_responses(400, 401, 404))
    async def list_messages(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        after: IdQuery = None,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> MessagePage:
        """Oldest first; pass `next_cursor` back as `cursor` for more. `after`, the id of the last message you
        have, is the same as `cursor`: a poller passes the last id it saw."""
        await load_conversation(session, caller, conversation_id)
        statement = select(Message).where(
            Message.conversation_id == conversation_id, Message.workspace_id == caller.workspace_id
        )
        page, next_cursor = await id_page(session, statement, col(Message.id), cursor or after, limit)
        rules = await workspace_rules(session, caller.workspace_id)
        return MessagePage(items=[masked_view(message, rules) for message in page], next_cursor=next_cursor)

    @post("/messages/{message_id:str}/reveal", status_code=200, responses=error_responses(400, 401, 403, 404))
    async def reveal(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        message_id: IdPath,
    ) -> MessageView:
        """The message with its card and ID numbers unmasked: admin agents only, and an audit entry says who saw it."""
        if caller.agent is None or caller.agent.role != AgentRole.ADMIN:
            raise ApiError(403, "admin_only", "Only an admin agent may reveal masked card and ID numbers.")
        message = await _conversation_message(
            session, caller, conversation_id, message_id, code="message_not_found", noun="message"
        )
        session.add(
            AuditEntry(
                workspace_id=caller.workspace_id,
                actor_type="agent",
                actor_id=caller.agent_id,
                action="message.revealed",
                subject_type="message",
                subject_id=message.id,
                details={"conversation_id": conversation_id},
            )
        )
        await session.commit()
        return events.message_view(message)

    @post("/messages", status_code=201, responses=error_responses(400, 401, 404, 413, 422))
    async def reply(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        data: JSONBody[ReplyBody],
    ) -> MessageView:
        """Send a reply to the customer. It is delivered by a worker: watch its `status`."""
        return await write_message(hub, caller, session, conversation_id, data, MessageDirection.OUT)

    @post("/notes", status_code=201, responses=error_responses(400, 401, 404, 413, 422))
    async def note(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        data: JSONBody[ReplyBody],
    ) -> MessageView:
        """An internal note: agents see it, the customer never does."""
        return await write_message(hub, caller, session, conversation_id, data, MessageDirection.NOTE)

    @get("/notes", responses=error_responses(400, 401, 404))
    async def list_notes(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> NotePage:
        """The conversation's internal notes alone, oldest first (masked as messages are)."""
        await load_conversation(session, caller, conversation_id)
        statement = select(Message).where(
            Message.conversation_id == conversation_id,
            Message.workspace_id == caller.workspace_id,
            Message.direction == MessageDirection.NOTE,
        )
        page, next_cursor = await id_page(session, statement, col(Message.id), cursor, limit)
        rules = await workspace_rules(session, caller.workspace_id)
        return NotePage(items=[masked_view(note, rules) for note in page], next_cursor=next_cursor)

    @delete("/notes/{note_id:str}", status_code=204, responses=error_responses(400, 401, 403, 404))
    async def delete_note(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        note_id: IdPath,
    ) -> None:
        """Delete an internal note: its author, or an admin (others 403 `not_note_author`). `note.deleted` tells
        open inboxes to drop it; the agents it named lose their mentions of it."""
        note = await _conversation_message(
            session,
            caller,
            conversation_id,
            note_id,
            Message.direction == MessageDirection.NOTE,
            code="note_not_found",
            noun="note",
        )
        written_by_caller = note.sender_type == SenderType.AGENT and note.sender_id == caller.agent_id
        if not written_by_caller and "admin" not in caller.scopes:
            raise ApiError(403, "not_note_author", "Only the note's author or an admin may delete it.")
        await session.execute(sql_delete(Mention).where(col(Mention.note_id) == note_id))
        await session.delete(note)
        event = events.record(
            session,
            caller.workspace_id,
            "note.deleted",
            conversation_id,
            {
                "note_id": note_id,
                "conversation_id": conversation_id,
                "actor_type": "agent" if caller.agent else "api_token",
            },
        )
        await session.commit()
        await hub.publisher.publish(event, [workspace_channel(caller.workspace_id)])


async def write_message(
    hub: Hub,
    caller: Caller,
    session: AsyncSession,
    conversation_id: str,
    data: ReplyBody,
    direction: MessageDirection,
) -> MessageView:
    """The one way the API writes a reply or a note: checked, stored, and for a reply queued for delivery."""
    conversation = await load_conversation(session, caller, conversation_id)
    text = clean_text(data.text)
    if not text and not data.attachments:
        raise ApiError(422, "empty_text", "text must not be empty (or send attachments).")
    capabilities = None
    if direction == MessageDirection.OUT and data.attachments:
        inbox = await session.get_one(Inbox, conversation.inbox_id)
        capabilities = hub.connector_for(inbox).capabilities
    await session.close()
    attachments = validated_attachments(data.attachments, capabilities)
    if direction == MessageDirection.OUT:
        refuse_unreachable_attachments(hub, attachments)
    message, _created = await outbound.create_message(
        hub,
        conversation,
        text=text,
        direction=direction,
        attachments=attachments,
        sender_type=SenderType.AGENT if caller.agent else SenderType.SYSTEM,
        sender_id=caller.agent_id,
        client_id=data.client_id,
    )
    return events.message_view(message)
