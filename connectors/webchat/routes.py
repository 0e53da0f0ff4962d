"""The widget's public endpoints: the script, HTTP messages (with long poll) and the WebSocket.

Contributed to the hub through the `omnihub.routes` entry point; what they need of the hub (the inbox a widget
token names, storing a message, the visitor's history, rate limits, the visitor's live events) comes through
connectors.routes.ChannelServices. A visitor is known by a signed visitor token issued on first contact: the
widget keeps it and sends it back, so a reload continues the same conversation with its history.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import msgspec
from litestar import Request, Response, WebSocket, get, post, route, websocket
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import HttpMethod, RequestEncodingType
from litestar.exceptions import WebSocketDisconnect
from litestar.openapi import ResponseSpec
from litestar.params import Body, FromPath, JSONBody, PathParameter, QueryParameter

from connectors.base import MalformedPayload
from connectors.routes import ChannelServices, CustomerMessage, CustomerPage, RouteError, error_responses
from connectors.webchat.connector import WebChatConnector, visitor_attachments
from connectors.webchat.settings import WebChatSettings
from connectors.webchat.tokens import InvalidVisitorToken, VisitorTokens
from connectors.webchat.wire import (
    LONG_POLL_MAX_SECONDS,
    AckFrame,
    CsatAnswer,
    CsatRating,
    ErrorFrame,
    IdentifyAnswer,
    IdentifyClaims,
    LeftMessage,
    MessageCreatedFrame,
    PageFrame,
    PostedMessage,
    ReadAnswer,
    ReadReceipt,
    ReadyFrame,
    SocketGreeting,
    UploadedFile,
    VisitorMessage,
    VisitorMessages,
    WidgetConfig,
    WidgetMessage,
    WidgetPostAnswer,
)
from normalizer import Attachment, IdentityRef, clean_text

__all__ = ["routes"]

HISTORY_LIMIT = 200
MAX_UPLOAD_BODY_BYTES = 25 * 1024 * 1024 + 65536
"""What the upload route reads at most (a 25 MiB file and its form); the hub's own limit, OMNIHUB_MAX_ATTACHMENT_BYTES
(ChannelServices.max_file_bytes), then applies."""
CORS_HEADERS = "Authorization, Content-Type"
SOCKET_GREETING_SECONDS = 30
TRY_AGAIN_LATER = 1013
"""WebSocket close code for an outage of the hub's database or Redis (a 503 of its services): the widget reconnects,
its unsent messages kept."""
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
WIDGET_PATH = "/widget/{widget_token:str}"

WidgetToken = Annotated[
    str, PathParameter(pattern=ID_PATTERN, max_length=64, description="The inbox's widget token.")
]
AfterQuery = Annotated[
    str | None, QueryParameter(pattern=ID_PATTERN, max_length=64, description="A message id.")
]


def served_script(script: str) -> str:
    """The widget's source without its block comments (each opens at a line's start or after a space), indentation
    and blank lines, which explain the code to its readers and would cost every page view of every customer site
    their bytes. (No string in the widget spans lines, so trimming lines changes no value.)"""
    uncommented = re.sub(r"(?:^|(?<=\s))/\*.*?\*/", "", script, flags=re.DOTALL | re.MULTILINE)
    return "\n".join(line.strip() for line in uncommented.splitlines() if line.strip()) + "\n"


@dataclass(frozen=True, slots=True)
class ServedScript:
    """A script as served: plain and gzipped, compressed once at import."""

    plain: bytes
    gzipped: bytes

    @classmethod
    def read(cls, name: str) -> ServedScript:
        plain = served_script((Path(__file__).resolve().parent / name).read_text()).encode()
        return cls(plain, gzip.compress(plain, compresslevel=9, mtime=0))

    def response(self, request: Request) -> Response[bytes]:
        compressed = "gzip" in request.headers.get("accept-encoding", "")
        headers = {
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Vary": "Accept-Encoding",
        }
        if compressed:
            headers["Content-Encoding"] = "gzip"
        return Response(
            self.gzipped if compressed else self.plain,
            media_type="text/javascript; charset=utf-8",
            headers=headers,
        )


WIDGET_LOADER = ServedScript.read("widget.js")
"""The bubble and the loader: every page view of every customer site loads it."""
WIDGET_CHAT = ServedScript.read("chat.js")
"""The chat window: loaded on the first open, or at once for a returning visitor."""


@dataclass(slots=True)
class Visitor:
    """The inbox a widget token names, and the visitor a visitor token names (new when `issued_token` is set)."""

    connector: WebChatConnector
    identity: IdentityRef
    issued_token: str | None

    @property
    def settings(self) -> WebChatSettings:
        return self.connector.settings


async def find_widget(services: ChannelServices, widget_token: str) -> WebChatConnector:
    connector = await services.connector_for_token(WebChatConnector.kind, widget_token)
    if not isinstance(connector, WebChatConnector):
        raise RouteError(404, "widget_not_found", "No web chat inbox has this widget token.")
    return connector


async def find_visitor(
    services: ChannelServices, widget_token: str, visitor_token: str | None, *, issue: bool
) -> Visitor:
    connector = await find_widget(services, widget_token)
    tokens = VisitorTokens(services.signing_keys(WebChatConnector.kind))
    now = services.now().timestamp()
    if visitor_token:
        try:
            visitor_id = tokens.verify(
                visitor_token, connector.inbox.id, connector.settings.visitor_token_days * 86400, now
            )
        except InvalidVisitorToken as error:
            raise RouteError(
                401, "invalid_visitor_token", f"{error}; start a new chat without a visitor token."
            ) from None
        return Visitor(connector, connector.visitor(visitor_id), None)
    if not issue:
        raise RouteError(
            401, "missing_visitor_token", "Send the visitor token as 'Authorization: Bearer <visitor_token>'."
        )
    visitor_id = str(uuid.uuid4())
    return Visitor(
        connector, connector.visitor(visitor_id), tokens.issue(connector.inbox.id, visitor_id, now)
    )


def cors_headers(settings: WebChatSettings, origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    if not settings.origin_allowed(origin):
        raise RouteError(403, "origin_not_allowed", f"The widget may not be embedded on {origin}.")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def bearer_token(connection: ASGIConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def visitor_message(message: CustomerMessage) -> VisitorMessage:
    return VisitorMessage(
        id=message.id,
        text=message.text,
        sender=message.sender,
        content_type=message.content_type,
        attachments=visitor_attachments(message.attachments),
        client_id=message.metadata.get("client_id") if message.sender == "contact" else None,
        status=message.status,
        created_at=message.created_at,
    )


async def history(
    services: ChannelServices, visitor: Visitor, after: str | None = None
) -> list[VisitorMessage]:
    messages = await services.history(visitor.connector, visitor.identity, after=after, limit=HISTORY_LIMIT)
    return [visitor_message(message) for message in messages]


async def uploaded_files(
    services: ChannelServices, visitor: Visitor, post: WidgetMessage
) -> tuple[Attachment, ...]:
    """The message's attachments as the hub stored them: only files uploaded to this workspace, so a visitor can
    neither make the hub fetch a URL of their choosing nor attach another business's file."""
    attachments = []
    for index, reference in enumerate(post.attachments):
        stored = await services.stored_file(visitor.connector, reference.url)
        if stored is None:
            raise RouteError(
                422,
                "unknown_attachment",
                f"attachments[{index}].url: not a file uploaded with POST /widget/{{widget_token}}/attachments.",
            )
        attachments.append(stored)
    return tuple(attachments)


