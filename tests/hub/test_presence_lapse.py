"""Embedded mode keeps presence in the in-process registry: the web process's heartbeat holds its own sockets' agents
online, and releases an agent whose connections lapsed (what a web process that died would leave) to offline,
their conversations back to the queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import select

from hub.agent_connections import AgentKey, MemoryAgentConnections
from hub.models import Agent
from hub.presence import PresenceHeartbeat, release_lapsed, store_offline, store_presence
from hub.settings import Settings
from hub.statuses import AgentPresence
from tests.conftest import run, wait_for
from tests.hub.test_agent_connections import FakeClock
from tests.hub.test_assignment_api import (  # noqa: F401  (desk is a fixture)
    assigned_to,
    desk,
    new_conversation,
    presence,
    presence_of,
)

HEARTBEAT_SECONDS = 0.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"presence_heartbeat_seconds": HEARTBEAT_SECONDS})


def test_an_agent_whose_connection_lapsed_goes_offline_while_one_connected_here_stays(
    client,
    desk: dict[str, Any],  # noqa: F811
) -> None:
    ann, bob = desk["agents"]["ann"], desk["agents"]["bob"]
    with client.websocket_connect(f"/api/v1/agent/ws?token={bob['token']}") as bobs_tab:
        assert bobs_tab.receive_json()["type"] == "ready"
        presence(client, bob, "away")
        presence(client, ann, "online")
        waiting = new_conversation(client, desk)
        assigned_to(client, desk, waiting, ann["id"])
        registry = client.app.state.hub.agent_connections
        # A connection nothing refreshes, as the socket of a web process that was killed leaves it.
        asyncio.run(registry.connect(AgentKey(desk["workspace_id"], ann["id"]), "tab-on-a-dead-process"))
        wait_for(lambda: presence_of(client, desk, ann["id"]) == "offline")
        assigned_to(client, desk, waiting, None)
        assert presence_of(client, desk, bob["id"]) == "away", "held by this process's heartbeat meanwhile"


def test_a_last_tab_closing_as_another_opens_elsewhere_leaves_the_agent_online(settings, demo) -> None:
    """The close's OFFLINE stored after the new tab's ONLINE (two web processes, in either order) is put right."""

    async def close_late(hub) -> str:
        async with hub.database.session() as session:
            admin = (
                await session.exec(select(Agent).where(Agent.workspace_id == demo["workspace_id"]))
            ).one()
        agent = AgentKey(demo["workspace_id"], admin.id)
        assert await hub.agent_connections.connect(agent, "new-tab-elsewhere")
        await store_presence(hub, agent, AgentPresence.ONLINE)
        await store_offline(hub, agent)
        async with hub.database.session() as session:
            return (await session.get_one(Agent, admin.id)).presence

    assert run(close_late, settings) == "online"


def test_a_web_process_that_stalled_past_the_time_to_live_brings_its_agents_back(settings, demo) -> None:
    """Its connections lapsed and another process released the agent (offline): the next beat stores them online
    again. Not released yet, they keep what they chose (away)."""

    async def stall(hub) -> list[str]:
        clock = FakeClock()
        hub.agent_connections = MemoryAgentConnections(30.0, clock)
        heartbeat = PresenceHeartbeat(hub)
        async with hub.database.session() as session:
            admin = (
                await session.exec(select(Agent).where(Agent.workspace_id == demo["workspace_id"]))
            ).one()
        agent = AgentKey(demo["workspace_id"], admin.id)

        async def presence_after_a_stall() -> str:
            clock.now += 31
            await heartbeat.beat()
            async with hub.database.session() as session:
                return (await session.get_one(Agent, admin.id)).presence

        async with heartbeat.connection(agent):
            await store_presence(hub, agent, AgentPresence.AWAY)
            kept_away = await presence_after_a_stall()
            clock.now += 31
            assert await release_lapsed(hub) == 1
            released_then_back = await presence_after_a_stall()
        return [kept_away, released_then_back]

    assert run(stall, settings) == ["away", "online"]
