"""The guarded HTTP client on real sockets: what it refuses, what allowed networks open, and the limits of a fetch.

127.0.0.1 stands for an internal system the hub must not reach; 127.0.0.2, opened with an allowed network, stands
for a public server. Host names are answered by `Dns`, the resolver the hub lets tests inject.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest

from connectors.attachments import download
from connectors.base import DestinationRefused, PermanentSendError, TransientSendError
from hub.egress import DeadlineExceeded, EgressPolicy, ResponseTooLarge, guarded_client
from tests.hub.stand_ins import Dns, body, redirect, stall, stand_in, stand_ins_on_one_port, trickle

PUBLIC_STAND_IN = "127.0.0.2"
OPEN_PUBLIC_STAND_IN = (ip_network(f"{PUBLIC_STAND_IN}/32"),)


async def fetch(policy: EgressPolicy, url: str, **request: object) -> httpx.Response:
    async with guarded_client(policy) as client:
        async with asyncio.timeout(20):
            return await client.get(url, **request)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "localhost"]
)
async def test_loopback_in_any_spelling_is_refused_and_never_reached(host):
    with stand_in({"/internal/admin": body(b"secret")}) as internal:
        with pytest.raises(DestinationRefused) as refused:
            await fetch(EgressPolicy(), internal.url("/internal/admin", host=host))
        assert refused.value.category == "loopback"
        assert "points to a loopback address, which this hub may not reach" in refused.value.reason
        assert internal.asked == []


async def test_an_allowed_network_opens_a_private_address():
    with stand_in({"/status": body(b"on-premises")}) as internal:
        answer = await fetch(
            EgressPolicy(allowed_networks=(ip_network("127.0.0.0/8"),)), internal.url("/status")
        )
    assert answer.status_code == 200 and answer.content == b"on-premises"


async def test_a_name_is_judged_on_the_address_it_resolves_to():
    dns = Dns({"files.example.test": [["127.0.0.1"]]})
    with stand_in({"/a.png": body(b"secret")}) as internal, pytest.raises(DestinationRefused) as refused:
        await fetch(EgressPolicy(resolver=dns), internal.url("/a.png", host="files.example.test"))
    assert refused.value.destination == "files.example.test" and refused.value.category == "loopback"
    assert dns.asked == ["files.example.test"] and internal.asked == []


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
async def test_cloud_metadata_stays_refused_whatever_networks_are_allowed(address):
    everything = (ip_network("0.0.0.0/0"), ip_network("::/0"))
    policy = EgressPolicy(allowed_networks=everything, resolver=Dns({"metadata.example.test": [[address]]}))
    with pytest.raises(DestinationRefused) as refused:
        await fetch(policy, "http://metadata.example.test/latest/meta-data/iam/security-credentials/")
    assert refused.value.category == "cloud metadata"


async def test_a_name_resolving_to_allowed_and_refused_addresses_connects_only_to_an_allowed_one():
    dns = Dns({"mixed.example.test": [["127.0.0.1", PUBLIC_STAND_IN]]})
    with stand_ins_on_one_port(
        ("127.0.0.1", {"/": body(b"internal")}), (PUBLIC_STAND_IN, {"/": body(b"public")})
    ) as (internal, public):
        answer = await fetch(
            EgressPolicy(OPEN_PUBLIC_STAND_IN, resolver=dns), public.url(host="mixed.example.test")
        )
    assert answer.content == b"public" and internal.asked == []


async def test_a_dns_answer_that_changes_after_the_check_cannot_bypass_it():
    """The name is looked up once per connection and the connection goes to the address judged, never re-resolved."""
    dns = Dns({"rebind.example.test": [[PUBLIC_STAND_IN], ["127.0.0.1"]]})
    policy = EgressPolicy(OPEN_PUBLIC_STAND_IN, resolver=dns)
    with stand_ins_on_one_port(
        ("127.0.0.1", {"/": body(b"internal")}), (PUBLIC_STAND_IN, {"/": body(b"public")})
    ) as (internal, public):
        url = public.url(host="rebind.example.test")
        first = await fetch(policy, url)
        assert first.content == b"public" and dns.asked == ["rebind.example.test"]
        with pytest.raises(DestinationRefused):
            await fetch(policy, url)
    assert dns.asked == ["rebind.example.test"] * 2 and internal.asked == []


async def test_every_redirect_hop_is_judged():
    dns = Dns({"metadata.example.test": [["169.254.169.254"]]})
    with (
        stand_in({"/internal/admin": body(b"secret")}) as internal,
        stand_in(
            {
                "/to-internal": redirect(internal.url("/internal/admin")),
                "/to-metadata": redirect("http://metadata.example.test/latest/"),
                "/to-allowed": redirect("/file.png"),
                "/file.png": body(b"PNG"),
            },
            PUBLIC_STAND_IN,
        ) as public,
    ):
        policy = EgressPolicy(OPEN_PUBLIC_STAND_IN, resolver=dns)
        for path, category in (("/to-internal", "loopback"), ("/to-metadata", "cloud metadata")):
            with pytest.raises(DestinationRefused) as refused:
                await fetch(policy, public.url(path), follow_redirects=True)
            assert refused.value.category == category
        followed = await fetch(policy, public.url("/to-allowed"), follow_redirects=True)
    assert followed.content == b"PNG"
    assert internal.asked == [] and public.asked == [
        "/to-internal",
        "/to-metadata",
        "/to-allowed",
        "/file.png",
    ]


@pytest.mark.parametrize("declare_length", [True, False])
async def test_an_answer_larger_than_the_policy_allows_is_refused(declare_length):
    policy = EgressPolicy(OPEN_PUBLIC_STAND_IN, max_response_bytes=4096)
    routes = {
        "/big": body(b"x" * 4097, declare_length=declare_length),
        "/fits": body(b"x" * 4096, declare_length=declare_length),
    }
    with stand_in(routes, PUBLIC_STAND_IN) as server:
        with pytest.raises(ResponseTooLarge, match="larger than 4096 bytes"):
            await fetch(policy, server.url("/big"))
        assert len((await fetch(policy, server.url("/fits"))).content) == 4096


async def test_an_answer_declaring_too_large_a_body_is_refused_before_it_is_read():
    policy = EgressPolicy(OPEN_PUBLIC_STAND_IN, max_response_bytes=4096, deadline_seconds=10)
    with stand_in({"/huge": trickle(1_000_000)}, PUBLIC_STAND_IN) as server, pytest.raises(ResponseTooLarge):
        await fetch(policy, server.url("/huge"))


@pytest.mark.parametrize(
    "slow_server", [trickle(1_000_000), stall], ids=["body-trickles", "headers-never-come"]
)
async def test_a_slow_server_is_cut_at_the_deadline(slow_server):
    """Each byte arrives well within the 15-second read timeout; only the deadline on the whole fetch ends it."""
    policy = EgressPolicy(OPEN_PUBLIC_STAND_IN, deadline_seconds=0.5)
    with stand_in({"/slow": slow_server}, PUBLIC_STAND_IN) as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"within 0\.5 seconds"):
            await fetch(policy, server.url("/slow"))
    assert time.monotonic() - started < 5


async def test_downloading_an_attachment_maps_each_refusal_to_a_reason_an_agent_can_read():
    dns = Dns({"files.example.test": [["127.0.0.1"]]})
    policy = EgressPolicy(OPEN_PUBLIC_STAND_IN, deadline_seconds=0.5, resolver=dns)
    routes = {
        "/big.png": body(b"x" * 2049, "image/png", declare_length=False),
        "/huge.png": trickle(1_000_000),
        "/slow.png": trickle(2000),
        "/moved.png": redirect("/a.png"),
        "/a.png": body(b"PNG", "image/png; charset=binary"),
    }
    with stand_in(routes, PUBLIC_STAND_IN) as server, stand_in({"/a.png": body(b"secret")}) as internal:
        async with guarded_client(policy) as client:
            with pytest.raises(PermanentSendError) as refused:
                await download(client, internal.url("/a.png", host="files.example.test"), 2048)
            assert refused.value.reason == (
                "The attachment URL points to a loopback address, which this hub may not reach"
            )
            for too_large in ("/big.png", "/huge.png"):
                with pytest.raises(PermanentSendError, match="larger than 2048 bytes"):
                    await download(client, server.url(too_large), 2048)
            with pytest.raises(TransientSendError, match="DeadlineExceeded"):
                await download(client, server.url("/slow.png"), 2048)
            moved = await download(client, server.url("/moved.png"), 2048)
    assert moved.content == b"PNG" and moved.mime_type == "image/png"
    assert internal.asked == []


def test_the_hub_and_the_connectors_build_no_http_client_but_the_guarded_one():
    """Every later feature (webhooks, routing, bots, LLMs) must fetch with `Hub.http`, never a client of its own."""
    repository = Path(__file__).resolve().parents[2]
    builders = [
        path.relative_to(repository).as_posix()
        for package in ("hub", "connectors", "admin_ui")
        for path in (repository / package).rglob("*.py")
        if "AsyncClient(" in path.read_text() or "httpx.Client(" in path.read_text()
    ]
    contract_kit = "connectors/testing.py"  # its client only ever meets respx, in connectors' own tests
    assert sorted(builders) == [contract_kit, "hub/egress/client.py"]


class KeepAliveServer:
    """An HTTP/1.1 server on loopback that keeps connections open, counts those it was asked to open and the most
    requests it held at once. Each answer waits until `together` requests are in flight (or `patience` seconds
    passed), so the requests a client can send side by side are all held at once.
    """

    def __init__(self, together: int, patience: float = 5.0) -> None:
        self._together = together
        self._patience = patience
        self._gathered = asyncio.Event()
        self.connections = 0
        self.answered = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.url = ""

    async def __aenter__(self) -> KeepAliveServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                if self.in_flight >= self._together:
                    self._gathered.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._gathered.wait(), self._patience)
                self.in_flight -= 1
                self.answered += 1
                if not self.in_flight:
                    self._gathered.clear()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


async def test_every_connection_of_a_burst_is_kept_and_the_next_burst_runs_as_wide():
    policy = EgressPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))
    async with KeepAliveServer(together=40) as server, guarded_client(policy) as client:
        for _burst in range(3):
            server.most_in_flight = 0
            answers = await asyncio.gather(*(client.get(server.url) for _ in range(40)))
            assert {answer.status_code for answer in answers} == {200}
            assert server.most_in_flight == 40
    assert server.answered == 120 and server.connections == 40


async def test_a_client_sized_for_a_burst_queues_requests_on_its_connections_and_still_judges_them():
    async with KeepAliveServer(together=4) as server:
        allowed = EgressPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))
        async with guarded_client(allowed, max_connections=4) as client:
            answers = await asyncio.gather(*(client.get(server.url) for _ in range(20)))
        assert {answer.status_code for answer in answers} == {200}
        assert server.answered == 20 and server.connections == 4 and server.most_in_flight == 4
        async with guarded_client(EgressPolicy(), max_connections=4) as client:
            with pytest.raises(DestinationRefused):
                await client.get(server.url)
        assert server.answered == 20 and server.connections == 4
