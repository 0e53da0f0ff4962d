"""Real HTTP servers on loopback addresses, and a resolver the test controls, standing in for internal systems,
attachment hosts and DNS in egress tests."""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Dns", "StandIn", "body", "redirect", "stall", "stand_in", "stand_ins_on_one_port", "trickle"]

Answer = Callable[[BaseHTTPRequestHandler, threading.Event], None]
"""Writes the whole answer to one request; the event is set when the test ends."""


def body(
    content: bytes, content_type: str = "application/octet-stream", *, declare_length: bool = True
) -> Answer:
    """`content`, with a Content-Length header or (HTTP/1.0 style) delimited by closing the connection."""

    def answer(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        if declare_length:
            handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    return answer


def redirect(location: str) -> Answer:
    def answer(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def trickle(declared_length: int) -> Answer:
    """A stalling server: it promises a body and sends one byte every 50 ms, so no single read times out."""

    def answer(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(declared_length))
        handler.end_headers()
        with contextlib.suppress(OSError):
            while not stopping.wait(0.05):
                handler.wfile.write(b"x")
                handler.wfile.flush()

    return answer


def stall(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
    """A server that takes the request and never answers."""
    stopping.wait()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: dict[str, Answer]) -> None:
        super().__init__(address, _Handler)
        self.routes = routes
        self.asked: list[str] = []
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.asked.append(self.path)
        answer = self.server.routes.get(self.path)
        if answer is None:
            self.send_error(404)
            return
        answer(self, self.server.stopping)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest shows what a test asserts."""


@dataclass
class StandIn:
    host: str
    port: int
    asked: list[str] = field(default_factory=list)
    """The paths requested, in order: what reached this server."""

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


@contextlib.contextmanager
def _serving(server: _Server) -> Iterator[StandIn]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StandIn(server.server_address[0], server.server_address[1], server.asked)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def stand_in(
    routes: dict[str, Answer], host: str = "127.0.0.1"
) -> contextlib.AbstractContextManager[StandIn]:
    return _serving(_Server((host, 0), routes))


@contextlib.contextmanager
def stand_ins_on_one_port(
    first: tuple[str, dict[str, Answer]], second: tuple[str, dict[str, Answer]]
) -> Iterator[tuple[StandIn, StandIn]]:
    """Two servers on two loopback addresses and the same port, so a host name can be pointed at either."""
    for _attempt in range(20):
        one = _Server((first[0], 0), first[1])
        try:
            other = _Server((second[0], one.server_address[1]), second[1])
        except OSError as error:
            one.server_close()
            if error.errno != errno.EADDRINUSE:
                raise
            continue
        with _serving(one) as serving_one, _serving(other) as serving_other:
            yield serving_one, serving_other
        return
    raise AssertionError("no port was free on both addresses")


class Dns:
    """A resolver the test controls: each name gives its next answer (the last one repeats); it records look-ups."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = {name: list(sequence) for name, sequence in answers.items()}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        sequence = self._answers.get(host)
        if not sequence:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return sequence.pop(0) if len(sequence) > 1 else sequence[0]
