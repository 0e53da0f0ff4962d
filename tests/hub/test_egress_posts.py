"""The lean POST path of the egress policy on real sockets: keep-alive reuse between requests and bursts, answers
in every framing, servers that break HTTP or hang up, and the policy's refusal of private addresses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from ipaddress import ip_network

import pytest

from connectors.base import DestinationRefused
from hub.egress import (
    EgressPolicy,
    KeptConnections,
    PostFailed,
    PostLane,
    PostRequest,
    PostTarget,
    guarded_connect,
)
from tests.hub.stand_ins import Dns

LOOPBACK_OPEN = EgressPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"


@dataclass
class Scripted:
    """Answers each request with the next of `answers` (None: hang up without answering), then with 200 ok."""

    answers: list[bytes | None]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook?x=1", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer each request with the next scripted answer; a None closes the connection unanswered. The client
        closing its end also ends the connection."""
        self.connections += 1
        with suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0) if self.answers else OK
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        writer.close()


@asynccontextmanager
async def scripted(*answers: bytes | None) -> AsyncIterator[Scripted]:
    server = Scripted(list(answers))
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


async def post(lane: PostLane, url: str, body: bytes = b'{"n": 1}', max_bytes: int = 1_000_000):
    async with asyncio.timeout(10):
        return await lane.post(
            PostRequest(PostTarget(url), [(b"content-type", b"application/json")], body, 8, max_bytes)
        )


async def test_posts_reuse_one_connection_and_read_every_framing_of_an_answer():
    async with scripted(CHUNKED, OK) as server:
        lane = PostLane(guarded_connect(LOOPBACK_OPEN))
        chunked = await post(lane, server.url())
        plain = await post(lane, server.url(), b"{}")
        lane.close()
    assert (chunked.status, chunked.excerpt) == (201, b"hello wo"), "the answer's start, cut at excerpt_bytes"
    assert (plain.status, plain.excerpt) == (200, b"ok")
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}".encode() in first.lower() and first.endswith(b'{"n": 1}')


async def test_a_server_breaking_http_or_hanging_up_fails_the_post_and_the_next_one_connects_again():
    async with scripted(b"NOT HTTP AT ALL\r\n\r\n", None) as server:
        lane = PostLane(guarded_connect(LOOPBACK_OPEN))
        with pytest.raises(PostFailed, match=r"broke HTTP/1\.1"):
            await post(lane, server.url())
        with pytest.raises(PostFailed, match="closed the connection before it answered"):
            await post(lane, server.url())
        answer = await post(lane, server.url())
        lane.close()
    assert answer.status == 200 and server.connections == 3


async def test_an_answer_over_the_limit_gives_its_status_and_its_connection_is_not_reused():
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 100
    async with scripted(big) as server:
        lane = PostLane(guarded_connect(LOOPBACK_OPEN))
        answer = await post(lane, server.url(), max_bytes=10)
        await post(lane, server.url())
        lane.close()
    assert (answer.status, answer.excerpt) == (200, b"x" * 8)
    assert server.connections == 2


async def test_a_name_resolving_to_a_private_address_is_refused_before_any_connection():
    dns = Dns({"crm.example.test": [["127.0.0.1"]]})
    async with scripted() as server:
        lane = PostLane(guarded_connect(EgressPolicy(resolver=dns)))
        with pytest.raises(DestinationRefused) as refused:
            await post(lane, server.url(host="crm.example.test"))
    assert refused.value.category == "loopback" and server.connections == 0


async def test_a_burst_reuses_the_connections_the_last_burst_gave_back():
    async with scripted() as server:
        kept = KeptConnections(guarded_connect(LOOPBACK_OPEN), most_per_origin=2)
        origin = PostTarget(server.url()).origin
        for _burst in range(3):
            lanes = kept.lanes(origin, 3)
            await asyncio.gather(*(post(lane, server.url()) for lane in lanes))
            kept.give_back(origin, lanes)
        kept.close()
    assert len(server.requests) == 9
    assert server.connections == 3 + 1 + 1, "two of three kept after each burst, one made again"
