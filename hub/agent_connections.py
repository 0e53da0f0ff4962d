"""Which agents have a live connection (an inbox tab's socket), shared by every web process and worker.

Each connection is held with an expiry that its web process's heartbeat pushes back (hub.presence); a process
that dies without closing its sockets stops refreshing them, so they lapse within the time to live. An agent
whose every connection has lapsed reads as offline at once, before the reaper (hub.presence.release_lapsed)
stores them offline and gives their conversations back to the queue. Agents who never connected (an API
client setting its presence) are not in the registry and keep the presence stored for them.

In memory embedded (one process: the web loop and the worker threads share one registry); in Redis when
several processes share it, with Redis's clock as the one clock every process reads expiries by.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from redis.asyncio import Redis

from hub.statuses import AgentPresence

__all__ = [
    "AgentConnections",
    "AgentKey",
    "MemoryAgentConnections",
    "RedisAgentConnections",
    "make_agent_connections",
    "presence_shown",
]

REDIS_PREFIX = "omnihub:presence"
AGENTS_KEY = f"{REDIS_PREFIX}:agents"
"""Sorted set: `<workspace id> <agent id>` scored by the expiry (ms, Redis's clock) of the agent's newest
connection, so the agents whose connections have all lapsed are one range query away."""

_NOW_MS = """
local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
CONNECT = (
    _NOW_MS
    + """
local agents, ttl, replies = KEYS[#KEYS], tonumber(ARGV[1]), {}
for index = 1, #KEYS - 1 do
    local key, connection, member = KEYS[index], ARGV[2 * index], ARGV[2 * index + 1]
    redis.call("ZREMRANGEBYSCORE", key, "-inf", now)
    replies[index] = redis.call("ZCARD", key) == 0 and 1 or 0
    redis.call("ZADD", key, now + ttl, connection)
    redis.call("ZADD", agents, "GT", now + ttl, member)
end
return replies
"""
)
"""Hold each (agent key, connection) until now + ttl; 1 for those whose agent had no live connection."""
_DROP_LAPSED = """
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
local newest = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
if #newest == 0 then
    redis.call("ZREM", KEYS[2], ARGV[1])
    return 1
end
redis.call("ZADD", KEYS[2], newest[2], ARGV[1])
return 0
"""
FORGET_LAPSED = _NOW_MS + _DROP_LAPSED
"""Drop the agent's lapsed connections and set its expiry in the agents' set to its newest; 1 if none is left."""
DISCONNECT = _NOW_MS + 'redis.call("ZREM", KEYS[1], ARGV[2])' + _DROP_LAPSED
"""Drop one connection, then as FORGET_LAPSED."""
LAPSED_AGENTS = (
    _NOW_MS
    + """
return redis.call("ZRANGE", KEYS[1], "-inf", now, "BYSCORE", "LIMIT", 0, tonumber(ARGV[1]))
"""
)
"""Agents whose newest connection expired: at or before now, the bound every script keeps (live is after now)."""
CONNECTED = (
    _NOW_MS
    + """
return redis.call("ZCOUNT", KEYS[1], "(" .. now, "+inf")
"""
)
LAPSED_AMONG = (
    _NOW_MS
    + """
local replies = {}
for index, key in ipairs(KEYS) do
    local held = redis.call("ZCARD", key)
    replies[index] = (held > 0 and redis.call("ZCOUNT", key, "(" .. now, "+inf") == 0) and 1 or 0
end
return replies
"""
)


class AgentKey(NamedTuple):
    workspace_id: str
    agent_id: str


def presence_shown(stored: str, lapsed: bool) -> AgentPresence:
    """What routing and the API read: the presence stored for the agent, unless their connections have lapsed."""
    return AgentPresence.OFFLINE if lapsed else AgentPresence(stored)


class AgentConnections(Protocol):
    ttl_seconds: float

    async def connect(self, agent: AgentKey, connection_id: str) -> bool:
        """Hold a connection for the time to live (again, for a heartbeat); True when the agent had no live one."""
        ...

    async def refresh(self, connections: list[tuple[AgentKey, str]]) -> list[AgentKey]:
        """The heartbeat: `connect` for each connection a process holds, in one call; answers the agents that
        had no live connection left (the process stalled past the time to live: they come back)."""
        ...

    async def disconnect(self, agent: AgentKey, connection_id: str) -> bool:
        """Let a connection go; True when the agent has no live connection left."""
        ...

    async def connected(self, agent: AgentKey) -> bool:
        """Whether the agent has a live connection now."""
        ...

    async def lapsed_among(self, agent_ids: Iterable[str]) -> set[str]:
        """Of these agents, those held connections once and now have none live (their process died)."""
        ...

    async def lapsed_agents(self, limit: int) -> list[AgentKey]:
        """Up to `limit` agents whose connections have all lapsed, for the reaper; they stay listed until
        `forget_lapsed`, so a reaper that dies halfway leaves them to the next."""
        ...

    async def forget_lapsed(self, agent: AgentKey) -> bool:
        """Drop the agent's lapsed connections; True if a live one was made meanwhile (they reconnected)."""
        ...

    async def close(self) -> None: ...


class MemoryAgentConnections:
    """For embedded mode's one process; a lock makes it safe for the worker threads' event loops too."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._expiries: dict[AgentKey, dict[str, float]] = {}
        """agent -> connection id -> when it lapses unless refreshed."""

    async def connect(self, agent: AgentKey, connection_id: str) -> bool:
        [came_back] = self._hold([(agent, connection_id)])
        return came_back

    async def refresh(self, connections: list[tuple[AgentKey, str]]) -> list[AgentKey]:
        returned = self._hold(connections)
        return [agent for (agent, _), came_back in zip(connections, returned, strict=True) if came_back]

    def _hold(self, connections: list[tuple[AgentKey, str]]) -> list[bool]:
        now = self._clock()
        answers = []
        with self._lock:
            for agent, connection_id in connections:
                held = self._live(agent, now)
                answers.append(not held)
                held[connection_id] = now + self.ttl_seconds
        return answers

    def _live(self, agent: AgentKey, now: float) -> dict[str, float]:
        """The agent's connections, lapsed ones dropped (the lock is held)."""
        held = {each: expiry for each, expiry in self._expiries.get(agent, {}).items() if expiry > now}
        self._expiries[agent] = held
        return held

    async def disconnect(self, agent: AgentKey, connection_id: str) -> bool:
        with self._lock:
            held = self._live(agent, self._clock())
            held.pop(connection_id, None)
            if not held:
                del self._expiries[agent]
            return not held

    async def connected(self, agent: AgentKey) -> bool:
        now = self._clock()
        with self._lock:
            return any(expiry > now for expiry in self._expiries.get(agent, {}).values())

    async def lapsed_among(self, agent_ids: Iterable[str]) -> set[str]:
        wanted, now = set(agent_ids), self._clock()
        with self._lock:
            return {
                agent.agent_id
                for agent, held in self._expiries.items()
                if agent.agent_id in wanted and held and max(held.values()) <= now
            }

    async def lapsed_agents(self, limit: int) -> list[AgentKey]:
        now = self._clock()
        with self._lock:
            lapsed = [agent for agent, held in self._expiries.items() if held and max(held.values()) <= now]
        return lapsed[:limit]

    async def forget_lapsed(self, agent: AgentKey) -> bool:
        with self._lock:
            if self._live(agent, self._clock()):
                return True
            del self._expiries[agent]
            return False

    async def close(self) -> None:
        """Nothing to release: the registry lives as long as the process."""


class RedisAgentConnections:
    """Each operation is one script: atomic, so of two tabs closing at once on two processes exactly one is last."""

    def __init__(self, redis_url: str, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._redis = Redis.from_url(redis_url)
        self._connect = self._redis.register_script(CONNECT)
        self._disconnect = self._redis.register_script(DISCONNECT)
        self._lapsed_agents = self._redis.register_script(LAPSED_AGENTS)
        self._forget_lapsed = self._redis.register_script(FORGET_LAPSED)
        self._lapsed_among = self._redis.register_script(LAPSED_AMONG)
        self._connected = self._redis.register_script(CONNECTED)

    @staticmethod
    def _key(agent_id: str) -> str:
        return f"{REDIS_PREFIX}:agent:{agent_id}"

    @staticmethod
    def _member(agent: AgentKey) -> str:
        return f"{agent.workspace_id} {agent.agent_id}"

    async def connect(self, agent: AgentKey, connection_id: str) -> bool:
        return bool(await self.refresh([(agent, connection_id)]))

    async def refresh(self, connections: list[tuple[AgentKey, str]]) -> list[AgentKey]:
        if not connections:
            return []
        arguments: list[str | int] = [max(int(self.ttl_seconds * 1000), 1)]
        for agent, connection_id in connections:
            arguments += [connection_id, self._member(agent)]
        keys = [self._key(agent.agent_id) for agent, _ in connections] + [AGENTS_KEY]
        replies = await self._connect(keys=keys, args=arguments)
        return [agent for (agent, _), came_back in zip(connections, replies, strict=True) if came_back]

    async def disconnect(self, agent: AgentKey, connection_id: str) -> bool:
        keys = [self._key(agent.agent_id), AGENTS_KEY]
        return bool(await self._disconnect(keys=keys, args=[self._member(agent), connection_id]))

    async def connected(self, agent: AgentKey) -> bool:
        return bool(await self._connected(keys=[self._key(agent.agent_id)]))

    async def lapsed_among(self, agent_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(agent_ids))
        if not ids:
            return set()
        replies = await self._lapsed_among(keys=[self._key(agent_id) for agent_id in ids])
        return {agent_id for agent_id, lapsed in zip(ids, replies, strict=True) if lapsed}

    async def lapsed_agents(self, limit: int) -> list[AgentKey]:
        members = await self._lapsed_agents(keys=[AGENTS_KEY], args=[limit])
        return [AgentKey(*member.decode().split(" ", 1)) for member in members]

    async def forget_lapsed(self, agent: AgentKey) -> bool:
        keys = [self._key(agent.agent_id), AGENTS_KEY]
        return not await self._forget_lapsed(keys=keys, args=[self._member(agent)])

    async def close(self) -> None:
        await self._redis.aclose()


def make_agent_connections(redis_url: str | None, ttl_seconds: float) -> AgentConnections:
    if redis_url:
        return RedisAgentConnections(redis_url, ttl_seconds)
    return MemoryAgentConnections(ttl_seconds)
