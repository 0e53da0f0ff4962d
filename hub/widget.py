"""The web chat widget's public endpoints: the script, HTTP messages (with long-poll) and the WebSocket.

A visitor is known by a signed visitor token the hub issues on first contact; the widget keeps
it and sends it back, so a reload continues the same conversation with its history.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import parse_qs

import msgspec
from litestar import Controller, Request, Response, WebSocket, get, post, websocket
from litestar.connection import ASGIConnection
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.types import ASGIApp, Receive, Scope, Send
from msgspec import Meta
from sqlmodel import select

from connectors import MalformedPayload, RawRequest
from connectors.webchat import WebChatConnector, WebChatSettings
from hub import events, inbound
from hub.auth import client_address, token_from
from hub.crypto import InvalidVisitorToken
from hub.errors import ApiError, error_body
from hub.fields import ClientId, IdQuery, Name, TokenPath, WebUrl, looks_like_token
from hub.ids import new_id
from hub.models import Conversation, Identity, Inbox, Message
from hub.ratelimit import enforce
from hub.realtime import Fanout, InvalidFrame, audience_channel, frame_text, receive_frame
from hub.runtime import Hub
from normalizer import IdentityKind

__all__ = ["WidgetController", "widget_preflight"]

LONG_POLL_MAX_SECONDS = 25
HISTORY_LIMIT = 200
CORS_HEADERS = "Authorization, Content-Type"


class WidgetMessage(msgspec.Struct):
    text: Annotated[
        str,
        Meta(
            max_length=WebChatConnector.capabilities.max_text_length,
            description="Control characters are removed.",
        ),
    ]
    client_id: ClientId
    name: Name | None = None
    page_url: WebUrl | None = None


class WidgetVisitor:
    """The inbox a widget token names, and the visitor a visitor token names (new when none)."""

    __slots__ = ("hub", "inbox", "issued_token", "visitor_id")

    def __init__(self, hub: Hub, inbox: Inbox, visitor_id: str, issued_token: str | None) -> None:
        self.hub = hub
        self.inbox = inbox
        self.visitor_id = visitor_id
        self.issued_token = issued_token

    @property
    def settings(self) -> WebChatSettings:
        return widget_settings(self.hub, self.inbox)

    @property
    def channel(self) -> str:
        return audience_channel(self.inbox.id, IdentityKind.WEBCHAT_VISITOR, self.inbox.id, self.visitor_id)

    async def history(self, after: str | None = None) -> list[dict[str, Any]]:
        statement = (
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(
                Identity.workspace_id == self.inbox.workspace_id,
                Identity.kind == IdentityKind.WEBCHAT_VISITOR,
                Identity.scope == self.inbox.id,
                Identity.value == self.visitor_id,
                Message.direction.in_(events.CUSTOMER_VISIBLE),
            )
        )
        if after:
            statement = statement.where(Message.id > after)
        async with self.hub.database.session() as session:
            rows = (await session.exec(statement.order_by(Message.id.desc()).limit(HISTORY_LIMIT))).all()
        return [events.visitor_message_json(message) for message in reversed(rows)]

    async def send(
        self, text: str, client_id: str, name: str | None, page_url: str | None, remote_addr: str | None
    ) -> dict[str, Any]:
        """Accept one visitor message durably; retries with the same client_id are answered, not stored again."""
        body = msgspec.json.encode(
            {
                "visitor_id": self.visitor_id,
                "client_id": client_id,
                "text": text,
                "name": name,
                "page_url": page_url,
            }
        )
        now = self.hub.now()
        raw = RawRequest(
            method="POST",
            url=f"{self.hub.settings.public_url}/widget",
            sub_path="",
            query={},
            headers={},
            body=body,
            received_at=now,
            remote_addr=remote_addr,
        )
        connector = self.hub.connector_for(self.inbox)
        try:
            parsed = connector.parse(raw)
        except MalformedPayload as error:
            raise ApiError(400, "invalid_message", str(error)) from None
        [accepted] = await inbound.accept(self.hub, self.inbox, parsed, connector.redact(raw))
        return {
            "id": accepted.message_id,
            "client_id": client_id,
            "text": parsed[0].text,
            "sender": "contact",
            "status": "accepted",
            "duplicate": accepted.duplicate,
            "created_at": now.isoformat(),
        }


async def find_widget_inbox(hub: Hub, widget_token: str) -> Inbox:
    inbox = await hub.inboxes.find(public_token=widget_token) if looks_like_token(widget_token) else None
    if inbox is None or inbox.kind != WebChatConnector.kind:
        raise ApiError(404, "widget_not_found", "No web chat inbox has this widget token.")
    return inbox


def widget_settings(hub: Hub, inbox: Inbox) -> WebChatSettings:
    return hub.connector_for(inbox).settings  # type: ignore[return-value]


async def find_visitor(
    hub: Hub, widget_token: str, visitor_token: str | None, *, issue: bool
) -> WidgetVisitor:
    inbox = await find_widget_inbox(hub, widget_token)
    if visitor_token:
        settings = widget_settings(hub, inbox)
        try:
            visitor_id = hub.visitor_tokens.verify(
                visitor_token, inbox.id, settings.visitor_token_days * 86400, now=hub.now().timestamp()
            )
        except InvalidVisitorToken as error:
            raise ApiError(
                401, "invalid_visitor_token", f"{error}; start a new chat without a visitor token."
            ) from None
        return WidgetVisitor(hub, inbox, visitor_id, None)
    if not issue:
        raise ApiError(
            401, "missing_visitor_token", "Send the visitor token as 'Authorization: Bearer <visitor_token>'."
        )
    visitor_id = new_id()
    return WidgetVisitor(
        hub, inbox, visitor_id, hub.visitor_tokens.issue(inbox.id, visitor_id, now=hub.now().timestamp())
    )


async def _limit(hub: Hub, request: ASGIConnection, visitor: WidgetVisitor) -> None:
    """Per visitor (a new one too: a socket keeps the visitor it was issued) and per IP, so a script
    hammering the widget cannot fill the database."""
    await enforce(
        request.app.state.rate_limiter,
        [
            (f"ip:{client_address(request)}", hub.settings.ip_rate_per_minute),
            (f"visitor:{visitor.inbox.id}:{visitor.visitor_id}", hub.settings.visitor_rate_per_minute),
        ],
        60,
        "Too many messages; wait before sending more.",
    )


def _cors(settings: WebChatSettings, origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    if not settings.origin_allowed(origin):
        raise ApiError(403, "origin_not_allowed", f"The widget may not be embedded on {origin}.")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def widget_preflight(app: ASGIApp) -> ASGIApp:
    """Answer CORS preflights of the widget's endpoints with the inbox's own allowed origins.

    A middleware, because the router's automatic OPTIONS answer knows nothing of inboxes.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "OPTIONS"
            or not scope["path"].startswith("/widget/")
        ):
            await app(scope, receive, send)
            return
        request: Request = Request(scope, receive)
        try:
            widget_token = scope["path"].split("/")[2]
            hub: Hub = scope["app"].state.hub
            headers = _cors(
                widget_settings(hub, await find_widget_inbox(hub, widget_token)),
                request.headers.get("origin"),
            )
            headers.update(
                {
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": CORS_HEADERS,
                    "Access-Control-Max-Age": "600",
                }
            )
            response = Response(None, status_code=204, headers=headers)
        except ApiError as error:
            response = Response(
                error_body(error.status_code, error.code, error.detail), status_code=error.status_code
            )
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)

    return middleware


