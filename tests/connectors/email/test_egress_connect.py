"""`ConnectorContext.connect` as the hub gives it (hub.egress.guarded_connect): the address actually connected to is judged, and a mail server on a private or loopback address is
reached only when OMNIHUB_ALLOWED_PRIVATE_NETWORKS opens it."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_network

import pytest

from connectors.base import ConnectorContext, PermanentPollError
from hub.egress import EgressPolicy, guarded_connect
from tests.connectors.email.conftest import Mailbox, fixture_mail


def resolving_to(*addresses: str):
    async def resolver(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolver


def under(context: ConnectorContext, policy: EgressPolicy) -> ConnectorContext:
    from dataclasses import replace

    return replace(context, connect=guarded_connect(policy))


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