async def accept(
    services: ChannelServices, visitor: Visitor, post: WidgetMessage, raw: str, *, left_message: bool = False
) -> PostedMessage:
    """Store one visitor message durably; a retry with the same client_id is answered, not stored again.

    The visitor's other tabs see the message at once; `raw` (the body or frame as received) is kept for audit.
    """
    now = services.now()
    attachments = await uploaded_files(services, visitor, post)
    try:
        message = visitor.connector.inbound_message(
            visitor.identity.value, post, now, attachments, left_message=left_message
        )
    except MalformedPayload as error:
        raise RouteError(400, "invalid_message", str(error)) from None
    [accepted] = await services.accept(visitor.connector, [message], raw)
    if not accepted.duplicate:
        echo = VisitorMessage(
            id=accepted.message_id,
            text=message.text,
            sender="contact",
            content_type=message.content_type,
            attachments=visitor_attachments(attachments),
            client_id=post.client_id,
            status="accepted",
            created_at=now,
        )
        await services.push(
            visitor.connector, visitor.identity, msgspec.to_builtins(MessageCreatedFrame(echo))
        )
    return PostedMessage(
        id=accepted.message_id,
        client_id=post.client_id,
        text=message.text,
        sender="contact",
        status="accepted",
        duplicate=accepted.duplicate,
        created_at=now,
    )