class WidgetController(Controller):
    path = "/widget/{widget_token:str}"
    tags = ["widget"]

    @get("/config")
    async def config(self, request: Request, widget_token: TokenPath) -> Response:
        """What the widget shows before the first message (title, greeting, colour)."""
        hub: Hub = request.app.state.hub
        inbox = await find_widget_inbox(hub, widget_token)
        settings = widget_settings(hub, inbox)
        body = {
            "title": settings.title,
            "greeting": settings.greeting,
            "color": settings.color,
            "inbox": inbox.name,
        }
        return Response(body, headers=_cors(settings, request.headers.get("origin")))

    @post("/messages", status_code=201)
    async def post_message(
        self, request: Request, widget_token: TokenPath, data: JSONBody[WidgetMessage]
    ) -> Response:
        """Send a visitor message: `{"text", "client_id"}`. The first call (no Bearer) answers a `visitor_token`."""
        hub: Hub = request.app.state.hub
        visitor = await find_visitor(hub, widget_token, token_from(request), issue=True)
        headers = _cors(visitor.settings, request.headers.get("origin"))
        await _limit(hub, request, visitor)
        message = await visitor.send(
            data.text, data.client_id, data.name, data.page_url, client_address(request)
        )
        body: dict[str, Any] = {**message, "message": message}
        if visitor.issued_token:
            body["visitor_token"] = visitor.issued_token
        return Response(body, status_code=200 if message["duplicate"] else 201, headers=headers)

    @get("/messages")
    async def get_messages(
        self,
        request: Request,
        widget_token: TokenPath,
        after: IdQuery = None,
        wait: Annotated[int, QueryParameter(ge=0, le=LONG_POLL_MAX_SECONDS)] = 0,
    ) -> Response:
        """The visitor's messages after `after` (a message id); with `wait` (≤25 s) it long-polls."""
        hub: Hub = request.app.state.hub
        visitor = await find_visitor(hub, widget_token, token_from(request), issue=False)
        headers = _cors(visitor.settings, request.headers.get("origin"))
        await _limit(hub, request, visitor)
        messages = await visitor.history(after)
        if not messages and wait:
            realtime: Fanout = request.app.state.realtime
            async with realtime.event_stream([visitor.channel]) as events:
                messages = await visitor.history(after)
                if not messages:
                    try:
                        async with asyncio.timeout(wait):
                            async for _event in events:
                                messages = await visitor.history(after)
                                if messages:
                                    break
                    except TimeoutError:
                        pass
        return Response({"items": messages}, headers=headers)

    @websocket("/ws")
    async def socket(self, socket: WebSocket, widget_token: FromPath[str]) -> None:
        """Frames: `{"type":"message","text","client_id"}` in; `ready`, `ack`, `message.created`, `typing`, `error` out."""
        await serve_visitor_socket(socket, widget_token)


