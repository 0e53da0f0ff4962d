"""The presence registry, in memory (embedded) and in Redis (production): an agent is connected while any of their
connections lives, on any process, and connections nobody refreshes lapse after their time to live."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.agent_connections import (
    AgentConnections,
    AgentKey,
    MemoryAgentConnections,
    RedisAgentConnections,
    presence_shown,
)
from hub.statuses import AgentPresence

ANN = AgentKey("workspace-1", "agent-ann")
BOB = AgentKey("workspace-1", "agent-bob")
LONG_TTL = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def connections(request: pytest.FixtureRequest) -> AgentConnections:
    if request.param == "memory":
        return MemoryAgentConnections(LONG_TTL)
    return RedisAgentConnections(request.getfixturevalue("redis_url"), LONG_TTL)


async def test_the_first_connection_brings_an_agent_and_only_the_last_one_closing_takes_them(
    connections: AgentConnections,
) -> None:
    assert await connections.connect(ANN, "tab-1") is True
    assert await connections.connected(ANN) is True
    assert await connections.connect(ANN, "tab-2") is False, "a second tab: already connected"
    assert await connections.connect(BOB, "tab-3") is True, "each agent is counted apart"
    assert await connections.disconnect(ANN, "tab-1") is False, "tab-2 is still open"
    assert await connections.disconnect(ANN, "tab-2") is True
    assert await connections.connected(ANN) is False
    assert await connections.connected(BOB) is True
    assert await connections.connect(ANN, "tab-4") is True, "back after having gone"
    assert await connections.refresh([(ANN, "tab-4"), (BOB, "tab-3")]) == [], "a heartbeat brings nobody back"
    assert await connections.lapsed_among([ANN.agent_id, BOB.agent_id, "agent-never"]) == set()
    assert await connections.lapsed_agents(10) == []
    await connections.close()


async def test_of_two_tabs_closing_at_once_exactly_one_is_the_last(connections: AgentConnections) -> None:
    for round_number in range(20):
        tabs = [f"tab-{round_number}-{number}" for number in range(5)]
        for tab in tabs:
            await connections.connect(ANN, tab)
        lasts = await asyncio.gather(*(connections.disconnect(ANN, tab) for tab in tabs))
        assert sorted(lasts) == [False] * 4 + [True]
    await connections.close()


async def test_closing_a_connection_twice_or_one_never_held_is_harmless(
    connections: AgentConnections,
) -> None:
    await connections.connect(ANN, "tab-1")
    await connections.connect(ANN, "tab-2")
    assert await connections.disconnect(ANN, "unknown") is False
    assert await connections.disconnect(ANN, "tab-1") is False
    assert await connections.disconnect(ANN, "tab-1") is False
    assert await connections.disconnect(ANN, "tab-2") is True
    assert await connections.disconnect(ANN, "tab-2") is True
    assert await connections.forget_lapsed(ANN) is False
    await connections.close()


async def test_in_memory_connections_not_refreshed_lapse_after_their_time_to_live_and_the_agent_reads_offline() -> (
    None
):
    clock = FakeClock()
    connections = MemoryAgentConnections(30.0, clock)
    await connections.connect(ANN, "tab-on-a-process-that-dies")
    await connections.connect(BOB, "tab-1")
    clock.now += 20
    assert await connections.refresh([(BOB, "tab-1")]) == []
    clock.now += 9.9
    assert await connections.lapsed_among([ANN.agent_id, BOB.agent_id]) == set()
    clock.now += 0.2
    assert await connections.lapsed_among([ANN.agent_id, BOB.agent_id]) == {ANN.agent_id}
    assert [await connections.connected(ANN), await connections.connected(BOB)] == [False, True]
    assert await connections.lapsed_agents(10) == [ANN]
    assert presence_shown("online", lapsed=True) is AgentPresence.OFFLINE
    assert presence_shown("away", lapsed=False) is AgentPresence.AWAY
    assert await connections.forget_lapsed(ANN) is False
    assert await connections.lapsed_agents(10) == [], "forgotten once released"
    assert await connections.lapsed_among([ANN.agent_id]) == set(), "then the stored presence (offline) holds"
    clock.now += 20.1
    assert await connections.lapsed_agents(10) == [BOB], "refreshed at +20, lapsed at +50"


async def test_in_memory_a_reaper_finds_an_agent_who_reconnected_meanwhile_still_connected() -> None:
    clock = FakeClock()
    connections = MemoryAgentConnections(30.0, clock)
    await connections.connect(ANN, "old-tab")
    clock.now += 31
    assert await connections.lapsed_agents(10) == [ANN]
    assert await connections.connect(ANN, "new-tab") is True, "no live connection was left: they come back"
    assert await connections.forget_lapsed(ANN) is True
    assert await connections.lapsed_agents(10) == []


async def test_in_memory_a_stalled_heartbeat_brings_its_agents_back() -> None:
    clock = FakeClock()
    connections = MemoryAgentConnections(30.0, clock)
    await connections.connect(ANN, "tab-1")
    await connections.connect(BOB, "tab-2")
    await connections.connect(BOB, "tab-3")
    clock.now += 40
    assert await connections.refresh([(ANN, "tab-1"), (BOB, "tab-2"), (BOB, "tab-3")]) == [ANN, BOB]
    assert await connections.lapsed_agents(10) == []


async def test_in_redis_connections_not_refreshed_lapse_by_rediss_clock(redis_url: str) -> None:
    connections = RedisAgentConnections(redis_url, ttl_seconds=0.3)
    await connections.connect(ANN, "tab-on-a-process-that-dies")
    await connections.connect(BOB, "tab-1")
    deadline = time.monotonic() + 10
    while await connections.lapsed_among([ANN.agent_id]) != {ANN.agent_id}:
        await connections.refresh([(BOB, "tab-1")])
        assert time.monotonic() < deadline, "the connection never lapsed"
        await asyncio.sleep(0.02)
    assert ANN in await connections.lapsed_agents(10)
    assert [await connections.connected(ANN), await connections.connected(BOB)] == [False, True]
    assert await connections.forget_lapsed(ANN) is False
    assert ANN not in await connections.lapsed_agents(10)
    assert await connections.lapsed_among([ANN.agent_id]) == set()
    await connections.close()
