"""Load generators and probes: they run in the benchmark's own process, apart from the hub processes they measure.

Clients are kept lean (raw keep-alive HTTP, the `websockets` client with a browser's
permessage-deflate offer) so that, on a small machine, the load generator takes as little CPU
from the hub as it can; the benchmarks report what it took anyway.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websockets

__all__ = [
    "UNLIMITED_WIDGET_RATES",
    "AgentSocket",
    "KeepAliveClient",
    "VisitorSocket",
    "closed_loop_rate",
    "connect_visitors",
    "open_loop",
    "raise_open_file_limit",
]

UNLIMITED_WIDGET_RATES = {
    "OMNIHUB_IP_RATE_PER_MINUTE": "1000000000",
    "OMNIHUB_VISITOR_RATE_PER_MINUTE": "1000000000",
}
"""Every simulated visitor comes from 127.0.0.1, so the per-IP and per-visitor limits are lifted (they are still
counted in Redis on every message, as in production)."""


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit (children started afterwards inherit it); answer the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class KeepAliveClient:
    """HTTP/1.1 GETs over one kept-alive connection, parsed just enough to find each response's end."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host

    @classmethod
    async def connect(cls, base_url: str) -> KeepAliveClient:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def get(self, path: str) -> int:
        """The response status; the body is read and dropped."""
        return await self.send_raw(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode())

    async def send_raw(self, request: bytes) -> int:
        """Send one complete HTTP/1.1 request; answer the response status once its body is read."""
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self._reader.readexactly(length)
        return int(head[9:12])

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


async def closed_loop_rate(base_urls: list[str], path: str, connections: int, seconds: float) -> float:
    """Requests per second that `connections` clients (spread over `base_urls`), each sending its next
    request on the last answer, get."""
    clients = [
        await KeepAliveClient.connect(base_urls[index % len(base_urls)]) for index in range(connections)
    ]
    completed = 0
    deadline = time.perf_counter() + seconds

    async def hammer(client: KeepAliveClient) -> None:
        nonlocal completed
        while time.perf_counter() < deadline:
            status = await client.get(path)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
            completed += 1

    started = time.perf_counter()
    await asyncio.gather(*(hammer(client) for client in clients))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(client.close() for client in clients))
    return completed / elapsed


async def open_loop(rate: float, seconds: float, send: Callable[[int, float], Awaitable[None]]) -> int:
    """Call `send(sequence, intended_time)` `rate` times a second, on schedule whether or not earlier calls finished.

    Latency is measured from the intended time, so a hub that falls behind is not flattered
    by a generator that waits for it (coordinated omission).
    """
    interval = 1.0 / rate
    started = time.perf_counter()
    total = int(rate * seconds)
    in_flight: set[asyncio.Task] = set()
    for sequence in range(total):
        intended = started + sequence * interval
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(sequence, intended))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    return total


def _frame(raw: str | bytes) -> dict:
    return json.loads(raw)


@dataclass
class VisitorSocket:
    """One widget visitor on the WebSocket: sends messages, and sees its own messages come back processed."""

    connection: websockets.ClientConnection
    visitor_token: str
    acks: dict[str, asyncio.Future] = field(default_factory=dict)
    created: dict[str, asyncio.Future] = field(default_factory=dict)
    _reader: asyncio.Task | None = None

    @classmethod
    async def connect(cls, ws_url: str, *, compression: str | None = "deflate") -> VisitorSocket:
        """Open the socket as a new visitor and wait for the hub's `ready` frame (which issues the visitor token).

        Browsers offer permessage-deflate, so by default this client does too.
        """
        connection = await websockets.connect(
            ws_url, max_size=2**20, open_timeout=60, ping_interval=None, compression=compression
        )
        await connection.send('{"type": "hello"}')
        ready = _frame(await connection.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(f"expected a ready frame, got {ready}")
        return cls(connection, ready["visitor_token"])

    def listen(self) -> None:
        """Start reading frames, resolving the futures of `send` (needed before messages are sent)."""
        self._reader = asyncio.create_task(self._read())

    async def send(self, text: str, client_id: str) -> tuple[asyncio.Future, asyncio.Future]:
        """Send one message; answer two futures: its ack (the frame), and when it came back processed."""
        loop = asyncio.get_running_loop()
        acked = self.acks[client_id] = loop.create_future()
        created = self.created[client_id] = loop.create_future()
        await self.connection.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
        return acked, created

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                frame = _frame(raw)
                kind = frame.get("type")
                if kind == "ack":
                    _resolve(self.acks.pop(frame.get("client_id"), None), frame)
                elif kind == "message.created":
                    _resolve(self.created.pop(frame["message"].get("client_id"), None), time.perf_counter())
                elif kind == "error":
                    failure = RuntimeError(f"hub answered an error frame: {frame}")
                    for futures in (self.acks, self.created):
                        _fail(futures.pop(frame.get("client_id"), None), failure)
        except websockets.ConnectionClosed as closed:
            for futures in (self.acks, self.created):
                for future in futures.values():
                    _fail(future, RuntimeError(f"the hub closed the visitor socket: {closed}"))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.connection.close()


async def connect_visitors(
    ws_urls: list[str], count: int, *, at_once: int = 50, compression: str | None = "deflate"
) -> list[VisitorSocket]:
    """`count` new visitors spread over the web processes, `at_once` handshakes in flight at a time."""
    gate = asyncio.Semaphore(at_once)

    async def one(index: int) -> VisitorSocket:
        async with gate:
            return await VisitorSocket.connect(ws_urls[index % len(ws_urls)], compression=compression)

    return await asyncio.gather(*(one(index) for index in range(count)))


def _resolve(future: asyncio.Future | None, value) -> None:
    if future is not None and not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future | None, error: Exception) -> None:
    if future is not None and not future.done():
        future.set_exception(error)


class AgentSocket:
    """An agent's live feed: records when each visitor message (by client_id) arrives as `message.created`."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self._connection = connection
        self.arrived_at: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, base_url: str, api_token: str) -> AgentSocket:
        ws_url = base_url.replace("http", "ws", 1) + f"/api/v1/agent/ws?token={api_token}"
        connection = await websockets.connect(ws_url, max_size=2**22, ping_interval=None, max_queue=None)
        ready = _frame(await connection.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(f"expected a ready frame, got {ready}")
        return cls(connection)

    @property
    def count(self) -> int:
        return len(self.arrived_at)

    def arrival(self, client_id: str) -> asyncio.Future:
        """A future resolved with the arrival time of the message sent with `client_id`."""
        future = asyncio.get_running_loop().create_future()
        if client_id in self.arrived_at:
            future.set_result(self.arrived_at[client_id])
        else:
            self._waiters[client_id] = future
        return future

    async def _read(self) -> None:
        async for raw in self._connection:
            arrived = time.perf_counter()
            frame = _frame(raw)
            if frame.get("type") != "message.created" or frame["message"]["direction"] != "in":
                continue
            client_id = frame["message"]["metadata"].get("client_id")
            self.arrived_at[client_id] = arrived
            _resolve(self._waiters.pop(client_id, None), arrived)

    async def close(self) -> None:
        self._reader.cancel()
        await self._connection.close()
