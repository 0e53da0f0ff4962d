"""Who may take a conversation: agents and queued conversations as plain data, and the reasons an agent is left out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from routing.hours import WeeklySchedule, is_open

__all__ = [
    "AgentLoad",
    "Exclusion",
    "ExclusionReason",
    "QueuedConversation",
    "Requirements",
    "availability_reasons",
    "exclusion_reasons",
    "on_shift",
]


@dataclass(frozen=True, slots=True)
class AgentLoad:
    """An agent as routing sees one.

    `last_assigned_order`: lower means assigned longer ago (the hub ranks agents by their latest
    assignment); round robin takes the lowest. `shift` None: no shift limits. `vip_tier`: the VIP
    level this agent is meant for (seniority); weighted routing leans VIP customers towards high tiers.
    """

    agent_id: str
    online: bool
    open_conversations: int
    max_concurrent: int
    last_assigned_order: int = 0
    team_ids: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    shift: WeeklySchedule | None = None
    vip_tier: int = 0

    @property
    def spare_capacity(self) -> int:
        return max(0, self.max_concurrent - self.open_conversations)

    @property
    def has_capacity(self) -> bool:
        return self.online and self.spare_capacity > 0


@dataclass(frozen=True, slots=True)
class QueuedConversation:
    """A conversation waiting for an agent.

    `team_id` is set by a transfer to a team and overrides the inbox's team. `avoid_agent_ids` are
    agents it was taken from for not answering: automatic routing does not hand it back to them.
    """

    conversation_id: str
    inbox_id: str
    queued_at: datetime
    vip_level: int = 0
    priority: int = 0
    category: str | None = None
    team_id: str | None = None
    avoid_agent_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Requirements:
    """What an agent must satisfy for one conversation: membership of a team, a skill, not being avoided."""

    team_id: str | None = None
    skill: str | None = None
    avoid_agent_ids: frozenset[str] = frozenset()


class ExclusionReason(StrEnum):
    OFFLINE = "offline"
    AT_CAPACITY = "at_capacity"
    NOT_IN_TEAM = "not_in_team"
    MISSING_SKILL = "missing_skill"
    OFF_SHIFT = "off_shift"
    LEFT_UNANSWERED = "left_unanswered"


@dataclass(frozen=True, slots=True)
class Exclusion:
    agent_id: str
    reasons: tuple[ExclusionReason, ...]


def on_shift(agent: AgentLoad, now: datetime) -> bool:
    return agent.shift is None or is_open(agent.shift, now)


def availability_reasons(agent: AgentLoad) -> tuple[ExclusionReason, ...]:
    """Why the agent can take nothing at all right now (none when online with room)."""
    reasons = []
    if not agent.online:
        reasons.append(ExclusionReason.OFFLINE)
    if agent.spare_capacity <= 0:
        reasons.append(ExclusionReason.AT_CAPACITY)
    return tuple(reasons)


def exclusion_reasons(
    agent: AgentLoad, requirements: Requirements, *, agent_on_shift: bool | None
) -> tuple[ExclusionReason, ...]:
    """Why the agent cannot take this conversation; empty for a candidate.

    `agent_on_shift` None marks an agent's own action (claiming, being transferred to): shifts and
    the avoid list bind automatic routing only.
    """
    reasons = list(availability_reasons(agent))
    if requirements.team_id is not None and requirements.team_id not in agent.team_ids:
        reasons.append(ExclusionReason.NOT_IN_TEAM)
    if requirements.skill is not None and requirements.skill not in agent.skills:
        reasons.append(ExclusionReason.MISSING_SKILL)
    if agent_on_shift is not None:
        if not agent_on_shift:
            reasons.append(ExclusionReason.OFF_SHIFT)
        if agent.agent_id in requirements.avoid_agent_ids:
            reasons.append(ExclusionReason.LEFT_UNANSWERED)
    return tuple(reasons)
