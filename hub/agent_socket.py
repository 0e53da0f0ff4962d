"""The agents' WebSocket: every event of their workspace, live (new messages, assignments, status)."""

from __future__ import annotations

import asyncio

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from sqlalchemy import update

from hub.auth import authenticate
from hub.errors import ApiError
from hub.models import Agent
from hub.realtime import Fanout, InvalidFrame, receive_frame, workspace_channel
from hub.runtime import Hub

__all__ = ["agent_socket"]


@websocket("/api/v1/agent/ws")
async def agent_socket(socket: WebSocket) -> None:
    """Authenticate with `?token=` or a first frame `{"token": ...}`; then receive `{"type": ...}` events."""
    hub: Hub = socket.app.state.hub
    await socket.accept()
    try:
        token = socket.query_params.get("token")
        if not token:
            first = await asyncio.wait_for(receive_frame(socket), timeout=30)
            token = first.get("token")
        caller = await authenticate(hub, token)
    except ApiError as error:
        await socket.send_json({"type": "error", "code": error.code, "detail": error.detail})
        await socket.close(code=4401)
        return
    except (asyncio.TimeoutError, WebSocketDisconnect, InvalidFrame):
        await socket.close(code=4400)
        return
    await _set_presence(hub, caller.agent_id, "online")
    realtime: Fanout = socket.app.state.realtime
    try:
        async with realtime.socket_feed(socket, [workspace_channel(caller.workspace_id)]) as feed:
            await socket.send_json({"type": "ready", "workspace_id": caller.workspace_id, "agent_id": caller.agent_id})
            feed.start()
            try:
                while True:
                    try:
                        frame = await receive_frame(socket)
                    except InvalidFrame as error:
                        await socket.send_json({"type": "error", "code": "invalid_json", "detail": str(error)})
                        continue
                    if frame.get("type") == "ping":
                        await socket.send_json({"type": "pong"})
            except WebSocketDisconnect:
                pass
    finally:
        await _set_presence(hub, caller.agent_id, "offline")


async def _set_presence(hub: Hub, agent_id: str | None, presence: str) -> None:
    if agent_id is None:
        return
    async with hub.database.session() as session:
        await session.execute(update(Agent).where(Agent.id == agent_id).values(presence=presence))
        await session.commit()
