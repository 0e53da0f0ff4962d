"""Address classification of the egress policy: which destinations are refused, and what allowed networks open."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from connectors.base import DestinationRefused
from hub.egress import EgressPolicy
from hub.egress.addresses import address_category, host_category, refused_category


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private network"),
        ("172.16.0.1", "private network"),
        ("172.31.255.255", "private network"),
        ("192.168.1.1", "private network"),
        ("fc00::1", "private network"),
        ("fd12:3456::1", "private network"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("febf:ffff::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("2002:7f00:1::1", "reserved"),
        ("2001::1", "reserved"),
        ("::7f00:1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fd00:ec2::254%eth0", "cloud metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private network"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("64:ff9b:1::1", "private network"),
    ],
)
def test_addresses_are_classified(address, category):
    assert address_category(ip_address(address)) == category


@given(st.ip_addresses())
def test_only_global_unicast_addresses_pass(address):
    """Python's own registry of special addresses is an independent oracle: nothing it calls non-global passes."""
    if address_category(address) is None:
        assert address.is_global and not address.is_multicast


@given(st.ip_addresses(v=4))
def test_ipv6_forms_of_an_ipv4_address_are_judged_as_that_address(address):
    mapped = IPv6Address(f"::ffff:{address}")
    nat64 = IPv6Address(int(IPv6Address("64:ff9b::")) | int(address))
    assert address_category(mapped) == address_category(nat64) == address_category(address)


@given(
    st.ip_addresses(v=4, network="10.0.0.0/8")
    | st.ip_addresses(v=4, network="127.0.0.0/8")
    | st.ip_addresses(v=6, network="fc00::/7").filter(
        lambda address: address_category(address) == "private network"
    )
)
def test_allowed_networks_open_the_addresses_they_hold_and_no_others(address):
    assert refused_category(address, ()) is not None
    assert refused_category(address, (ip_network(f"{address}/{address.max_prefixlen}"),)) is None
    elsewhere = ip_network("192.168.77.0/24") if isinstance(address, IPv4Address) else ip_network("fd77::/16")
    assume(address not in elsewhere)
    assert refused_category(address, (elsewhere,)) == address_category(address)


def test_an_allowed_ipv4_network_opens_its_ipv6_mapped_form():
    assert refused_category(ip_address("::ffff:10.1.2.3"), (ip_network("10.0.0.0/8"),)) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "169.254.169.254", "fd00:ec2::254", "::"])
def test_no_allowed_network_opens_cloud_metadata_or_the_unspecified_address(address):
    everything = (ip_network("0.0.0.0/0"), ip_network("::/0"))
    assert refused_category(ip_address(address), everything) is not None


@pytest.mark.parametrize(
    ("host", "category"),
    [
        ("localhost", "loopback"),
        ("LOCALHOST.", "loopback"),
        ("admin.localhost", "loopback"),
        ("127.1", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f.0.0.1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("metadata.google.internal", "cloud metadata"),
        ("169.254.169.254", "cloud metadata"),
        ("api.weixin.qq.com", None),
        ("wechat-proxy.example.test", None),
        ("8.8.8.8", None),
    ],
)
def test_hosts_are_judged_without_a_dns_look_up(host, category):
    assert host_category(host, ()) == category


def test_localhost_is_opened_with_the_loopback_network():
    assert host_category("localhost", (ip_network("127.0.0.0/8"),)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://169.254.169.254/",
        "https://[::ffff:a9fe:a9fe]/",
        "http://localhost:8441/internal/admin",
        "http://[fd00:ec2::254]/latest/",
    ],
)
def test_urls_are_judged_by_their_host(url):
    with pytest.raises(DestinationRefused):
        EgressPolicy().judge_url(url)


@pytest.mark.parametrize("url", ["https://api.weixin.qq.com", "https://name-that-does-not-resolve.invalid/x"])
def test_names_pass_until_a_request_connects(url):
    EgressPolicy().judge_url(url)
