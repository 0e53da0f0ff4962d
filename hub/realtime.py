"""Realtime fan-out: events to agents' and visitors' WebSockets, across processes in production.

Channel names: `workspace.<id>` (agents of a workspace) and `audience.<inbox>.<key>` (one
customer identity on one inbox, e.g. a widget visitor), so a worker can address a visitor
without knowing which process holds the socket.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from asyncio import Queue
from collections import deque
from typing import Any, Protocol

import msgspec
from litestar import WebSocket
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.channels.subscriber import AsyncDeque, BacklogStrategy
from litestar.exceptions import WebSocketDisconnect
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

from hub.batching import Batcher

__all__ = ["InvalidFrame", "Publisher", "SocketSubscriber", "receive_frame", "audience_channel", "make_channels_plugin", "workspace_channel"]

PUBLISH_BATCH_SIZE = 1000


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
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True, subscriber_max_backlog=1000,
                          subscriber_class=SocketSubscriber)


class Publisher(Protocol):
    async def publish(self, event: dict[str, Any], channels: list[str]) -> None: ...


class RedisPublisher:
    """For worker processes: publish straight to Redis, where every web process listens.

    Publishes made while a pipeline is in flight go together in the next one, so a batch of
    processed messages reaches Redis in one round trip.
    """

    def __init__(self, redis_url: str) -> None:
        self._redis = Redis.from_url(redis_url)
        self._batcher: Batcher[tuple[str, bytes], None] = Batcher(self._publish_all, max_items=PUBLISH_BATCH_SIZE)

    async def publish(self, event: dict[str, Any], channels: list[str]) -> None:
        data = msgspec.json.encode(event)
        await self._batcher.submit([(channel, data) for channel in dict.fromkeys(channels)])

    async def _publish_all(self, messages: list[tuple[str, bytes]]) -> list[None]:
        async with self._redis.pipeline(transaction=False) as pipeline:
            for channel, data in messages:
                pipeline.publish(channel, data)
            await pipeline.execute()
        return [None] * len(messages)


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


class SocketSubscriber(Subscriber):
    """A subscription that, once bound to a WebSocket, writes its events straight to it.

    Litestar's subscriber keeps a queue per subscription and needs a forwarding task per socket:
    about 4 KiB for every idle socket, and idle widget sockets are the common case. Here an event
    for a bound socket starts one short-lived task that sends it (with whatever arrives meanwhile,
    in order), so an idle socket holds neither. Unbound subscriptions (long polls) get the usual
    queue, made when first used.
    """

    def __init__(self, plugin: ChannelsPlugin, max_backlog: int | None = None,
                 backlog_strategy: BacklogStrategy = "backoff") -> None:
        self._task = None
        self._plugin = plugin
        self._backend = plugin._backend
        self._max_backlog = max_backlog
        self._backlog_strategy = backlog_strategy
        self._made_queue: Queue[bytes | None] | None = None
        self._socket: WebSocket | None = None
        self._unsent: deque[bytes] = deque()
        self._sending: asyncio.Task | None = None

    @property
    def _queue(self) -> Queue[bytes | None]:
        if self._made_queue is None:
            if self._max_backlog and self._backlog_strategy == "dropleft":
                self._made_queue = AsyncDeque(maxsize=self._max_backlog)
            else:
                self._made_queue = Queue(maxsize=self._max_backlog or 0)
        return self._made_queue

    def send_to(self, socket: WebSocket) -> None:
        """From now on every event goes to `socket`, starting with any that arrived before."""
        self._socket = socket
        while self._made_queue is not None and not self._made_queue.empty():
            item = self._made_queue.get_nowait()
            if item is not None:
                self.put_nowait(item)

    def put_nowait(self, item: bytes | None) -> bool:
        if self._socket is None:
            return super().put_nowait(item)
        if item is None:
            self._stop_sending()
            return True
        if self._max_backlog and len(self._unsent) >= self._max_backlog:
            return False
        self._unsent.append(item)
        if self._sending is None:
            self._sending = asyncio.create_task(self._send_unsent(self._socket))
        return True

    async def put(self, item: bytes | None) -> None:
        if self._socket is None:
            await super().put(item)
        else:
            self.put_nowait(item)

    async def _send_unsent(self, socket: WebSocket) -> None:
        try:
            while self._unsent:
                item = self._unsent.popleft()
                await socket.send_text(item.decode() if isinstance(item, bytes) else item)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._unsent.clear()
        finally:
            self._sending = None

    def _stop_sending(self) -> None:
        self._socket = None
        self._unsent.clear()
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None


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
