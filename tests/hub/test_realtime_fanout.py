"""The process's fan-out, on each backend: order, events before `start()`, slow and gone sockets, leaving, outages."""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest
import redis.asyncio
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.exceptions import WebSocketDisconnect

import hub.realtime
from hub.realtime import Fanout, RedisPubSubBackend
from tests.conftest import TEST_REDIS_URL, bearer, inbox_of, wait_for

SMALL_BACKLOG = 5


class FakeSocket:
    """Stands in for a WebSocket: records frames, yielding at each so events pile up; can stall or be gone."""

    def __init__(self, gone_after: int | None = None, stalled: bool = False) -> None:
        self.sent: list[bytes] = []
        self.attempts = 0
        self.closed_with: int | None = None
        self._gone_after = gone_after
        self._reading = asyncio.Event()
        if not stalled:
            self._reading.set()

    async def send_text(self, data: bytes) -> None:
        self.attempts += 1
        if self._gone_after is not None and len(self.sent) >= self._gone_after:
            raise WebSocketDisconnect(detail="gone")
        await self._reading.wait()
        await asyncio.sleep(0)
        self.sent.append(data)

    async def close(self, code: int, reason: str | None = None) -> None:
        self.closed_with = code


async def eventually(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` on the event loop until it is true (`tests.conftest.wait_for` would block the loop)."""
    async with asyncio.timeout(timeout):
        while not (result := condition()):
            await asyncio.sleep(0.005)
    return result


def new_channel() -> str:
    """Pub/sub channels are shared by the whole Redis server (every database, every helper's tests): unique names."""
    return f"test.{uuid.uuid4().hex}"


def frames(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix} {number}".encode() for number in range(count)]


@pytest.fixture(params=["memory", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("production_services")
    return request.param


@contextlib.asynccontextmanager
async def running_fanout(backend: Any, **options: Any) -> AsyncIterator[Fanout]:
    running = Fanout(backend, **options)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def backend_of(kind: str, redis_url: str = TEST_REDIS_URL) -> Any:
    return MemoryChannelsBackend() if kind == "memory" else RedisPubSubBackend(redis_url)


@pytest.fixture
async def fanout(backend_kind: str) -> AsyncIterator[Fanout]:
    async with running_fanout(backend_of(backend_kind)) as running:
        yield running


async def published_before(fanout: Fanout, publish: Callable[[], Awaitable[None]]) -> None:
    """Run `publish`, then wait until the dispatcher has handled what it published (it handles events in order)."""
    witness_channel = new_channel()
    async with fanout.event_stream([witness_channel]) as witness:
        await publish()
        await fanout.publish(b"witness", [witness_channel])
        async with asyncio.timeout(10):
            assert await anext(witness) == b"witness"


async def publish_all(fanout: Fanout, events: Iterable[bytes], channel: str) -> None:
    for event in events:
        await fanout.publish(event, [channel])


async def publish_all_to(fanout: Fanout, event: bytes, channels: Iterable[str]) -> None:
    for channel in channels:
        await fanout.publish(event, [channel])


async def test_each_socket_gets_its_channels_events_in_order_with_those_before_start_first(
    fanout: Fanout,
) -> None:
    shared, other = new_channel(), new_channel()
    first, second, elsewhere = FakeSocket(), FakeSocket(), FakeSocket()
    async with (
        fanout.socket_feed(first, [shared]) as first_feed,
        fanout.socket_feed(second, [shared]) as second_feed,
        fanout.socket_feed(elsewhere, [other]) as other_feed,
    ):
        await published_before(fanout, lambda: publish_all(fanout, frames("early", 3), shared))
        assert first.sent == [], "nothing is sent before start()"
        for feed in (first_feed, second_feed, other_feed):
            feed.start()
        await publish_all(fanout, frames("late", 50), shared)
        await publish_all(fanout, frames("other", 2), other)
        await eventually(
            lambda: len(first.sent) == 53 and len(second.sent) == 53 and len(elsewhere.sent) == 2
        )
    assert first.sent == second.sent == frames("early", 3) + frames("late", 50)
    assert elsewhere.sent == frames("other", 2)


async def test_a_socket_that_stops_reading_is_closed_and_never_holds_the_others(backend_kind: str) -> None:
    channel = new_channel()
    stalled, reading = FakeSocket(stalled=True), FakeSocket()
    async with (
        running_fanout(backend_of(backend_kind), backlog_limit=SMALL_BACKLOG) as fanout,
        fanout.socket_feed(stalled, [channel]) as stalled_feed,
        fanout.socket_feed(reading, [channel]) as feed,
    ):
        stalled_feed.start()
        feed.start()
        for number, event in enumerate(frames("event", 4 * SMALL_BACKLOG)):
            await fanout.publish(event, [channel])
            await eventually(lambda count=number + 1: len(reading.sent) == count)
        assert reading.sent == frames("event", 4 * SMALL_BACKLOG)
        assert stalled.closed_with == 1013
        assert stalled.sent == []


async def test_a_gone_socket_is_left_alone_while_the_others_go_on(backend_kind: str) -> None:
    """Its handler hears the disconnect and leaves; meanwhile nothing more is kept or written for it."""
    channel = new_channel()
    gone, staying = FakeSocket(gone_after=1), FakeSocket()
    async with (
        running_fanout(backend_of(backend_kind), backlog_limit=SMALL_BACKLOG) as fanout,
        fanout.socket_feed(gone, [channel]) as gone_feed,
        fanout.socket_feed(staying, [channel]) as feed,
    ):
        gone_feed.start()
        feed.start()
        for number, event in enumerate(frames("event", 3 * SMALL_BACKLOG)):
            await fanout.publish(event, [channel])
            await eventually(lambda count=number + 1: len(staying.sent) == count)
    assert gone.sent == frames("event", 1)
    assert gone.attempts == 2 and gone.closed_with is None
    assert staying.sent == frames("event", 3 * SMALL_BACKLOG)


async def test_leaving_frees_every_channel_here_and_in_the_backend(fanout: Fanout) -> None:
    own_channels = [new_channel() for _ in range(100)]
    shared = new_channel()
    sockets = [FakeSocket() for _ in range(200)]
    stalled = FakeSocket(stalled=True)
    idle_tasks = asyncio.all_tasks()
    async with contextlib.AsyncExitStack() as open_sockets:
        for socket, channels in zip(
            [*sockets, stalled], [[channel] for channel in own_channels] + [[shared]] * 101, strict=True
        ):
            (await open_sockets.enter_async_context(fanout.socket_feed(socket, channels))).start()
        assert fanout.channels() == {*own_channels, shared}
        for channel in [*own_channels, shared]:
            await fanout.publish(b"hello", [channel])
        await eventually(lambda: all(socket.sent == [b"hello"] for socket in sockets))
        await eventually(lambda: len(asyncio.all_tasks() - idle_tasks) == 1)  # the stalled socket's send
    assert fanout.channels() == frozenset()
    await eventually(lambda: asyncio.all_tasks() == idle_tasks)
    await published_before(fanout, lambda: publish_all_to(fanout, b"after leaving", [*own_channels, shared]))
    assert all(socket.sent == [b"hello"] for socket in sockets)


async def test_leaving_unsubscribes_from_redis(
    production_services: None, caplog: pytest.LogCaptureFixture
) -> None:
    running = Fanout(backend_of("redis"))
    await running.start()
    observer = redis.asyncio.Redis.from_url(TEST_REDIS_URL)
    channels = [new_channel() for _ in range(50)]

    async def subscribers() -> dict[bytes, int]:
        return dict(await observer.pubsub_numsub(*channels))

    try:
        async with contextlib.AsyncExitStack() as open_sockets:
            for channel in channels:
                await open_sockets.enter_async_context(running.socket_feed(FakeSocket(), [channel]))
            assert await subscribers() == {channel.encode(): 1 for channel in channels}
        async with asyncio.timeout(10):
            while await subscribers() != {channel.encode(): 0 for channel in channels}:
                await asyncio.sleep(0.005)
        assert "realtime.stream_lost" not in caplog.text
    finally:
        await observer.aclose()
        await running.stop()


async def test_an_idle_socket_holds_no_queue_and_no_task(fanout: Fanout) -> None:
    """Idle widget sockets are most sockets: after an event, what remains per socket is its place in the registry."""
    sockets = [FakeSocket() for _ in range(500)]
    channels = [new_channel() for _ in sockets]
    idle_tasks = asyncio.all_tasks()
    only_realtime = [tracemalloc.Filter(True, hub.realtime.__file__)]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(only_realtime)
        async with contextlib.AsyncExitStack() as open_sockets:
            for socket, channel in zip(sockets, channels, strict=True):
                (await open_sockets.enter_async_context(fanout.socket_feed(socket, [channel]))).start()
            for channel in channels:
                await fanout.publish(b"one event", [channel])
            await eventually(lambda: all(socket.sent for socket in sockets))
            await eventually(lambda: asyncio.all_tasks() == idle_tasks)
            after = tracemalloc.take_snapshot().filter_traces(only_realtime)
    finally:
        tracemalloc.stop()
    held = sum(difference.size_diff for difference in after.compare_to(before, "filename"))
    assert held / len(sockets) <= 512, f"{held / len(sockets):.0f} bytes per idle socket"


async def test_a_long_poll_stream_gets_events_in_order_and_ends_once_it_falls_behind(
    backend_kind: str,
) -> None:
    channel = new_channel()
    async with (
        running_fanout(backend_of(backend_kind), backlog_limit=SMALL_BACKLOG) as fanout,
        fanout.event_stream([channel]) as stream,
    ):
        await publish_all(fanout, frames("event", 3), channel)
        assert [await anext(stream) for _ in range(3)] == frames("event", 3)
        await published_before(
            fanout, lambda: publish_all(fanout, frames("unread", SMALL_BACKLOG + 1), channel)
        )
        async with asyncio.timeout(5):
            assert [event async for event in stream] == []


class SlowToSubscribe(MemoryChannelsBackend):
    """A backend whose subscriptions take a round trip, as Redis's do."""

    async def subscribe(self, channels: Iterable[str]) -> None:
        await asyncio.sleep(0.05)
        await super().subscribe(channels)


async def test_a_socket_joining_a_channel_being_subscribed_waits_for_the_subscription() -> None:
    running = Fanout(SlowToSubscribe())
    await running.start()
    channel = new_channel()
    first_in = asyncio.Event()
    try:

        async def first() -> None:
            async with running.socket_feed(FakeSocket(), [channel]):
                first_in.set()
                await asyncio.sleep(1)

        joining = asyncio.create_task(first())
        await asyncio.sleep(0.01)
        second = FakeSocket()
        async with running.socket_feed(second, [channel]) as feed:
            feed.start()
            await running.publish(b"right after joining", [channel])
            await eventually(lambda: second.sent == [b"right after joining"])
        joining.cancel()
    finally:
        await running.stop()


class RefusesSubscriptions(MemoryChannelsBackend):
    async def subscribe(self, channels: Iterable[str]) -> None:
        raise ConnectionError("backend unavailable")


async def test_a_refused_subscription_leaves_nothing_behind() -> None:
    running = Fanout(RefusesSubscriptions())
    await running.start()
    try:
        with pytest.raises(ConnectionError):
            async with running.socket_feed(FakeSocket(), [new_channel()]):
                pass
        assert running.channels() == frozenset()
    finally:
        await running.stop()


class LosesItsStreamOnce(MemoryChannelsBackend):
    """A backend whose event stream breaks once, as when its server goes away."""

    def __init__(self) -> None:
        super().__init__()
        self.streams = 0

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        self.streams += 1
        if self.streams == 1:
            raise ConnectionError("connection lost")
        async for event in super().stream_events():
            yield event


async def test_the_dispatcher_listens_again_after_losing_the_stream() -> None:
    backend = LosesItsStreamOnce()
    running = Fanout(backend)
    await running.start()
    channel = new_channel()
    socket = FakeSocket()
    try:
        async with running.socket_feed(socket, [channel]) as feed:
            feed.start()
            await running.publish(b"after the outage", [channel])
            await eventually(lambda: socket.sent == [b"after the outage"])
        assert backend.streams == 2
    finally:
        await running.stop()


async def test_events_flow_again_after_redis_drops_the_listening_connection(
    production_services: None,
) -> None:
    client_name = f"omnihub-test-{uuid.uuid4().hex[:12]}"
    running = Fanout(backend_of("redis", f"{TEST_REDIS_URL}?client_name={client_name}"))
    await running.start()
    admin = redis.asyncio.Redis.from_url(TEST_REDIS_URL)
    channel = new_channel()
    socket = FakeSocket()
    try:
        async with running.socket_feed(socket, [channel]) as feed:
            feed.start()
            listening = [
                client for client in await admin.client_list(_type="pubsub") if client["name"] == client_name
            ]
            assert len(listening) == 1
            await admin.client_kill_filter(_id=listening[0]["id"])
            async with asyncio.timeout(15):
                while not socket.sent:
                    await running.publish(b"after the drop", [channel])
                    await asyncio.sleep(0.05)
        assert set(socket.sent) == {b"after the drop"}
    finally:
        await admin.aclose()
        await running.stop()


def test_sockets_and_long_polls_that_close_leave_no_channel_behind(client, demo):
    widget = inbox_of(demo, "webchat")["widget_token"]
    realtime = client.app.state.realtime
    visitor_tokens = []
    for _ in range(20):
        with client.websocket_connect(f"/widget/{widget}/ws") as socket:
            socket.send_json({"visitor_token": None})
            visitor_tokens.append(socket.receive_json()["visitor_token"])
        with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as agent:
            assert agent.receive_json()["type"] == "ready"
    polled = client.get(f"/widget/{widget}/messages?wait=1", headers=bearer(visitor_tokens[0]))
    assert polled.status_code == 200 and polled.json() == {"items": [], "rating_due": None}
    wait_for(lambda: client.blocking_portal.call(realtime.channels) == frozenset())


async def test_a_burst_of_publishes_from_many_callers_shares_pooled_connections() -> None:
    """Every visitor socket publishes its own echo: a burst larger than the Redis pool still gets through."""
    backend = RedisPubSubBackend(TEST_REDIS_URL)
    listener = redis.asyncio.Redis.from_url(TEST_REDIS_URL)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    channel = f"burst-{uuid.uuid4().hex}"
    await pubsub.subscribe(channel)
    try:
        await asyncio.gather(*(backend.publish(str(n).encode(), [channel]) for n in range(500)))
        received: list[int] = []
        deadline = asyncio.get_running_loop().time() + 10
        while len(received) < 500 and asyncio.get_running_loop().time() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                received.append(int(message["data"]))
        assert sorted(received) == list(range(500))
    finally:
        await pubsub.aclose()
        await listener.aclose()
        await backend.on_shutdown()
