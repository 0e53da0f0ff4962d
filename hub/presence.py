"""Agent presence: chosen by the agent (online, away), and held by their connections.

The agent's first live connection on any web process sets them online; the last one ending sets them offline
(what they held goes back to the queue). Connections are counted in the shared registry
(hub.agent_connections), and each web process's heartbeat refreshes the ones it holds every
`presence_heartbeat_seconds`, for three times as long: a process that dies (SIGKILL, a lost host) leaves
connections that lapse within that time to live. Their agents then read as offline at once, and the next
heartbeat of any web process, or the sweeper, stores them offline and reroutes their conversations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import update
from sqlmodel import col

from hub import actors
from hub.agent_connections import AgentKey
from hub.models import Agent
from hub.runtime import Hub
from hub.statuses import AgentPresence

__all__ = ["PresenceHeartbeat", "presence_changed", "release_lapsed", "store_offline", "store_presence"]

log = logging.getLogger("omnihub.presence")

LAPSED_PER_ROUND = 500


async def presence_changed(hub: Hub, workspace_id: str, presence: AgentPresence) -> None:
    """Online: the agent may take waiting conversations. Offline: what they held goes back to the queue.
    Away: they keep what they hold and get nothing new."""
    if presence is AgentPresence.ONLINE:
        await hub.jobs.send(actors.serve_queue, workspace_id)
    elif presence is AgentPresence.OFFLINE:
        await hub.jobs.send(actors.reroute, workspace_id)


async def store_presence(
    hub: Hub, agent: AgentKey, presence: AgentPresence, *, only_from: AgentPresence | None = None
) -> None:
    """Store the agent's presence (`only_from`: only if it is that now) and act on the change."""
    statement = update(Agent).where(col(Agent.id) == agent.agent_id).values(presence=presence)
    if only_from is not None:
        statement = statement.where(col(Agent.presence) == only_from)
    async with hub.database.session() as session:
        changed = (await session.exec(statement)).rowcount
        await session.commit()
    if changed:
        await presence_changed(hub, agent.workspace_id, presence)


async def store_offline(hub: Hub, agent: AgentKey) -> None:
    """Offline after the agent's last connection ended, unless another opened meanwhile (a tab on another web
    process): its own first-connection ONLINE may have been stored before this OFFLINE, so it is stored again."""
    await store_presence(hub, agent, AgentPresence.OFFLINE)
    if await hub.agent_connections.connected(agent):
        await store_presence(hub, agent, AgentPresence.ONLINE)


async def release_lapsed(hub: Hub) -> int:
    """Store offline (and reroute) the agents whose connections have all lapsed; answer how many.

    The registry forgets them only after, so a reaper that dies halfway leaves them to the next; one that
    finds the agent reconnected meanwhile stores them online again."""
    lapsed = await hub.agent_connections.lapsed_agents(LAPSED_PER_ROUND)
    for agent in lapsed:
        await store_presence(hub, agent, AgentPresence.OFFLINE)
        if await hub.agent_connections.forget_lapsed(agent):
            await store_presence(hub, agent, AgentPresence.ONLINE)
    if lapsed:
        log.warning("presence.lapsed agents=%d", len(lapsed))
    return len(lapsed)


class PresenceHeartbeat:
    """One per web process: the connections its sockets hold, and the task that keeps them alive."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._held: dict[str, AgentKey] = {}
        """connection id -> agent, for this process's open sockets."""

    @contextlib.asynccontextmanager
    async def connection(self, agent: AgentKey) -> AsyncIterator[None]:
        """Hold a connection of the agent while the block runs (a socket is open)."""
        connection_id = uuid.uuid4().hex
        self._held[connection_id] = agent
        try:
            if await self._hub.agent_connections.connect(agent, connection_id):
                await store_presence(self._hub, agent, AgentPresence.ONLINE)
            yield
        finally:
            del self._held[connection_id]
            if await self._hub.agent_connections.disconnect(agent, connection_id):
                await store_offline(self._hub, agent)

    async def beat(self) -> None:
        """Refresh this process's connections, then release the agents whose connections lapsed anywhere."""
        held = list(self._held.items())
        came_back = await self._hub.agent_connections.refresh([(agent, each) for each, agent in held])
        for connection_id, agent in held:
            if connection_id not in self._held and await self._hub.agent_connections.disconnect(
                agent, connection_id
            ):
                # Closed while the refresh was on its way, which held it again: let it go once more.
                await store_offline(self._hub, agent)
        for agent in set(came_back) & set(self._held.values()):
            # This process stalled past the time to live: its agents are back, online if they were released
            # meanwhile, else as they chose (away).
            await store_presence(self._hub, agent, AgentPresence.ONLINE, only_from=AgentPresence.OFFLINE)
        await release_lapsed(self._hub)

    async def run(self) -> None:
        """Beat every `presence_heartbeat_seconds` until cancelled; a failed beat (Redis away) is logged."""
        interval = self._hub.settings.presence_heartbeat_seconds
        while True:
            try:
                await self.beat()
            except Exception:
                log.exception("presence.heartbeat_failed")
            await asyncio.sleep(interval)
