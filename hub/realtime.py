"""Realtime fan-out: events to agents' and visitors' WebSockets, across processes in production.

Channel names: `workspace.<id>` (agents of a workspace), `audience.<inbox>.<key>` (one
customer identity on one inbox, e.g. a widget visitor), so a worker can address a visitor
without knowing which process holds the socket, and `session.<token id>` (a token's revocation).

A web process listens to each channel once, however many of its sockets want it, and one task
reads every event and hands it to that channel's subscribers. Idle widget sockets are most
sockets, so an idle subscription holds no queue and no task: only its place in the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

import msgspec
from litestar import WebSocket
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.exceptions import WebSocketDisconnect
from litestar.status_codes import WS_1013_TRY_AGAIN_LATER
from redis.asyncio import Redis

from hub.batching import Batcher

__all__ = [
    "BACKLOG_LIMIT",
    "SOCKET_GONE",
    "EventStream",
    "Fanout",
    "FanoutPublisher",
    "InvalidFrame",
    "Publisher",
    "RedisPubSubBackend",
    "RedisPublisher",
    "SocketFeed",
    "audience_channel",
    "frame_text",
    "make_fanout",
    "receive_frame",
    "session_channel",
    "workspace_channel",
]

PUBLISH_BATCH_SIZE = 1000
BACKLOG_LIMIT = 1000
"""Events a subscriber may fall behind by before it is dropped (a socket is closed, a long poll ends)."""
STREAM_RETRY_SECONDS = 1.0
SOCKET_GONE = (WebSocketDisconnect, RuntimeError, OSError)
"""What writing to a WebSocket raises once its client has gone (Litestar, the test client, uvicorn)."""

log = logging.getLogger("omnihub.realtime")


def workspace_channel(workspace_id: str) -> str:
    return f"workspace.{workspace_id}"


def session_channel(token_id: str) -> str:
    """Where a token's revocation is announced to the sockets it opened, on every web process."""
    return f"session.{token_id}"


def audience_channel(inbox_id: str, kind: str, scope: str, value: str) -> str:
    digest = hashlib.sha256(f"{kind}\x00{scope}\x00{value}".encode()).hexdigest()[:32]
    return f"audience.{inbox_id}.{digest}"


class Publisher(Protocol):
    async def publish(self, event: object, channels: list[str]) -> None: ...


class RedisPublisher:
    """For worker processes: publish straight to Redis, where every web process listens.

    Publishes made while a pipeline is in flight go together in the next one, so a batch of
    processed messages reaches Redis in one round trip.
    """

    def __init__(self, redis_url: str) -> None:
        self._redis = Redis.from_url(redis_url)
        self._pipeline = PipelinedPublish(self._redis)

    async def publish(self, event: object, channels: list[str]) -> None:
        data = msgspec.json.encode(event)
        await self._pipeline.publish(data, dict.fromkeys(channels))


class PipelinedPublish:
    """Publishes made while a pipeline is in flight go together in the next one: one round trip and one
    pooled connection for a burst, however many callers publish at once (a pipeline per caller would
    take a connection each, and the pool refuses beyond its limit)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._batcher: Batcher[tuple[str, bytes], None] = Batcher(
            self._publish_all, max_items=PUBLISH_BATCH_SIZE
        )

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        await self._batcher.submit([(channel, data) for channel in channels])

    async def _publish_all(self, messages: list[tuple[str, bytes]]) -> list[None]:
        async with self._redis.pipeline(transaction=False) as pipeline:
            for channel, data in messages:
                pipeline.publish(channel, data)
            await pipeline.execute()
        return [None] * len(messages)


class FanoutPublisher:
    """For the web process: publish through its fan-out, from its own event loop or from a worker thread's."""

    def __init__(self, fanout: Fanout, loop: asyncio.AbstractEventLoop) -> None:
        self._fanout = fanout
        self._loop = loop

    async def publish(self, event: object, channels: list[str]) -> None:
        publishing = self._fanout.publish(msgspec.json.encode(event), list(dict.fromkeys(channels)))
        if asyncio.get_running_loop() is self._loop:
            await publishing
        else:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(publishing, self._loop))


class Subscriber(Protocol):
    def deliver(self, data: bytes) -> None:
        """Take one event without waiting: the dispatcher serves every subscriber of the process in turn."""


