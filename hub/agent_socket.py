"""The agents' WebSocket: every event of their workspace, live (new messages, assignments, status).

A socket lives no longer than the token it was opened with: it closes (code 4401) when the token
expires, known when it opens, or is revoked, announced on the token's session channel to every
web process.

An agent may have the inbox open in several tabs, each with its socket, on any web process: the first one sets
them online, and only the last one closing sets them offline (what they held goes back to the queue), so closing
one tab neither requeues their conversations nor undoes an Away they chose (hub.presence counts them).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from hub.agent_connections import AgentKey
from hub.auth import SESSION_COOKIE, Caller, authenticate, check_csrf
from hub.errors import ApiError
from hub.masking import MaskedEvents, workspace_rules
from hub.presence import PresenceHeartbeat
from hub.realtime import (
    SOCKET_GONE,
    EventStream,
    Fanout,
    InvalidFrame,
    frame_text,
    receive_frame,
    session_channel,
    workspace_channel,
)
from hub.runtime import Hub
from hub.views import SocketError, SocketPong, SocketReady

__all__ = ["agent_socket"]

SESSION_CLOSE_CODE = 4401


@websocket("/api/v1/agent/ws")
async def agent_socket(socket: WebSocket) -> None:
    """Authenticate with `?token=`, a first frame `{"token": ...}`, or (the agent inbox) the session cookie with a
    first frame `{"csrf_token": ...}`, which another site's page cannot send; then receive `{"type": ...}` events."""
    hub: Hub = socket.app.state.hub
    await socket.accept()
    try:
        token = socket.query_params.get("token")
        if not token:
            first = await asyncio.wait_for(receive_frame(socket), timeout=30)
            token = frame_text(first, "token")
            cookie = socket.cookies.get(SESSION_COOKIE)
            if token is None and cookie:
                check_csrf(cookie, frame_text(first, "csrf_token"))
                token = cookie
        caller = await authenticate(hub, token)
    except ApiError as error:
        await _end_session(socket, error.code, error.detail)
        return
    except (TimeoutError, WebSocketDisconnect, InvalidFrame):
        await socket.close(code=4400)
        return
    realtime: Fanout = socket.app.state.realtime
    async with realtime.event_stream([session_channel(caller.token_id)]) as session_events:
        try:
            # A revocation published before the subscription above would be missed: look once more.
            await authenticate(hub, token)
        except ApiError as error:
            await _end_session(socket, error.code, error.detail)
            return
        presence: PresenceHeartbeat = socket.app.state.presence
        async with contextlib.AsyncExitStack() as held:
            if caller.agent_id is not None:
                await held.enter_async_context(
                    presence.connection(AgentKey(caller.workspace_id, caller.agent_id))
                )
            async with hub.database.session() as session:
                rules = await workspace_rules(session, caller.workspace_id)
            events = MaskedEvents(socket, rules)
            async with realtime.socket_feed(events, [workspace_channel(caller.workspace_id)]) as feed:
                await socket.send_json(
                    SocketReady(workspace_id=caller.workspace_id, agent_id=caller.agent_id)
                )
                feed.start()
                await _serve_while_session_lasts(hub, socket, caller, session_events)


async def _serve_while_session_lasts(
    hub: Hub, socket: WebSocket, caller: Caller, session_events: EventStream
) -> None:
    answering = asyncio.create_task(_answer_frames(socket))
    ending = asyncio.create_task(_session_end(hub, caller.expires_at, session_events))
    try:
        await asyncio.wait([answering, ending], return_when=asyncio.FIRST_COMPLETED)
        if not ending.done():
            await answering
            return
        answering.cancel()
        with contextlib.suppress(*SOCKET_GONE):
            await _end_session(socket, *ending.result())
    finally:
        answering.cancel()
        ending.cancel()


async def _answer_frames(socket: WebSocket) -> None:
    """Until the agent disconnects: `ping` gets `pong`, a malformed frame an error."""
    try:
        while True:
            try:
                frame = await receive_frame(socket)
            except InvalidFrame as error:
                await socket.send_json(SocketError(code="invalid_json", detail=str(error)))
                continue
            if frame.get("type") == "ping":
                await socket.send_json(SocketPong())
    except WebSocketDisconnect:
        return


async def _session_end(hub: Hub, expires_at: datetime | None, session_events: EventStream) -> tuple[str, str]:
    """Wait for the token to be revoked or to expire: the error code and detail to close with."""
    seconds_left = None if expires_at is None else max(0.0, (expires_at - hub.now()).total_seconds())
    try:
        async with asyncio.timeout(seconds_left):
            async for _revoked in session_events:
                break
    except TimeoutError:
        return "expired_token", "The API token has expired; log in again."
    return "revoked_token", "The session was signed out; log in again."


async def _end_session(socket: WebSocket, code: str, detail: str) -> None:
    await socket.send_json(SocketError(code=code, detail=detail))
    await socket.close(code=SESSION_CLOSE_CODE)