async def serve_visitor_socket(socket: WebSocket, widget_token: str) -> None:
    """Admit the visitor, send `ready` with the history, then relay frames both ways until the socket closes.

    This frame lives as long as the socket, so the setup's temporaries live in helpers and die with them:
    idle sockets are most sockets.
    """
    hub: Hub = socket.app.state.hub
    visitor = await _admit_visitor(hub, socket, widget_token)
    if visitor is None:
        return
    realtime: Fanout = socket.app.state.realtime
    async with realtime.socket_feed(socket, [visitor.channel]) as feed:
        await socket.send_json(await _ready_frame(visitor))
        feed.start()
        await _receive_visitor_frames(hub, socket, visitor)


async def _admit_visitor(hub: Hub, socket: WebSocket, widget_token: str) -> WidgetVisitor | None:
    """The visitor this socket speaks for; None once the socket is closed with the reason."""
    try:
        inbox_settings = widget_settings(hub, await find_widget_inbox(hub, widget_token))
    except ApiError as error:
        await socket.close(code=4404, reason=error.detail[:120])
        return None
    if not inbox_settings.origin_allowed(_origin(socket)):
        await socket.close(code=4403, reason="origin not allowed")
        return None
    await socket.accept()
    try:
        visitor_token = _query_value(socket, "visitor_token")
        if not visitor_token:
            first = await asyncio.wait_for(receive_frame(socket), timeout=30)
            visitor_token = frame_text(first, "visitor_token")
        visitor = await find_visitor(hub, widget_token, visitor_token, issue=True)
        await _limit(hub, socket, visitor)
    except ApiError as error:
        await socket.send_json({"type": "error", "code": error.code, "detail": error.detail})
        await socket.close(code=4401 if error.status_code == 401 else 4429)
        return None
    except (TimeoutError, WebSocketDisconnect, InvalidFrame):
        await socket.close(code=4400)
        return None
    return visitor


def _origin(socket: WebSocket) -> str | None:
    """Read from the ASGI scope itself: Litestar's parsed headers would stay with the socket as long as it is open."""
    for name, value in socket.scope["headers"]:
        if name == b"origin":
            return value.decode("latin-1")
    return None


def _query_value(socket: WebSocket, name: str) -> str | None:
    """Read from the ASGI scope itself, for the same reason as `_origin`."""
    values = parse_qs(socket.scope["query_string"].decode("latin-1")).get(name)
    return values[0] if values else None


async def _ready_frame(visitor: WidgetVisitor) -> dict[str, Any]:
    ready: dict[str, Any] = {"type": "ready", "messages": await visitor.history()}
    if visitor.issued_token:
        ready["visitor_token"] = visitor.issued_token
    return ready


async def _receive_visitor_frames(hub: Hub, socket: WebSocket, visitor: WidgetVisitor) -> None:
    while True:
        try:
            frame = await receive_frame(socket)
        except WebSocketDisconnect:
            return
        except InvalidFrame as error:
            await socket.send_json({"type": "error", "code": "invalid_json", "detail": str(error)})
            continue
        if frame.get("type") != "message":
            await socket.send_json(
                {"type": "error", "code": "unknown_frame", "detail": 'Send {"type": "message", ...}.'}
            )
            continue
        try:
            await _limit(hub, socket, visitor)
            data = msgspec.convert(frame, WidgetMessage)
            message = await visitor.send(
                data.text, data.client_id, data.name, data.page_url, client_address(socket)
            )
        except msgspec.ValidationError as error:
            await socket.send_json({"type": "error", "code": "invalid_message", "detail": str(error)})
            continue
        except ApiError as error:
            await socket.send_json(
                {
                    "type": "error",
                    "code": error.code,
                    "detail": error.detail,
                    "client_id": frame.get("client_id"),
                }
            )
            continue
        await socket.send_json(
            {"type": "ack", "message": message, "client_id": data.client_id, "id": message["id"]}
        )
