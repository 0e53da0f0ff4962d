"""The TCP side of the egress policy: connections for channels that do not speak HTTP (IMAP, SMTP).

Like the HTTP client's backend (hub.egress.client), a host is resolved once, every address it resolves to is judged,
and an allowed one is connected to, so the address actually connected to is the one judged and no second look-up can
rebind the name. The caller owns the socket and starts TLS on it with the host name, so certificates are still checked
against the name the admin typed.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address

from connectors.base import Connect, DestinationRefused
from hub.egress.addresses import literal_addresses, refused_category
from hub.egress.policy import EgressPolicy

__all__ = ["guarded_connect"]


def guarded_connect(policy: EgressPolicy) -> Connect:
    """`ConnectorContext.connect` under `policy`: raises DestinationRefused when no address of the host is allowed,
    OSError (TimeoutError among them, after the policy's deadline) when none can be reached."""

    async def connect(host: str, port: int) -> socket.socket:
        async with asyncio.timeout(policy.deadline_seconds):
            addresses = [str(address) for address in literal_addresses(host)] or list(
                await policy.resolver(host, port)
            )
            if not addresses:
                raise OSError(f"{host} resolved to no address")
            judged = [
                (address, refused_category(ip_address(address), policy.allowed_networks))
                for address in addresses
            ]
            allowed = [address for address, category in judged if category is None]
            if not allowed:
                raise DestinationRefused(host, next(category for _, category in judged if category))
            return await _first_reachable(host, port, allowed)

    return connect


async def _first_reachable(host: str, port: int, addresses: list[str]) -> socket.socket:
    loop = asyncio.get_running_loop()
    failure: OSError = OSError(f"{host} could not be reached")
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (address, port))
            return sock
        except OSError as error:
            sock.close()
            failure = error
        except BaseException:
            sock.close()
            raise
    raise failure
