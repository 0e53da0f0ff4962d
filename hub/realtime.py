"""Realtime fan-out: events to agents' and visitors' WebSockets, across processes in production.

Channel names: `workspace.<id>` (agents of a workspace) and `audience.<inbox>.<key>` (one
customer identity on one inbox, e.g. a widget visitor), so a worker can address a visitor
without knowing which process holds the socket.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Protocol

import msgspec
from litestar import WebSocket
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

__all__ = ["InvalidFrame", "Publisher", "forward_events", "receive_frame", "audience_channel", "make_channels_plugin", "workspace_channel"]


def workspace_channel(workspace_id: str) -> str:
    return f"workspace.{workspace_id}"


def audience_channel(inbox_id: str, kind: str, scope: str, value: str) -> str:
    digest = hashlib.sha256(f"{kind}\x00{scope}\x00{value}".encode()).hexdigest()[:32]
    return f"audience.{inbox_id}.{digest}"


def make_channels_plugin(redis_url: str | None) -> ChannelsPlugin:
    if redis_url:
        backend: Any = RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url))
    else:
        backend = MemoryChannelsBackend()
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True, subscriber_max_backlog=1000)


class Publisher(Protocol):
    async def publish(self, event: dict[str, Any], channels: list[str]) -> None: ...


class RedisPublisher:
    """For worker processes: publish straight to Redis, where every web process listens."""

    def __init__(self, redis_url: str) -> None:
        self._backend = RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url))

    async def publish(self, event: dict[str, Any], channels: list[str]) -> None:
        await self._backend.publish(msgspec.json.encode(event), channels)


class PluginPublisher:
    """Publish through the web app's channels plugin, from its own loop or from a worker thread's."""

    def __init__(self, plugin: ChannelsPlugin, loop: asyncio.AbstractEventLoop) -> None:
        self._plugin = plugin
        self._loop = loop

    async def publish(self, event: dict[str, Any], channels: list[str]) -> None:
        data = msgspec.json.encode(event)
        if asyncio.get_running_loop() is self._loop:
            self._plugin.publish(data, channels)
        else:
            self._loop.call_soon_threadsafe(self._plugin.publish, data, channels)


async def forward_events(subscriber: Subscriber, socket: WebSocket) -> None:
    """Relay a subscription's events to a WebSocket until it is cancelled."""
    async for event in subscriber.iter_events():
        await socket.send_text(event.decode() if isinstance(event, bytes) else event)


class InvalidFrame(ValueError):
    """A WebSocket frame that is not a JSON object."""


async def receive_frame(socket: WebSocket) -> dict[str, Any]:
    """The next frame as a JSON object; a malformed one raises InvalidFrame and keeps the socket open."""
    text = await socket.receive_text()
    try:
        frame = json.loads(text)
    except ValueError:
        raise InvalidFrame("Frames must be JSON objects.") from None
    if not isinstance(frame, dict):
        raise InvalidFrame("Frames must be JSON objects.")
    return frame
