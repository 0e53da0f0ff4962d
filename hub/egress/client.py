"""The HTTP client that enforces the egress policy on every connection, redirect hop and answer.

httpx's own transport takes no network backend, so this one drives an httpcore connection pool (respx mocks that
pool's requests, so tests of channels stay at the HTTP layer) with a backend that resolves a host once, judges every
address it resolves to and connects to an allowed one: no second look-up can rebind the name. TLS still checks the
certificate against the host name, since httpcore starts TLS with the URL's host as server name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from ipaddress import ip_address

import httpcore
import httpx
from httpcore._utils import is_socket_readable

from connectors.base import DestinationRefused, PermanentSendError
from hub.egress.addresses import literal_addresses, refused_category
from hub.egress.policy import EgressPolicy

__all__ = ["DeadlineExceeded", "ResponseTooLarge", "guarded_client", "ssl_context"]

PER_OPERATION_TIMEOUT = httpx.Timeout(15.0)
MAX_CONNECTIONS = 100
"""Connections one client holds at once; each may stay open between requests (closing the ones over a smaller
keep-alive cap after every burst made the next burst connect, resolve and be judged again)."""
KEEPALIVE_EXPIRY_SECONDS = 5.0
"""An idle connection older than this is closed rather than used (servers commonly drop idle ones after 5-60 s)."""
MAX_REDIRECTS = 3
"""Each hop is judged and has a deadline of its own, so a fetch lasts at most (MAX_REDIRECTS + 1) deadlines."""

_HTTPX_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
}
"""httpcore's errors as the httpx errors callers catch (the most specific class of the error's own is used)."""


class DeadlineExceeded(httpx.TimeoutException):
    """The answer was not complete within the policy's deadline (a slow or stalling server)."""


class ResponseTooLarge(PermanentSendError):
    """The answer is larger than the policy lets the hub read."""

    def __init__(self, destination: str, max_bytes: int) -> None:
        super().__init__(
            f"The answer from {destination} is larger than {max_bytes} bytes, the most this hub reads"
        )


class _GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy allows: one look-up, every answer judged, an allowed one connected to."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._sockets = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        judged = [
            (address, refused_category(ip_address(address), self._policy.allowed_networks))
            for address in addresses
        ]
        allowed = [address for address, category in judged if category is None]
        if not allowed:
            raise DestinationRefused(host, next(category for _, category in judged if category))
        failure: httpcore.ConnectError | httpcore.ConnectTimeout = httpcore.ConnectError(
            f"{host} could not be reached"
        )
        for address in allowed:
            try:
                return _SocketStream(
                    await self._sockets.connect_tcp(address, port, timeout, local_address, socket_options)
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        """The addresses a literal spells, or those the policy's resolver gives for a name."""
        if literal := literal_addresses(host):
            return [str(address) for address in literal]
        try:
            async with asyncio.timeout(timeout):
                addresses = list(await self._policy.resolver(host, port))
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"{host} was not resolved within {timeout} seconds") from None
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"{host} could not be resolved ({error})") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolved to no address")
        return addresses

    async def sleep(self, seconds: float) -> None:
        await self._sockets.sleep(seconds)


class _SocketStream(httpcore.AsyncNetworkStream):
    """httpcore's stream, answering "has the server closed or spoken?" from the socket found once.

    httpcore asks that of every pooled connection on each request; anyio answers by building all of the socket's
    attributes (a `getpeername` call among them) every time, which was most of a webhook burst's CPU.
    """

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _SocketStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        if info == "is_readable":
            return is_socket_readable(self._socket)
        return self._stream.get_extra_info(info)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """Loading the certificate authorities takes milliseconds, so every client of the process shares one context."""
    return httpx.create_ssl_context()


class _Limits:
    """One request's deadline, and its failures as httpx errors, around each step that waits on the network."""

    def __init__(self, request: httpx.Request, deadline_seconds: float) -> None:
        self.request = request
        self._deadline_seconds = deadline_seconds
        self._deadline = asyncio.get_running_loop().time() + deadline_seconds

    @contextlib.asynccontextmanager
    async def step(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout_at(self._deadline):
                yield
        except TimeoutError:
            raise DeadlineExceeded(
                f"no complete answer within {self._deadline_seconds:g} seconds", request=self.request
            ) from None
        except tuple(_HTTPX_ERRORS) as error:
            mapped = next(_HTTPX_ERRORS[kind] for kind in type(error).__mro__ if kind in _HTTPX_ERRORS)
            raise mapped(str(error), request=self.request) from error


class _BoundedStream(httpx.AsyncByteStream):
    """An answer's body, read within the request's deadline and up to the policy's size."""

    def __init__(self, body: AsyncIterable[bytes], limits: _Limits, max_bytes: int) -> None:
        self._body = body
        self._limits = limits
        self._max_bytes = max_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._body)
        received = 0
        while True:
            async with self._limits.step():
                chunk = await anext(chunks, None)
            if chunk is None:
                return
            received += len(chunk)
            if received > self._max_bytes:
                raise ResponseTooLarge(self._limits.request.url.host, self._max_bytes)
            yield chunk

    async def aclose(self) -> None:
        closing = getattr(self._body, "aclose", None)
        if closing is not None:
            await closing()


class _GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: EgressPolicy, max_connections: int) -> None:
        self._policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            network_backend=_GuardedNetworkBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = _Limits(request, self._policy.deadline_seconds)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        async with limits.step():
            answer = await self._pool.handle_async_request(core_request)
        assert isinstance(answer.stream, AsyncIterable), "an async pool answers with an async body"
        response = httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_BoundedStream(answer.stream, limits, self._policy.max_response_bytes),
            extensions=answer.extensions,
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._policy.max_response_bytes:
            await response.aclose()
            raise ResponseTooLarge(request.url.host, self._policy.max_response_bytes)
        return response

    async def aclose(self) -> None:
        await self._pool.aclose()


def guarded_client(policy: EgressPolicy, max_connections: int = MAX_CONNECTIONS) -> httpx.AsyncClient:
    """The one client the hub fetches with for users; give it to every feature that makes outgoing requests.

    A feature sending bursts to one destination may hold a client of its own sized to its concurrency: httpcore's
    pool looks at every pooled connection on each request, so a small pool per burst costs less than a large
    shared one.
    """
    return httpx.AsyncClient(
        transport=_GuardedTransport(policy, max_connections),
        timeout=PER_OPERATION_TIMEOUT,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,
    )
