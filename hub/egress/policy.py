"""The egress policy: where, how long and how much the hub may fetch for a user.

Every outgoing request a user can aim (channel API base URLs, attachment URLs, and later webhooks, external routing,
bots and LLM endpoints) is judged by this one policy: settings are judged when saved (`judge_url`), and every
connection the guarded client opens is judged on the address it connects to (see hub.egress.client).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from connectors.base import DestinationRefused
from hub.egress.addresses import IPNetwork, host_category
from hub.settings import Settings

__all__ = ["EgressPolicy", "Resolver", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`(host, port) -> the addresses it resolves to, as text`; raises OSError when it resolves to nothing."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (hosts file, DNS), off the event loop."""
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    """Private networks the operator opens (on-premises systems, test stand-ins); OMNIHUB_ALLOWED_PRIVATE_NETWORKS."""
    deadline_seconds: float = 60.0
    """The most one request may take, from resolving its host to the last byte of its answer."""
    max_response_bytes: int = 33_554_432
    """The most of one answer's body the hub reads."""
    resolver: Resolver = system_resolver

    @classmethod
    def from_settings(cls, settings: Settings, resolver: Resolver = system_resolver) -> EgressPolicy:
        return cls(
            tuple(settings.allowed_private_networks),
            settings.egress_deadline_seconds,
            settings.egress_max_response_bytes,
            resolver,
        )

    def judge_url(self, url: str) -> None:
        """Raise DestinationRefused when the URL's host is refused without a look-up (an address, `localhost`).

        A name that resolves (or not) is judged when a request connects: a look-up now could not bind what it
        resolves to later, and saving settings must not wait on DNS.
        """
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL:
            return
        if host and (category := host_category(host, self.allowed_networks)):
            raise DestinationRefused(host, category)
