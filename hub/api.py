"""The REST API under /api/v1 for agents and integrations. Every query is scoped to the caller's workspace."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody, QueryParameter
from msgspec import Meta
from sqlalchemy import and_, or_
from sqlmodel import select

from connectors import Capabilities, CredentialsRefused, CredentialsUnchecked, UnknownConnectorKind
from connectors.base import DestinationRefused
from hub import assignment, auth, events, outbound
from hub.auth import Caller, caller_dependency, client_address
from hub.errors import ApiError
from hub.fields import (
    AttachmentMeta,
    ClientId,
    CursorQuery,
    Email,
    Id,
    IdPath,
    IdQuery,
    InboxSettings,
    Kind,
    MimeType,
    Name,
    Password,
    StatusQuery,
)
from hub.ids import looks_like_id
from hub.models import Agent, Conversation, Identity, Inbox, Message
from hub.realtime import workspace_channel
from hub.reply_windows import reply_window
from hub.runtime import ENCRYPTED, Hub, InvalidInboxSettings
from normalizer import Attachment, clean_text
from routing.assignment import STRATEGIES as ROUTING_STRATEGIES

__all__ = ["ApiController", "AuthController", "inbox_json", "load_conversation"]

MAX_REPLY_LENGTH = 10_000
MAX_ATTACHMENTS = 10
ATTACHMENT_KINDS = ("image", "voice", "video", "file", "link", "card")
MEDIA_CAPABILITIES = {"image": "images", "voice": "voice", "file": "files"}
"""Attachment kinds a channel's Capabilities can rule out; the connector judges the others when sending."""


class LoginBody(msgspec.Struct):
    email: Email
    password: Password


class PasswordChangeBody(msgspec.Struct):
    current_password: Password
    new_password: Password


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


class AssignBody(msgspec.Struct):
    agent_id: Id | None


class TypingBody(msgspec.Struct):
    typing: bool = True


class InboxBody(msgspec.Struct):
    kind: Kind
    name: Name
    settings: InboxSettings = {}
    routing_strategy: str = "least_busy"
    bot_enabled: bool = False


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


def inbox_json(hub: Hub, inbox: Inbox) -> dict[str, Any]:
    """The inbox with its public connection facts; secret settings are masked, never echoed.

    An inbox whose connector is no longer installed is still listed, marked `connector_missing`.
    """
    settings = {
        name: "********" if isinstance(value, dict) and ENCRYPTED in value else value
        for name, value in inbox.settings.items()
    }
    fields: dict[str, Any] = {
        "id": inbox.id,
        "kind": inbox.kind,
        "name": inbox.name,
        "settings": settings,
        "routing_strategy": inbox.routing_strategy,
        "bot_enabled": inbox.bot_enabled,
        "created_at": inbox.created_at.isoformat(),
    }
    if inbox.kind not in hub.registry:
        return {**fields, "connector_missing": True, "capabilities": None}
    connector = hub.connector_for(inbox)
    window = connector.capabilities
    fields["capabilities"] = {
        "max_text_length": window.max_text_length,
        "reply_window_seconds": window.reply_window.total_seconds() if window.reply_window else None,
        "max_replies_in_window": window.max_replies_in_window,
        "typing": window.typing,
    }
    return {**connector.describe(), **fields}


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


async def load_conversation(hub: Hub, caller: Caller, conversation_id: str) -> Conversation:
    async with hub.database.session() as session:
        conversation = (
            await session.exec(
                select(Conversation).where(
                    Conversation.id == conversation_id, Conversation.workspace_id == caller.workspace_id
                )
            )
        ).first()
    if conversation is None:
        raise ApiError(404, "conversation_not_found", f"No conversation {conversation_id} in your workspace.")
    return conversation


async def _prove_credentials(hub: Hub, inbox: Inbox) -> None:
    """The channel must accept the credentials before the inbox exists: nobody connects an account they cannot prove."""
    try:
        await hub.check_credentials(inbox)
    except CredentialsRefused as refused:
        named = (
            [{"field": f"settings.{refused.setting}", "message": refused.reason}] if refused.setting else None
        )
        raise ApiError(
            422, "credentials_refused", f"The channel refused the credentials: {refused.reason}", extra=named
        ) from None
    except CredentialsUnchecked as unchecked:
        raise ApiError(
            502,
            "channel_unavailable",
            f"The channel could not check the credentials, so the inbox was not "
            f"created; try again later: {unchecked.reason}",
        ) from None


