"""Which addresses the hub may connect to for a user: public unicast ones, plus the networks the operator allows.

Pure functions over `ipaddress` values, so the whole policy can be tested (and property-tested) without a network.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

__all__ = [
    "CLOUD_METADATA",
    "LOOPBACK",
    "IPAddress",
    "IPNetwork",
    "address_category",
    "host_category",
    "literal_addresses",
    "refused_category",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

LOOPBACK = "loopback"
PRIVATE = "private network"
LINK_LOCAL = "link-local"
SHARED = "carrier-grade NAT"
MULTICAST = "multicast"
RESERVED = "reserved"
UNSPECIFIED = "unspecified"
CLOUD_METADATA = "cloud metadata"

NEVER_ALLOWED = frozenset({CLOUD_METADATA, UNSPECIFIED})
"""No allowed network opens these: a cloud's instance credentials, and 0.0.0.0 / :: (this very host)."""

CLOUD_METADATA_ADDRESSES = frozenset(
    ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, Azure, GCP, OpenStack, Oracle, DigitalOcean...
        "169.254.169.123",  # AWS time sync
        "169.254.170.2",  # AWS ECS task credentials
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS (IPv6)
        "fd00:ec2::23",  # AWS time sync (IPv6)
        "fd20:ce::254",  # GCP (IPv6)
    )
)

CLOUD_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

NAT64 = IPv6Network("64:ff9b::/96")

SPECIAL_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ip_network(network), category)
    for network, category in (
        ("0.0.0.0/8", UNSPECIFIED),
        ("10.0.0.0/8", PRIVATE),
        ("100.64.0.0/10", SHARED),
        ("127.0.0.0/8", LOOPBACK),
        ("169.254.0.0/16", LINK_LOCAL),
        ("172.16.0.0/12", PRIVATE),
        ("192.0.0.0/24", RESERVED),
        ("192.0.2.0/24", RESERVED),
        ("192.88.99.0/24", RESERVED),
        ("192.168.0.0/16", PRIVATE),
        ("198.18.0.0/15", RESERVED),
        ("198.51.100.0/24", RESERVED),
        ("203.0.113.0/24", RESERVED),
        ("224.0.0.0/4", MULTICAST),
        ("240.0.0.0/4", RESERVED),
        ("::/128", UNSPECIFIED),
        ("::1/128", LOOPBACK),
        ("::/96", RESERVED),  # IPv4-compatible, deprecated
        ("64:ff9b:1::/48", PRIVATE),  # local-use NAT64
        ("100::/64", RESERVED),
        ("2001::/23", RESERVED),  # IETF protocol assignments, Teredo among them
        ("2001:db8::/32", RESERVED),
        ("2002::/16", RESERVED),  # 6to4
        ("3fff::/20", RESERVED),
        ("5f00::/16", RESERVED),
        ("fc00::/7", PRIVATE),
        ("fe80::/10", LINK_LOCAL),
        ("fec0::/10", PRIVATE),  # site-local, deprecated
        ("ff00::/8", MULTICAST),
    )
)
"""Looked up in order, so a smaller network listed before a larger one that holds it wins."""


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address that an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) address reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def _reached(address: IPAddress) -> IPAddress:
    """The address a connection really reaches: the IPv4 one inside an IPv6 form, without an IPv6 zone."""
    if isinstance(address, IPv6Address):
        return _embedded_ipv4(address) or IPv6Address(int(address))
    return address


def address_category(address: IPAddress) -> str | None:
    """Why `address` is not on the public internet (e.g. "loopback"), or None for a public unicast address."""
    reached = _reached(address)
    if reached in CLOUD_METADATA_ADDRESSES:
        return CLOUD_METADATA
    for network, category in SPECIAL_NETWORKS:
        if reached in network:
            return category
    return None if reached.is_global else RESERVED


def refused_category(address: IPAddress, allowed_networks: Iterable[IPNetwork]) -> str | None:
    """None when the hub may connect to `address`; otherwise why not. Allowed networks open all but NEVER_ALLOWED."""
    category = address_category(address)
    if category is None or category in NEVER_ALLOWED:
        return category
    reached = _reached(address)
    return None if any(reached in network for network in allowed_networks) else category


def literal_addresses(host: str) -> list[IPAddress]:
    """The addresses `host` spells (any form the resolver accepts: 127.1, 2130706433, ::ffff:7f00:1); [] for a name.

    Parsed by getaddrinfo itself, without a look-up, so the hub reads a literal exactly as a connection would.
    """
    try:
        answers = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return []
    return [ip_address(answer[4][0]) for answer in answers]


def host_category(host: str, allowed_networks: Iterable[IPNetwork]) -> str | None:
    """Why a URL's host is refused without a DNS look-up (an address, `localhost`, a metadata name), or None.

    Other names are judged when a request connects, on the addresses they resolve to then.
    """
    name = host.lower().rstrip(".")
    if name in CLOUD_METADATA_NAMES:
        return CLOUD_METADATA
    allowed = tuple(allowed_networks)
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return refused_category(IPv4Address("127.0.0.1"), allowed)
    for address in literal_addresses(host):
        if category := refused_category(address, allowed):
            return category
    return None
