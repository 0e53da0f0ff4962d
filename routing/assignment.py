"""Which agent takes a new conversation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["STRATEGIES", "AgentLoad", "choose_agent"]

STRATEGIES = ("least_busy", "round_robin", "manual")


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent_id: str
    online: bool
    open_conversations: int
    max_concurrent: int
    last_assigned_order: int = 0
    """Lower means assigned longer ago (for round robin)."""

    @property
    def has_capacity(self) -> bool:
        return self.online and self.open_conversations < self.max_concurrent


def choose_agent(strategy: str, agents: Sequence[AgentLoad]) -> str | None:
    """The agent to assign, or None to leave the conversation queued. Never exceeds an agent's capacity."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown routing strategy {strategy!r}")
    candidates = [agent for agent in agents if agent.has_capacity]
    if strategy == "manual" or not candidates:
        return None
    if strategy == "round_robin":
        return min(candidates, key=lambda agent: (agent.last_assigned_order, agent.agent_id)).agent_id
    return min(
        candidates, key=lambda agent: (agent.open_conversations / agent.max_concurrent, agent.open_conversations, agent.agent_id)
    ).agent_id
