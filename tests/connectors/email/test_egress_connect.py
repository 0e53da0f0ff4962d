"""`ConnectorContext.connect` as the hub is to give it, built here from the hub's own egress policy (hub/ gains it in
the next round): the address actually connected to is judged, and a mail server on a private or loopback address is
reached only when OMNIHUB_ALLOWED_PRIVATE_NETWORKS opens it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from ipaddress import ip_address, ip_network

import pytest

from connectors.base import Connect, ConnectorContext, DestinationRefused, PermanentPollError
from hub.egress import EgressPolicy
from hub.egress.addresses import literal_addresses, refused_category
from tests.connectors.email.conftest import Mailbox, fixture_mail


def egress_connect(policy: EgressPolicy, timeout: float = 15.0) -> Connect:
    """Resolve once (a literal as itself, a name by the policy's resolver), judge every address, connect to an
    allowed one: no second look-up can rebind the name to an address that was not judged."""

    async def connect(host: str, port: int) -> socket.socket:
        literal = literal_addresses(host)
        addresses = [str(address) for address in literal] or list(await policy.resolver(host, port))
        judged = [
            (address, refused_category(ip_address(address), policy.allowed_networks)) for address in addresses
        ]
        allowed = [address for address, category in judged if category is None]
        if not allowed:
            raise DestinationRefused(host, next(category for _, category in judged if category))
        loop = asyncio.get_running_loop()
        failure: OSError = OSError(f"{host} could not be reached")
        for address in allowed:
            sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(timeout):
                    await loop.sock_connect(sock, (address, port))
                return sock
            except (OSError, TimeoutError) as error:
                sock.close()
                failure = error if isinstance(error, OSError) else TimeoutError(f"{host}:{port} timed out")
        raise failure

    return connect


def resolving_to(*addresses: str):
    async def resolver(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolver


def under(context: ConnectorContext, policy: EgressPolicy) -> ConnectorContext:
    from dataclasses import replace

    return replace(context, connect=egress_connect(policy))


async def test_a_loopback_mail_server_is_refused_by_default_naming_the_host(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(PermanentPollError) as refused:
        async with mailbox.connector().poll_session(under(context, EgressPolicy())):
            pass
    assert refused.value.setting == "imap_host" and "loopback address" in refused.value.reason


async def test_allowed_private_networks_open_it(mailbox: Mailbox, context: ConnectorContext) -> None:
    await mailbox.deliver(fixture_mail("plain_text.eml"))
    opened = EgressPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))
    async with mailbox.connector().poll_session(under(context, opened)) as session:
        assert len((await session.poll(None)).items) == 1


async def test_a_name_is_judged_on_what_it_resolves_to(mailbox: Mailbox, context: ConnectorContext) -> None:
    """A public-looking name that resolves to the metadata address is refused, whatever networks are opened."""
    rebinding = EgressPolicy(
        allowed_networks=(ip_network("169.254.0.0/16"),), resolver=resolving_to("169.254.169.254")
    )
    with pytest.raises(PermanentPollError, match="metadata") as refused:
        async with mailbox.connector(imap_host="imap.example.com", imap_security="ssl").poll_session(
            under(context, rebinding)
        ):
            pass
    assert refused.value.setting == "imap_host"