class EventSocket(Protocol):
    """What a feed needs of a WebSocket (Litestar's `WebSocket` is one)."""

    async def send_text(self, data: bytes) -> None: ...

    async def close(self, code: int, reason: str | None = None) -> None: ...


class SocketFeed:
    """One WebSocket's events, written to it in the order they arrive, from `start()` on.

    An event starts a short-lived task that sends it and whatever arrives meanwhile, so an idle
    feed holds neither a queue nor a task. A socket whose client stops reading falls behind; at
    `backlog_limit` unsent events it is closed with 1013 (try again later): the client reconnects
    and reloads what it missed, and the other sockets never wait for it.
    """

    __slots__ = ("_backlog", "_backlog_limit", "_sender", "_socket", "_started", "_stopped")

    def __init__(self, socket: EventSocket, backlog_limit: int) -> None:
        self._socket = socket
        self._backlog_limit = backlog_limit
        self._backlog: deque[bytes] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._started = False
        self._stopped = False

    def start(self) -> None:
        """Send the events that arrived so far, in order, then each one as it arrives."""
        self._started = True
        self._send_soon()

    def deliver(self, data: bytes) -> None:
        if self._stopped:
            return
        if self._backlog is None:
            self._backlog = deque()
        elif len(self._backlog) >= self._backlog_limit:
            log.warning("realtime.socket_dropped unsent=%d", len(self._backlog))
            self.stop()
            self._sender = asyncio.create_task(_close_behind(self._socket))
            return
        self._backlog.append(data)
        self._send_soon()

    def stop(self) -> None:
        """Deliver nothing more and drop what is unsent."""
        self._stopped = True
        self._backlog = None
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None

    def _send_soon(self) -> None:
        if self._started and self._sender is None and self._backlog:
            self._sender = asyncio.create_task(self._send_backlog(self._backlog))

    async def _send_backlog(self, backlog: deque[bytes]) -> None:
        try:
            while backlog:
                await self._socket.send_text(backlog.popleft())
        except SOCKET_GONE:
            self._stopped = True
        self._backlog = None
        self._sender = None


async def _close_behind(socket: EventSocket) -> None:
    with contextlib.suppress(*SOCKET_GONE):
        await socket.close(code=WS_1013_TRY_AGAIN_LATER, reason="too far behind")


class EventStream:
    """Events for a reader that awaits them one by one (a long poll).

    A reader `backlog_limit` events behind has fallen behind: its iteration ends, and it reads the
    state afresh.
    """

    __slots__ = ("_events", "_fell_behind")

    def __init__(self, backlog_limit: int) -> None:
        self._events: asyncio.Queue[bytes] = asyncio.Queue(backlog_limit)
        self._fell_behind = False

    def deliver(self, data: bytes) -> None:
        if self._events.full():
            self._fell_behind = True
        else:
            self._events.put_nowait(data)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> bytes:
        if self._fell_behind:
            raise StopAsyncIteration
        return await self._events.get()