def _encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.last_message_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (last_message_at, id) a cursor names; anything else, however it decodes, is not a cursor we made."""
    try:
        moment, conversation_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        last_message_at = datetime.fromisoformat(moment)
        if last_message_at.tzinfo is not None and looks_like_id(conversation_id):
            return last_message_at.astimezone(UTC), conversation_id
    except (ValueError, OverflowError):
        pass
    raise ApiError(400, "invalid_cursor", "The cursor is not one this API returned.")


def json_body_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A form or text/plain body is what another site's page can post without asking: these take JSON alone."""
    media_type = connection.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "Send the body as JSON, with 'Content-Type: application/json'."
        )


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", status_code=200, guards=[json_body_only])
    async def login(self, request: Request, data: JSONBody[LoginBody]) -> dict[str, Any]:
        """Exchange an agent's email and password for an API token valid 12 hours.

        Attempts are limited per email and per client address (429 with `Retry-After`).
        """
        agent, token = await auth.login(
            hub_of(request),
            request.app.state.rate_limiter,
            data.email,
            data.password,
            client_address(request),
        )
        return {
            "access_token": token,
            "token_type": "bearer",
            "agent": {"id": agent.id, "name": agent.name, "email": agent.email, "role": agent.role},
            "workspace_id": agent.workspace_id,
        }

    @post("/logout", status_code=204, dependencies={"caller": Provide(caller_dependency)})
    async def logout(self, request: Request, caller: NamedDependency[Caller]) -> None:
        """Revoke the token this request carries; WebSockets opened with it close."""
        await auth.logout(hub_of(request), caller)

    @post(
        "/password",
        status_code=200,
        guards=[json_body_only],
        dependencies={"caller": Provide(caller_dependency)},
    )
    async def change_password(
        self, request: Request, caller: NamedDependency[Caller], data: JSONBody[PasswordChangeBody]
    ) -> dict[str, Any]:
        """Change the calling agent's password; the agent's other sessions are revoked, this one stays."""
        revoked = await auth.change_password(
            hub_of(request),
            request.app.state.rate_limiter,
            caller,
            data.current_password,
            data.new_password,
            client_address(request),
        )
        return {"revoked_sessions": revoked}