def posted_answer(
    visitor: Visitor, posted: PostedMessage, headers: dict[str, str]
) -> Response[WidgetPostAnswer]:
    """201 for a stored message, 200 for a retry of one; a new visitor's token with it."""
    answer = WidgetPostAnswer(
        **msgspec.structs.asdict(posted), message=posted, visitor_token=visitor.issued_token
    )
    return Response(answer, status_code=200 if posted.duplicate else 201, headers=headers)


@get("/widget.js", include_in_schema=False)
async def widget_script(request: Request) -> Response[bytes]:
    """The embeddable chat widget: one <script> tag on any site, no dependencies, no build step. It shows the
    bubble and fetches the chat window (/widget-chat.js) when it is first needed."""
    return WIDGET_LOADER.response(request)


@get("/widget-chat.js", include_in_schema=False)
async def widget_chat_script(request: Request) -> Response[bytes]:
    """The chat window the widget's loader fetches on the first open."""
    return WIDGET_CHAT.response(request)


@route(
    [
        f"{WIDGET_PATH}/config",
        f"{WIDGET_PATH}/messages",
        f"{WIDGET_PATH}/attachments",
        f"{WIDGET_PATH}/read",
        f"{WIDGET_PATH}/identify",
        f"{WIDGET_PATH}/csat",
        f"{WIDGET_PATH}/leave-message",
    ],
    http_method=HttpMethod.OPTIONS,
    include_in_schema=False,
)
async def widget_preflight(
    request: Request, widget_token: FromPath[str], channel_services: NamedDependency[ChannelServices]
) -> Response[None]:
    """CORS preflights answered with the inbox's own allowed origins (the router's automatic answer knows none)."""
    connector = await find_widget(channel_services, widget_token)
    headers = cors_headers(connector.settings, request.headers.get("origin"))
    headers.update(
        {
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Access-Control-Max-Age": "600",
        }
    )
    return Response(None, status_code=204, headers=headers)


@get(f"{WIDGET_PATH}/config", tags=["widget"], responses=error_responses(400, 404))
async def widget_config(
    request: Request, widget_token: WidgetToken, channel_services: NamedDependency[ChannelServices]
) -> Response[WidgetConfig]:
    """What the widget shows before the first message (title, greeting, colour, the pre-chat form), and whether it
    offers to leave a message instead (availability is asked only of inboxes with `offline_form`: every page view
    of the customer's site fetches this)."""
    connector = await find_widget(channel_services, widget_token)
    settings = connector.settings
    body = WidgetConfig(
        title=settings.title,
        greeting=settings.greeting,
        color=settings.color,
        inbox=connector.inbox.name,
        prechat=settings.prechat,
        leave_message=settings.offline_form and not await channel_services.agent_available(connector),
    )
    return Response(body, headers=cors_headers(settings, request.headers.get("origin")))


_POSTED_MESSAGE_RESPONSES = {
    200: ResponseSpec(WidgetPostAnswer, description="A retry: this client_id was accepted before."),
    **error_responses(400, 401, 403, 404, 413, 415, 422, 429),
}
"""A message and a left message are accepted alike (`accept`), so they answer alike, a retry included."""


