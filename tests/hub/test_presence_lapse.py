"""Embedded mode keeps presence in the in-process registry: the web process's heartbeat holds its own sockets' agents
online, and releases an agent whose connections lapsed (what a web process that died would leave) to offline,
their conversations back to the queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.agent_connections import AgentKey
from hub.settings import Settings
from tests.conftest import wait_for
from tests.hub.test_assignment_api import (  # noqa: F401  (desk is a fixture)
    assigned_to,
    desk,
    new_conversation,
    presence,
    presence_of,
)

HEARTBEAT_SECONDS = 0.05


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