class ApiController(Controller):
    path = "/api/v1"
    dependencies = {"caller": Provide(caller_dependency)}
    tags = ["api"]

    @get("/me")
    async def me(self, caller: NamedDependency[Caller]) -> dict[str, Any]:
        agent = caller.agent
        return {
            "workspace_id": caller.workspace_id,
            "agent": {"id": agent.id, "name": agent.name, "email": agent.email, "role": agent.role}
            if agent
            else None,
        }

    @get("/agents")
    async def agents(self, request: Request, caller: NamedDependency[Caller]) -> list[dict[str, Any]]:
        async with hub_of(request).database.session() as session:
            rows = (await session.exec(select(Agent).where(Agent.workspace_id == caller.workspace_id))).all()
        return [
            {
                "id": agent.id,
                "name": agent.name,
                "email": agent.email,
                "role": agent.role,
                "presence": agent.presence,
            }
            for agent in rows
        ]

    @get("/inboxes")
    async def list_inboxes(self, request: Request, caller: NamedDependency[Caller]) -> list[dict[str, Any]]:
        hub = hub_of(request)
        async with hub.database.session() as session:
            rows = (await session.exec(select(Inbox).where(Inbox.workspace_id == caller.workspace_id))).all()
        return [inbox_json(hub, inbox) for inbox in rows]

    @get("/inboxes/{inbox_id:str}")
    async def get_inbox(
        self, request: Request, caller: NamedDependency[Caller], inbox_id: IdPath
    ) -> dict[str, Any]:
        hub = hub_of(request)
        async with hub.database.session() as session:
            inbox = (
                await session.exec(
                    select(Inbox).where(Inbox.id == inbox_id, Inbox.workspace_id == caller.workspace_id)
                )
            ).first()
        if inbox is None:
            raise ApiError(404, "inbox_not_found", f"No inbox {inbox_id} in your workspace.")
        return inbox_json(hub, inbox)

    @post("/inboxes", status_code=201)
    async def create_inbox(
        self, request: Request, caller: NamedDependency[Caller], data: JSONBody[InboxBody]
    ) -> dict[str, Any]:
        """Connect a channel: `settings` is validated by the channel's settings model."""
        hub = hub_of(request)
        if data.routing_strategy not in ROUTING_STRATEGIES:
            raise ApiError(
                422,
                "invalid_input",
                f"routing_strategy must be one of {', '.join(ROUTING_STRATEGIES)}.",
                extra=[{"field": "routing_strategy", "message": "unknown strategy"}],
            )
        name = clean_text(data.name)
        if not name:
            raise ApiError(
                422,
                "invalid_input",
                "name must not be empty.",
                extra=[{"field": "name", "message": "must not be empty"}],
            )
        try:
            sealed = hub.seal_settings(data.kind, data.settings)
        except UnknownConnectorKind:
            raise ApiError(
                422,
                "unknown_kind",
                f"No channel kind {data.kind!r}; known: {', '.join(hub.registry.kinds())}.",
                extra=[{"field": "kind", "message": "unknown channel kind"}],
            ) from None
        except InvalidInboxSettings as invalid:
            raise ApiError(
                422,
                "invalid_settings",
                str(invalid),
                extra=[
                    {
                        "field": "settings." + ".".join(str(part) for part in error["loc"]),
                        "message": error["msg"],
                    }
                    for error in invalid.errors
                ],
            ) from None
        inbox = Inbox(
            workspace_id=caller.workspace_id,
            kind=data.kind,
            name=name,
            settings=sealed,
            public_token=secrets.token_urlsafe(24),
            routing_strategy=data.routing_strategy,
            bot_enabled=data.bot_enabled,
        )
        await _prove_credentials(hub, inbox)
        async with hub.database.session() as session:
            session.add(inbox)
            await session.commit()
        return inbox_json(hub, inbox)

    @get("/conversations")
    async def list_conversations(
        self,
        request: Request,
        caller: NamedDependency[Caller],
        status: StatusQuery = None,
        inbox_id: IdQuery = None,
        assignee_id: IdQuery = None,
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> dict[str, Any]:
        """Most recent activity first. `assignee_id=none` lists unassigned ones; pass `next_cursor` back for more."""
        statement = select(Conversation).where(Conversation.workspace_id == caller.workspace_id)
        if status:
            statement = statement.where(Conversation.status.in_(status.split(",")))
        if inbox_id:
            statement = statement.where(Conversation.inbox_id == inbox_id)
        if assignee_id == "none":
            statement = statement.where(Conversation.assignee_id.is_(None))
        elif assignee_id:
            statement = statement.where(Conversation.assignee_id == assignee_id)
        if cursor:
            moment, last_id = _decode_cursor(cursor)
            statement = statement.where(
                or_(
                    Conversation.last_message_at < moment,
                    and_(Conversation.last_message_at == moment, Conversation.id < last_id),
                )
            )
        statement = statement.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(
            limit + 1
        )
        async with hub_of(request).database.session() as session:
            rows = (await session.exec(statement)).all()
        page = rows[:limit]
        return {
            "items": [events.conversation_json(conversation) for conversation in page],
            "next_cursor": _encode_cursor(page[-1]) if len(rows) > limit else None,
        }

    @get("/conversations/{conversation_id:str}")
    async def get_conversation(
        self, request: Request, caller: NamedDependency[Caller], conversation_id: IdPath
    ) -> dict[str, Any]:
        hub = hub_of(request)
        conversation = await load_conversation(hub, caller, conversation_id)
        async with hub.database.session() as session:
            inbox = await session.get(Inbox, conversation.inbox_id)
            identity = await session.get(Identity, conversation.identity_id)
        window = reply_window(hub.connector_for(inbox).capabilities, conversation)
        return {
            **events.conversation_json(conversation),
            "channel": inbox.kind,
            "identity": {"kind": identity.kind, "value": identity.value, "scope": identity.scope},
            "reply_window": window.as_json(),
        }

    @get("/conversations/{conversation_id:str}/messages")
    async def list_messages(
        self,
        request: Request,
        caller: NamedDependency[Caller],
        conversation_id: IdPath,
        after: IdQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Oldest first; `after` is the id of the last message you have."""
        hub = hub_of(request)
        await load_conversation(hub, caller, conversation_id)
        statement = select(Message).where(
            Message.conversation_id == conversation_id, Message.workspace_id == caller.workspace_id
        )
        if after:
            statement = statement.where(Message.id > after)
        async with hub.database.session() as session:
            rows = (await session.exec(statement.order_by(Message.id).limit(limit))).all()
        return {"items": [events.message_json(message) for message in rows]}

    @post("/conversations/{conversation_id:str}/messages", status_code=201)
    async def reply(
        self,
        request: Request,
        caller: NamedDependency[Caller],
        conversation_id: IdPath,
        data: JSONBody[ReplyBody],
    ) -> dict[str, Any]:
        """Send a reply to the customer. It is delivered by a worker: watch its `status`."""
        return await self._write(request, caller, conversation_id, data, "out")

    @post("/conversations/{conversation_id:str}/notes", status_code=201)
    async def note(
        self,
        request: Request,
        caller: NamedDependency[Caller],
        conversation_id: IdPath,
        data: JSONBody[ReplyBody],
    ) -> dict[str, Any]:
        """An internal note: agents see it, the customer never does."""
        return await self._write(request, caller, conversation_id, data, "note")

    async def _write(
        self, request: Request, caller: Caller, conversation_id: str, data: ReplyBody, direction: str
    ):
        hub = hub_of(request)
        conversation = await load_conversation(hub, caller, conversation_id)
        text = clean_text(data.text)
        if not text and not data.attachments:
            raise ApiError(422, "empty_text", "text must not be empty (or send attachments).")
        capabilities = None
        if direction == "out" and data.attachments:
            async with hub.database.session() as session:
                capabilities = hub.connector_for(await session.get(Inbox, conversation.inbox_id)).capabilities
        attachments = validated_attachments(data.attachments, capabilities)
        if direction == "out":
            refuse_unreachable_attachments(hub, attachments)
        message, _created = await outbound.create_message(
            hub,
            conversation,
            text=text,
            direction=direction,
            attachments=attachments,
            sender_type="agent" if caller.agent else "system",
            sender_id=caller.agent_id,
            client_id=data.client_id,
        )
        return events.message_json(message)

    @post("/conversations/{conversation_id:str}/assign", status_code=200)
    async def assign(
        self,
        request: Request,
        caller: NamedDependency[Caller],
        conversation_id: IdPath,
        data: JSONBody[AssignBody],
    ) -> dict[str, Any]:
        hub = hub_of(request)
        conversation = await load_conversation(hub, caller, conversation_id)
        if data.agent_id is not None:
            async with hub.database.session() as session:
                agent = await session.get(Agent, data.agent_id)
            if agent is None or agent.workspace_id != caller.workspace_id:
                raise ApiError(422, "agent_not_found", f"No agent {data.agent_id} in your workspace.")
        row = await assignment.assign(
            hub, conversation, data.agent_id, actor_type="agent", actor_id=caller.agent_id
        )
        return events.conversation_json(row)

    @post("/conversations/{conversation_id:str}/resolve", status_code=200)
    async def resolve(
        self, request: Request, caller: NamedDependency[Caller], conversation_id: IdPath
    ) -> dict[str, Any]:
        hub = hub_of(request)
        conversation = await load_conversation(hub, caller, conversation_id)
        async with hub.database.session() as session:
            row = await session.get(Conversation, conversation.id)
            row.status = "resolved"
            row.resolved_at = hub.now()
            payload = events.record(
                session,
                row.workspace_id,
                "conversation.resolved",
                row.id,
                {"conversation": events.conversation_json(row)},
            )
            await session.commit()
        await hub.publisher.publish(payload, [workspace_channel(row.workspace_id)])
        return events.conversation_json(row)

    @post("/conversations/{conversation_id:str}/typing", status_code=202)
    async def typing(
        self,
        request: Request,
        caller: NamedDependency[Caller],
        conversation_id: IdPath,
        data: JSONBody[TypingBody],
    ) -> dict[str, Any]:
        """Show the customer that an agent is typing, where the channel can."""
        hub = hub_of(request)
        conversation = await load_conversation(hub, caller, conversation_id)
        async with hub.database.session() as session:
            inbox = await session.get(Inbox, conversation.inbox_id)
        if hub.connector_for(inbox).capabilities.typing:
            await hub.jobs.enqueue(outbound.SEND_TYPING, conversation.id, "on" if data.typing else "off")
        return {"typing": data.typing}
