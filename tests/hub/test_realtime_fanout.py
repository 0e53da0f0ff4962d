"""The process's fan-out to sockets: order, events that arrive before a socket is bound, and unsubscribing."""

from __future__ import annotations

import asyncio

from litestar.channels import ChannelsPlugin
from litestar.exceptions import WebSocketDisconnect

from hub.realtime import make_channels_plugin


class RecordingSocket:
    """Stands in for a WebSocket: records what is sent, slowly, so events pile up behind each other."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[str] = []
        self._fail_after = fail_after

    async def send_text(self, text: str) -> None:
        if self._fail_after is not None and len(self.sent) >= self._fail_after:
            raise WebSocketDisconnect(detail="closed")
        await asyncio.sleep(0.001)
        self.sent.append(text)


async def _running_plugin() -> ChannelsPlugin:
    plugin = make_channels_plugin(None)
    await plugin._on_startup()
    return plugin


async def _settle(socket: RecordingSocket, count: int) -> None:
    async with asyncio.timeout(5):
        while len(socket.sent) < count:
            await asyncio.sleep(0.005)


def test_a_bound_socket_gets_every_event_in_order_including_those_before_binding():
    async def scenario() -> list[str]:
        plugin = await _running_plugin()
        try:
            async with plugin.start_subscription(["audience.x"]) as subscriber:
                for number in range(3):
                    plugin.publish(f"early {number}".encode(), ["audience.x"])
                await asyncio.sleep(0.05)
                socket = RecordingSocket()
                subscriber.send_to(socket)
                for number in range(50):
                    plugin.publish(f"late {number}".encode(), ["audience.x"])
                await _settle(socket, 53)
                return socket.sent
        finally:
            await plugin._on_shutdown()

    sent = asyncio.run(scenario())
    assert sent == [f"early {number}" for number in range(3)] + [f"late {number}" for number in range(50)]


def test_an_idle_bound_socket_holds_no_task_and_no_queue():
    async def scenario() -> tuple[bool, bool, bool]:
        plugin = await _running_plugin()
        try:
            async with plugin.start_subscription(["audience.idle"]) as subscriber:
                socket = RecordingSocket()
                subscriber.send_to(socket)
                plugin.publish(b"one", ["audience.idle"])
                await _settle(socket, 1)
                await asyncio.sleep(0.01)
                return subscriber._sending is None, subscriber._made_queue is None, not subscriber.is_running
        finally:
            await plugin._on_shutdown()

    assert asyncio.run(scenario()) == (True, True, True)


def test_a_closed_socket_stops_receiving_and_leaving_the_subscription_ends_delivery():
    async def scenario() -> tuple[list[str], list[str]]:
        plugin = await _running_plugin()
        try:
            broken = RecordingSocket(fail_after=1)
            async with plugin.start_subscription(["audience.gone"]) as subscriber:
                subscriber.send_to(broken)
                for number in range(3):
                    plugin.publish(f"event {number}".encode(), ["audience.gone"])
                await asyncio.sleep(0.1)
            left = RecordingSocket()
            async with plugin.start_subscription(["audience.left"]) as subscriber:
                subscriber.send_to(left)
            plugin.publish(b"after leaving", ["audience.left"])
            await asyncio.sleep(0.1)
            return broken.sent, left.sent
        finally:
            await plugin._on_shutdown()

    broken_sent, left_sent = asyncio.run(scenario())
    assert broken_sent == ["event 0"]
    assert left_sent == []


def test_an_unbound_subscription_still_iterates_events_for_long_polls():
    async def scenario() -> bytes:
        plugin = await _running_plugin()
        try:
            async with plugin.start_subscription(["audience.poll"]) as subscriber:
                plugin.publish(b"reply", ["audience.poll"])
                async with asyncio.timeout(5):
                    async for event in subscriber.iter_events():
                        return event
        finally:
            await plugin._on_shutdown()
        raise AssertionError("no event")

    assert asyncio.run(scenario()) == b"reply"