@post(
    f"{WIDGET_PATH}/messages",
    status_code=201,
    tags=["widget"],
    responses=_POSTED_MESSAGE_RESPONSES,
)
async def post_widget_message(
    request: Request,
    widget_token: WidgetToken,
    data: JSONBody[WidgetMessage],
    channel_services: NamedDependency[ChannelServices],
) -> Response[WidgetPostAnswer]:
    """Send a visitor message: `{"text", "client_id"}`. The first call (no Bearer) answers a `visitor_token`."""
    visitor = await find_visitor(channel_services, widget_token, bearer_token(request), issue=True)
    headers = cors_headers(visitor.settings, request.headers.get("origin"))
    await channel_services.limit_rate(request, visitor.connector, visitor.identity)
    raw = (await request.body()).decode("utf-8", errors="replace")
    posted = await accept(channel_services, visitor, data, raw)
    return posted_answer(visitor, posted, headers)


@post(
    f"{WIDGET_PATH}/read",
    tags=["widget"],
    status_code=200,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def post_widget_read(
    request: Request,
    widget_token: WidgetToken,
    data: JSONBody[ReadReceipt],
    channel_services: NamedDependency[ChannelServices],
) -> Response[ReadAnswer]:
    """The visitor has seen the replies up to `up_to` (a message id): they become `read` for the agents."""
    visitor = await find_visitor(channel_services, widget_token, bearer_token(request), issue=False)
    headers = cors_headers(visitor.settings, request.headers.get("origin"))
    await channel_services.limit_rate(request, visitor.connector, visitor.identity)
    read = await channel_services.mark_read(visitor.connector, visitor.identity, data.up_to)
    return Response(ReadAnswer(read), headers=headers)


class VisitorUpload(msgspec.Struct):
    """The multipart form of a visitor's upload: one `file` field."""

    file: UploadFile


@post(
    f"{WIDGET_PATH}/attachments",
    status_code=201,
    tags=["widget"],
    request_max_body_size=MAX_UPLOAD_BODY_BYTES,
    responses=error_responses(400, 401, 403, 404, 413, 422, 429),
)
async def upload_widget_file(
    request: Request,
    widget_token: WidgetToken,
    data: Annotated[VisitorUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    channel_services: NamedDependency[ChannelServices],
) -> Response[UploadedFile]:
    """Upload a file (multipart field `file`) for the visitor's next message, which names it by the answered `url`
    in `attachments`. The first call (no Bearer) answers a `visitor_token`, as a first message does."""
    visitor = await find_visitor(channel_services, widget_token, bearer_token(request), issue=True)
    headers = cors_headers(visitor.settings, request.headers.get("origin"))
    await channel_services.limit_rate(request, visitor.connector, visitor.identity)
    content = await data.file.read()
    if not content:
        raise RouteError(422, "empty_file", "The file is empty.")
    if len(content) > channel_services.max_file_bytes:
        raise RouteError(
            413, "file_too_large", f"Files may be at most {channel_services.max_file_bytes} bytes."
        )
    stored = await channel_services.store_file(
        visitor.connector, content, data.file.filename, data.file.content_type
    )
    [shown] = visitor_attachments((stored,))
    answer = UploadedFile(**msgspec.structs.asdict(shown), visitor_token=visitor.issued_token)
    return Response(answer, status_code=201, headers=headers)


@post(
    f"{WIDGET_PATH}/identify",
    status_code=200,
    tags=["widget"],
    responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429),
)
async def identify_visitor(
    request: Request,
    widget_token: WidgetToken,
    data: JSONBody[IdentifyClaims],
    channel_services: NamedDependency[ChannelServices],
) -> Response[IdentifyAnswer]:
    """Tell who the signed-in visitor is: `{"user_id", "email", "phone", "name", "identifier_hash"}` with the
    visitor's Bearer token. `identifier_hash` (hex HMAC-SHA256 of `user_id` with the inbox's identity secret)
    links the visitor to that customer; without it the claims are kept unverified and link nothing."""
    visitor = await find_visitor(channel_services, widget_token, bearer_token(request), issue=False)
    headers = cors_headers(visitor.settings, request.headers.get("origin"))
    await channel_services.limit_rate(request, visitor.connector, visitor.identity)
    claims = visitor.connector.identify_claims(data)
    await channel_services.identify(visitor.connector, visitor.identity, claims)
    return Response(IdentifyAnswer(verified=claims.verified), headers=headers)


@post(
    f"{WIDGET_PATH}/leave-message",
    status_code=201,
    tags=["widget"],
    responses=_POSTED_MESSAGE_RESPONSES,
)
async def leave_message(
    request: Request,
    widget_token: WidgetToken,
    data: JSONBody[LeftMessage],
    channel_services: NamedDependency[ChannelServices],
) -> Response[WidgetPostAnswer]:
    """Leave a message while nobody can chat: `{"email", "text", "client_id", "name"?}`. The email and name are kept
    as the visitor's unverified claims (422 `invalid_identity` for an email that is not one), and the message opens a
    ticket; what the visitor writes later reaches the same conversation and ticket. Answers as a message does."""
    visitor = await find_visitor(channel_services, widget_token, bearer_token(request), issue=True)
    headers = cors_headers(visitor.settings, request.headers.get("origin"))
    await channel_services.limit_rate(request, visitor.connector, visitor.identity)
    claims = visitor.connector.identify_claims(IdentifyClaims(email=data.email, name=data.name))
    await channel_services.identify(visitor.connector, visitor.identity, claims)
    post = WidgetMessage(text=data.text, client_id=data.client_id, name=data.name)
    raw = (await request.body()).decode("utf-8", errors="replace")
    posted = await accept(channel_services, visitor, post, raw, left_message=True)
    return posted_answer(visitor, posted, headers)


@post(
    f"{WIDGET_PATH}/csat",
    status_code=201,
    tags=["widget"],
    responses=error_responses(400, 401, 403, 404, 409, 413, 429),
)
async def rate_conversation(
    request: Request,
    widget_token: WidgetToken,
    data: JSONBody[CsatRating],
    channel_services: NamedDependency[ChannelServices],
) -> Response[CsatAnswer]:
    """Rate the visitor's own resolved conversation 1 to 5 (with an optional comment), once: 404 for a conversation
    that is not theirs, 409 `conversation_not_resolved`, 409 `already_rated` (a rating is never replaced)."""
    visitor = await find_visitor(channel_services, widget_token, bearer_token(request), issue=False)
    headers = cors_headers(visitor.settings, request.headers.get("origin"))
    await channel_services.limit_rate(request, visitor.connector, visitor.identity)
    comment = clean_text(data.comment or "").strip() or None
    await channel_services.rate(
        visitor.connector, visitor.identity, data.conversation_id, data.rating, comment
    )
    return Response(CsatAnswer(data.conversation_id, data.rating), status_code=201, headers=headers)


@get(f"{WIDGET_PATH}/messages", tags=["widget"], responses=error_responses(400, 401, 403, 404, 429))
async def get_widget_messages(
    request: Request,
    widget_token: WidgetToken,
    channel_services: NamedDependency[ChannelServices],
    after: AfterQuery = None,
    wait: Annotated[int, QueryParameter(ge=0, le=LONG_POLL_MAX_SECONDS)] = 0,
) -> Response[VisitorMessages]:
    """The visitor's messages after `after` (a message id); with `wait` (≤25 s) it long-polls."""
    visitor = await find_visitor(channel_services, widget_token, bearer_token(request), issue=False)
    headers = cors_headers(visitor.settings, request.headers.get("origin"))
    await channel_services.limit_rate(request, visitor.connector, visitor.identity)
    messages = await history(channel_services, visitor, after)
    if not messages and wait:
        async with channel_services.customer_events(visitor.connector, visitor.identity) as events:
            messages = await history(channel_services, visitor, after)
            if not messages:
                try:
                    async with asyncio.timeout(wait):
                        async for _event in events:
                            messages = await history(channel_services, visitor, after)
                            if messages:
                                break
                except TimeoutError:
                    pass
    rating_due = await channel_services.pending_rating(visitor.connector, visitor.identity)
    return Response(VisitorMessages(messages, rating_due), headers=headers)


@websocket(f"{WIDGET_PATH}/ws")
async def widget_socket(
    socket: WebSocket, widget_token: FromPath[str], channel_services: NamedDependency[ChannelServices]
) -> None:
    """Frames: `{"type":"message","text","client_id"}`, `page` and `typing` in; `ready`, `ack`, `message.created`,
    `typing`, `error` out."""
    await serve_visitor_socket(channel_services, socket, widget_token)


class InvalidFrame(ValueError):
    """A frame that is not a JSON object, or is longer than a request body may be."""


async def receive_frame(services: ChannelServices, socket: WebSocket) -> tuple[dict[str, Any], str]:
    """The next frame as a JSON object, with its text as received."""
    text = await socket.receive_text()
    if len(text) > services.max_frame_length:
        raise InvalidFrame(f"Frames must be at most {services.max_frame_length} characters.")
    try:
        frame = msgspec.json.decode(text)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        raise InvalidFrame("Frames must be JSON objects.") from None
    if not isinstance(frame, dict):
        raise InvalidFrame("Frames must be JSON objects.")
    return frame, text


async def send_frame(socket: WebSocket, frame: msgspec.Struct) -> None:
    await socket.send_text(msgspec.json.encode(frame).decode())


async def serve_visitor_socket(services: ChannelServices, socket: WebSocket, widget_token: str) -> None:
    """Admit the visitor, send `ready` with the history, then relay frames both ways until the socket closes.

    This frame lives as long as the socket, so the setup's temporaries live in helpers and die with them:
    idle sockets are most sockets.
    """
    visitor = await _admit_visitor(services, socket, widget_token)
    if visitor is None:
        return
    try:
        async with services.customer_socket(socket, visitor.connector, visitor.identity) as feed:
            await send_frame(socket, await _ready_frame(services, visitor))
            feed.start()
            await _receive_visitor_frames(services, socket, visitor)
    except RouteError as error:
        if error.status_code != 503:
            raise
        await socket.close(code=TRY_AGAIN_LATER, reason=error.detail[:120])


async def _admit_visitor(services: ChannelServices, socket: WebSocket, widget_token: str) -> Visitor | None:
    """The visitor this socket speaks for; None once the socket is closed with the reason."""
    try:
        connector = await find_widget(services, widget_token)
    except RouteError as error:
        await socket.close(
            code=TRY_AGAIN_LATER if error.status_code == 503 else 4404, reason=error.detail[:120]
        )
        return None
    if not connector.settings.origin_allowed(_origin(socket)):
        await socket.close(code=4403, reason="origin not allowed")
        return None
    await socket.accept()
    try:
        visitor_token = _query_value(socket, "visitor_token")
        if not visitor_token:
            first, _text = await asyncio.wait_for(
                receive_frame(services, socket), timeout=SOCKET_GREETING_SECONDS
            )
            visitor_token = msgspec.convert(first, SocketGreeting).visitor_token
        visitor = await find_visitor(services, widget_token, visitor_token, issue=True)
        await services.limit_rate(socket, visitor.connector, visitor.identity)
    except RouteError as error:
        await send_frame(socket, _refusal_frame(error, None))
        await socket.close(code=_refusal_close_code(error))
        return None
    except (TimeoutError, WebSocketDisconnect, InvalidFrame, msgspec.ValidationError):
        await socket.close(code=4400)
        return None
    return visitor


def _refusal_close_code(error: RouteError) -> int:
    """4401: the visitor token is refused (the widget starts afresh); 1013: an outage (the widget reconnects);
    4429: too many messages (the widget slows down)."""
    if error.status_code == 401:
        return 4401
    return TRY_AGAIN_LATER if error.status_code == 503 else 4429


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


async def _ready_frame(services: ChannelServices, visitor: Visitor) -> ReadyFrame:
    return ReadyFrame(
        messages=await history(services, visitor),
        visitor_token=visitor.issued_token,
        rating_due=await services.pending_rating(visitor.connector, visitor.identity),
    )


async def _receive_visitor_frames(services: ChannelServices, socket: WebSocket, visitor: Visitor) -> None:
    while True:
        try:
            frame, text = await receive_frame(services, socket)
        except WebSocketDisconnect:
            return
        except InvalidFrame as error:
            await send_frame(socket, ErrorFrame(code="invalid_json", detail=str(error)))
            continue
        if frame.get("type") == "page":
            await _page_viewed(services, socket, visitor, frame)
            continue
        if frame.get("type") == "typing":
            await _visitor_typing(services, socket, visitor)
            continue
        if frame.get("type") != "message":
            await send_frame(
                socket,
                ErrorFrame(
                    code="unknown_frame",
                    detail='Send {"type": "message", ...}, {"type": "page", ...} or {"type": "typing"}.',
                ),
            )
            continue
        client_id = frame.get("client_id")
        client_id = client_id if isinstance(client_id, str) else None
        try:
            await services.limit_rate(socket, visitor.connector, visitor.identity)
            post = msgspec.convert(frame, WidgetMessage)
            posted = await accept(services, visitor, post, text)
        except msgspec.ValidationError as error:
            await send_frame(
                socket, ErrorFrame(code="invalid_message", detail=str(error), client_id=client_id)
            )
            continue
        except RouteError as error:
            await send_frame(socket, _refusal_frame(error, client_id))
            continue
        await send_frame(socket, AckFrame(message=posted, client_id=post.client_id, id=posted.id))


async def _page_viewed(
    services: ChannelServices, socket: WebSocket, visitor: Visitor, frame: dict[str, Any]
) -> None:
    """Keep the page the visitor is on; answer nothing unless the frame is refused."""
    try:
        await services.limit_rate(socket, visitor.connector, visitor.identity)
        page = msgspec.convert(frame, PageFrame)
        await services.page_view(
            visitor.connector,
            visitor.identity,
            CustomerPage(
                url=_without_query(page.url),
                title=clean_text(page.title)[:300],
                referrer=_without_query(page.referrer) or None,
                time_zone=page.time_zone or None,
                language=page.language or None,
            ),
        )
    except msgspec.ValidationError as error:
        await send_frame(socket, ErrorFrame(code="invalid_page", detail=str(error)))
    except RouteError as error:
        await send_frame(socket, ErrorFrame(code=error.code, detail=error.detail))


async def _visitor_typing(services: ChannelServices, socket: WebSocket, visitor: Visitor) -> None:
    """Relay to the agents that the visitor is typing; answer nothing unless the hub is away. Not counted against
    the visitor's message rate: typing must never hold back the message it is typing."""
    try:
        await services.customer_typing(visitor.connector, visitor.identity)
    except RouteError as error:
        await send_frame(socket, ErrorFrame(code=error.code, detail=error.detail))


def _refusal_frame(error: RouteError, client_id: str | None) -> ErrorFrame:
    """The error frame for a refused message; a 429 says in `retry_after` when the widget may send again."""
    retry_after = (error.headers or {}).get("Retry-After", "")
    return ErrorFrame(
        code=error.code,
        detail=error.detail,
        client_id=client_id,
        retry_after=int(retry_after) if retry_after.isdigit() else None,
    )


def _without_query(url: str) -> str:
    """The address without its query string or fragment, where a form's values or a token would travel."""
    return url.split("#", 1)[0].split("?", 1)[0]


def routes() -> list[Any]:
    """The `omnihub.routes` entry point: the widget's script and endpoints."""
    return [
        widget_script,
        widget_chat_script,
        widget_preflight,  # before the endpoints it answers for, or the router adds its own OPTIONS answer
        widget_config,
        post_widget_message,
        upload_widget_file,
        post_widget_read,
        identify_visitor,
        leave_message,
        rate_conversation,
        get_widget_messages,
        widget_socket,
    ]
