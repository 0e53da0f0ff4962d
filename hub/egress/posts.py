"""Small POSTs over kept-alive HTTP/1.1 connections under the egress policy: the lean path for bursts of requests
to one receiver (webhook deliveries).

httpx through the guarded transport costs about 1 ms of CPU per POST in a 32-wide burst on loopback; h11 on an
asyncio stream about 0.14 ms, and the POSTs were most of a webhook worker's CPU. Each connection is made by the
policy's guarded connect (one look-up, every address judged, an allowed one connected to), TLS checks the
certificate against the URL's host, and no redirect is followed: a 3xx is an answer like any other.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from urllib.parse import unquote

import h11
import httpx

from connectors.base import Connect
from hub.egress.client import KEEPALIVE_EXPIRY_SECONDS, ssl_context

__all__ = ["Answer", "KeptConnections", "PostFailed", "PostLane", "PostRequest", "PostTarget"]

READ_BYTES = 65_536


class PostFailed(Exception):
    """The server broke HTTP/1.1 (a malformed or cut answer) or closed the connection before answering."""


@dataclass(frozen=True, slots=True)
class PostRequest:
    target: PostTarget
    headers: list[tuple[bytes, bytes]]
    """Beside those of the target and the body's length."""
    body: bytes
    excerpt_bytes: int
    """How much of the answer's body to keep."""
    max_bytes: int
    """How much of the answer's body to read at most: the connection of a longer one is not reused."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    excerpt: bytes
    """The start of the answer's body, at most the bytes asked for."""


class PostTarget:
    """A URL parsed once for a burst of POSTs to it: where to connect and what each request's head carries
    (userinfo in the URL becomes Basic credentials, as httpx sends them)."""

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self.tls = parsed.scheme == "https"
        self.host = parsed.host
        self.port = parsed.port or (443 if self.tls else 80)
        self.origin = f"{parsed.scheme}://{parsed.host}:{self.port}"
        self.path = parsed.raw_path
        self.head: list[tuple[bytes, bytes]] = [(b"host", parsed.netloc)]
        if parsed.userinfo:
            credentials = f"{unquote(parsed.username)}:{unquote(parsed.password)}".encode()
            self.head.append((b"authorization", b"Basic " + base64.b64encode(credentials)))


class _Connection:
    """One HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._http = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    @classmethod
    async def open(cls, connect: Connect, target: PostTarget) -> _Connection:
        sock = await connect(target.host, target.port)
        reader, writer = await asyncio.open_connection(
            sock=sock,
            ssl=ssl_context() if target.tls else None,
            server_hostname=target.host if target.tls else None,
        )
        return cls(reader, writer)

    def usable(self) -> bool:
        """Idle, not closed by either side, and not idle so long that the server may have dropped it."""
        return (
            self._http.our_state is h11.IDLE
            and not self._writer.is_closing()
            and not self._reader.at_eof()
            and time.monotonic() - self.idle_since < KEEPALIVE_EXPIRY_SECONDS
        )

    async def post(self, request: PostRequest) -> Answer:
        http = self._http
        target, body, excerpt_bytes = request.target, request.body, request.excerpt_bytes
        try:
            self._writer.write(
                http.send(
                    h11.Request(
                        method=b"POST",
                        target=target.path,
                        headers=[
                            *target.head,
                            (b"content-length", str(len(body)).encode()),
                            *request.headers,
                        ],
                    )
                )
                + http.send(h11.Data(data=body))
                + http.send(h11.EndOfMessage())
            )
            await self._writer.drain()
            status = 0
            excerpt = b""
            received = 0
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    data = await self._reader.read(READ_BYTES)
                    if not data and not status:
                        raise PostFailed("the server closed the connection before it answered")
                    http.receive_data(data)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    received += len(event.data)
                    if len(excerpt) < excerpt_bytes:
                        excerpt += event.data[: excerpt_bytes - len(excerpt)]
                    if received > request.max_bytes:
                        self.close()
                        return Answer(status, excerpt)
                elif isinstance(event, h11.EndOfMessage):
                    break
        except h11.ProtocolError as error:
            self.close()
            raise PostFailed(f"the server broke HTTP/1.1: {error}") from None
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
            self.idle_since = time.monotonic()
        else:
            self.close()
        return Answer(status, excerpt)

    def close(self) -> None:
        self._writer.close()


class PostLane:
    """POSTs one after another to one origin over one kept-alive connection, made again whenever the last one
    cannot be reused (closed, broken by a failure or a timeout, idle too long)."""

    def __init__(self, connect: Connect, connection: _Connection | None = None) -> None:
        self._connect = connect
        self.connection = connection

    async def post(self, request: PostRequest) -> Answer:
        """One POST; raises DestinationRefused, OSError (TimeoutError among them) or PostFailed. A failed or
        cancelled request closes its connection: its state is unknown."""
        if self.connection is None or not self.connection.usable():
            self.close()
            self.connection = await _Connection.open(self._connect, request.target)
        try:
            return await self.connection.post(request)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class KeptConnections:
    """Idle connections kept between bursts to one origin, so that a burst reuses those of the one before instead
    of connecting again (a burst of a few requests otherwise paid a connection per request). A burst takes the idle
    ones it needs and makes the rest: none waits for a connection another holds. At most `most_per_origin` wait per
    origin, and none longer than the keep-alive expiry."""

    def __init__(self, connect: Connect, most_per_origin: int) -> None:
        self._connect = connect
        self._most_per_origin = most_per_origin
        self._idle: dict[str, list[_Connection]] = {}

    def lanes(self, origin: str, count: int) -> list[PostLane]:
        """`count` lanes to `origin`, over the most recently used idle connections first."""
        idle = self._idle.get(origin, [])
        taken = idle[len(idle) - min(count, len(idle)) :]
        del idle[len(idle) - len(taken) :]
        return [PostLane(self._connect, connection) for connection in taken] + [
            PostLane(self._connect) for _ in range(count - len(taken))
        ]

    def give_back(self, origin: str, lanes: list[PostLane]) -> None:
        """Keep the lanes' reusable connections for the next burst to `origin`; close the rest, those over the limit
        and any idle too long."""
        idle = self._idle.setdefault(origin, [])
        for lane in lanes:
            if lane.connection is not None and lane.connection.usable():
                idle.append(lane.connection)
                lane.connection = None
            else:
                lane.close()
        for connection in idle[: max(len(idle) - self._most_per_origin, 0)]:
            connection.close()
        del idle[: max(len(idle) - self._most_per_origin, 0)]
        for kept_origin, kept in list(self._idle.items()):
            for connection in kept:
                if not connection.usable():
                    connection.close()
            kept[:] = [connection for connection in kept if connection.usable()]
            if not kept:
                del self._idle[kept_origin]

    def close(self) -> None:
        idle, self._idle = self._idle, {}
        for kept in idle.values():
            for connection in kept:
                connection.close()