class Fanout:
    """This process's end of the realtime channels, on a Litestar channels backend's public interface.

    The backend listens to a channel while any subscriber here wants it; one dispatcher task reads
    the backend's events and hands each to its channel's subscribers, which never make it wait.
    """

    def __init__(self, backend: ChannelsBackend, backlog_limit: int = BACKLOG_LIMIT) -> None:
        self._backend = backend
        self._backlog_limit = backlog_limit
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._changing = asyncio.Lock()
        self._dispatcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._backend.on_startup()
        self._dispatcher = asyncio.create_task(self._dispatch())

    async def stop(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        await self._backend.on_shutdown()

    async def publish(self, data: bytes, channels: Sequence[str]) -> None:
        await self._backend.publish(data, channels)

    def channels(self) -> frozenset[str]:
        """The channels this process listens to: those of its open sockets and long polls."""
        return frozenset(self._subscribers)

    @contextlib.asynccontextmanager
    async def socket_feed(self, socket: EventSocket, channels: Sequence[str]) -> AsyncIterator[SocketFeed]:
        """Subscribe `socket` to `channels` until the block ends; events wait for the feed's `start()`."""
        feed = SocketFeed(socket, self._backlog_limit)
        await self._subscribe(feed, channels)
        try:
            yield feed
        finally:
            feed.stop()
            await self._unsubscribe(feed, channels)

    @contextlib.asynccontextmanager
    async def event_stream(self, channels: Sequence[str]) -> AsyncIterator[EventStream]:
        """The events of `channels` from now until the block ends, to iterate."""
        stream = EventStream(self._backlog_limit)
        await self._subscribe(stream, channels)
        try:
            yield stream
        finally:
            await self._unsubscribe(stream, channels)

    async def _subscribe(self, subscriber: Subscriber, channels: Sequence[str]) -> None:
        """Once this returns, the backend has been asked for every channel (by this call or an earlier one)."""
        async with self._changing:
            new_channels = [channel for channel in channels if channel not in self._subscribers]
            for channel in channels:
                self._subscribers.setdefault(channel, set()).add(subscriber)
            try:
                if new_channels:
                    await self._backend.subscribe(new_channels)
            except BaseException:
                self._forget(subscriber, channels)
                raise

    async def _unsubscribe(self, subscriber: Subscriber, channels: Sequence[str]) -> None:
        async with self._changing:
            unwanted = self._forget(subscriber, channels)
            if unwanted:
                await self._backend.unsubscribe(unwanted)

    def _forget(self, subscriber: Subscriber, channels: Iterable[str]) -> list[str]:
        """Take `subscriber` off `channels`; answer the channels nobody here wants any more."""
        unwanted = []
        for channel in channels:
            subscribers = self._subscribers.get(channel)
            if subscribers is None:
                continue
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[channel]
                unwanted.append(channel)
        return unwanted

    async def _dispatch(self) -> None:
        """Hand every event to its channel's subscribers, listening again after losing the backend."""
        while True:
            try:
                async for channel, data in self._backend.stream_events():
                    for subscriber in self._subscribers.get(channel, ()):
                        subscriber.deliver(data)
            except Exception as error:
                log.warning(
                    "realtime.stream_lost error=%s retry_in=%.0fs", type(error).__name__, STREAM_RETRY_SECONDS
                )
            await asyncio.sleep(STREAM_RETRY_SECONDS)


class RedisPubSubBackend(ChannelsBackend):
    """Channels on Redis pub/sub (redis-py), which every web process and worker of a deployment shares.

    Litestar's own Redis pub/sub backend checks each event against a set it rebuilds from all the
    process's channels (about 95 µs an event with 5,000 sockets open). The fan-out looks each
    event's channel up in its own registry anyway, so this backend passes on what Redis sends.
    """

    def __init__(self, redis_url: str) -> None:
        self._redis = Redis.from_url(redis_url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._pipeline = PipelinedPublish(self._redis)
        self._listening = asyncio.Event()

    async def on_startup(self) -> None:
        """Nothing to open yet: the listening connection opens with the first subscription."""

    async def on_shutdown(self) -> None:
        await self._pubsub.aclose()
        await self._redis.aclose()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        await self._pipeline.publish(data, channels)

    async def subscribe(self, channels: Iterable[str]) -> None:
        await self._pubsub.subscribe(*channels)
        self._listening.set()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        await self._pubsub.unsubscribe(*channels)

    async def stream_events(self) -> AsyncGenerator[tuple[str, bytes], None]:
        await self._listening.wait()
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None:
                yield message["channel"].decode(), message["data"]

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("Redis pub/sub keeps no history")


def make_fanout(redis_url: str | None) -> Fanout:
    """Redis pub/sub between the processes of a deployment; in memory for the embedded single process."""
    return Fanout(RedisPubSubBackend(redis_url) if redis_url else MemoryChannelsBackend())


class InvalidFrame(ValueError):
    """A WebSocket frame that is not a JSON object."""


async def receive_frame(socket: WebSocket) -> dict[str, Any]:
    """The next frame as a JSON object; a malformed one raises InvalidFrame and keeps the socket open.

    Frames are held to the size of a request body (OMNIHUB_MAX_BODY_BYTES, in characters).
    """
    text = await socket.receive_text()
    max_length = socket.app.state.settings.max_body_bytes
    if len(text) > max_length:
        raise InvalidFrame(f"Frames must be at most {max_length} characters.")
    try:
        frame = msgspec.json.decode(text)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        raise InvalidFrame("Frames must be JSON objects.") from None
    if not isinstance(frame, dict):
        raise InvalidFrame("Frames must be JSON objects.")
    return frame


def frame_text(frame: dict[str, Any], name: str) -> str | None:
    """A frame's optional text field (a token); any other type makes the frame invalid."""
    value = frame.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidFrame(f"{name} must be a string.")
    return value
