"""Which agent takes one conversation, by the inbox's strategy, with the reasons for the choice."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from routing.candidates import (
    AgentLoad,
    Exclusion,
    QueuedConversation,
    Requirements,
    exclusion_reasons,
    on_shift,
)
from routing.policy import RoutingPolicy, ScoreWeights, Strategy

__all__ = [
    "STRATEGIES",
    "AssignmentDecision",
    "ExternalAnswer",
    "Outcome",
    "ScoreBreakdown",
    "Split",
    "agent_available",
    "choose_agent",
    "decide",
    "requirements_for",
    "score",
    "split_agents",
]

STRATEGIES: tuple[str, ...] = tuple(Strategy)
"""The strategies an inbox may be set to."""


class Outcome(StrEnum):
    ASSIGNED = "assigned"
    QUEUED = "queued"
    ASK_EXTERNAL = "ask_external"


@dataclass(frozen=True, slots=True)
class ExternalAnswer:
    """What the business's routing service answered: an agent, a team, or (both None) nothing usable.

    On a timeout or an error the hub passes `ExternalAnswer()`, and the inbox's fallback decides.
    """

    agent_id: str | None = None
    team_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    """One agent's weighted score, part by part (each part already multiplied by its weight)."""

    agent_id: str
    vip: float
    skill: float
    spare_capacity: float

    @property
    def total(self) -> float:
        return self.vip + self.skill + self.spare_capacity


@dataclass(frozen=True, slots=True)
class AssignmentDecision:
    """The decision for one conversation, explainable: who was scored how, who was left out and why.

    `strategy` is the one that decided (the fallback after a failed external call). For
    ASK_EXTERNAL, the hub calls the business's service and decides again with its answer;
    `fallback` is what will apply if that call fails.
    """

    conversation_id: str
    outcome: Outcome
    strategy: Strategy
    agent_id: str | None = None
    scores: tuple[ScoreBreakdown, ...] = ()
    excluded: tuple[Exclusion, ...] = ()
    fallback: Strategy | None = None


def requirements_for(policy: RoutingPolicy, conversation: QueuedConversation) -> Requirements:
    return Requirements(
        team_id=conversation.team_id or policy.team_id,
        skill=conversation.category if policy.skill_required else None,
        avoid_agent_ids=conversation.avoid_agent_ids,
    )


def agent_available(policy: RoutingPolicy, agents: Sequence[AgentLoad], now: datetime) -> bool:
    """Whether someone could take a new conversation of the inbox now: online, with room, in the inbox's team and on
    shift (what the bot's `no_agent_available` waits for; the conversation's own category is not known yet)."""
    requirements = Requirements(team_id=policy.team_id)
    return any(
        not exclusion_reasons(agent, requirements, agent_on_shift=on_shift(agent, now)) for agent in agents
    )


def choose_agent(
    policy: RoutingPolicy,
    conversation: QueuedConversation,
    agents: Sequence[AgentLoad],
    *,
    now: datetime,
    external: ExternalAnswer | None = None,
) -> AssignmentDecision:
    """Who takes `conversation` now, never beyond anyone's capacity; QUEUED when nobody can or the inbox is manual."""
    return decide(
        policy, conversation, agents, {agent.agent_id: on_shift(agent, now) for agent in agents}, external
    )


def decide(
    policy: RoutingPolicy,
    conversation: QueuedConversation,
    agents: Sequence[AgentLoad],
    agents_on_shift: Mapping[str, bool],
    external: ExternalAnswer | None = None,
    split: Split | None = None,
) -> AssignmentDecision:
    """`choose_agent` with each agent's shift already checked (a batch checks once for all its conversations);
    `split` answers the candidates and exclusions for a conversation's requirements (a batch keeps them)."""
    strategy = policy.strategy
    if strategy is Strategy.EXTERNAL:
        if external is None:
            return AssignmentDecision(
                conversation.conversation_id, Outcome.ASK_EXTERNAL, strategy, fallback=policy.fallback
            )
        named = _external_pick(policy, conversation, agents, agents_on_shift, external)
        if named is not None:
            return named
        strategy = policy.fallback
        if external.team_id is not None:
            conversation = replace(conversation, team_id=external.team_id)
    if strategy is Strategy.MANUAL:
        return AssignmentDecision(conversation.conversation_id, Outcome.QUEUED, strategy)
    requirements = requirements_for(policy, conversation)
    candidates, excluded = (
        split(requirements) if split is not None else split_agents(agents, requirements, agents_on_shift)
    )
    scores: tuple[ScoreBreakdown, ...] = ()
    if not candidates:
        return AssignmentDecision(conversation.conversation_id, Outcome.QUEUED, strategy, excluded=excluded)
    if strategy is Strategy.WEIGHTED:
        by_agent = {agent.agent_id: score(agent, conversation, policy.weights) for agent in candidates}
        ranked = sorted(candidates, key=lambda agent: (-by_agent[agent.agent_id].total, *_least_busy(agent)))
        scores = tuple(by_agent[agent.agent_id] for agent in ranked)
        chosen = ranked[0]
    else:
        chosen = min(candidates, key=_RANKINGS[strategy])
    return AssignmentDecision(
        conversation.conversation_id,
        Outcome.ASSIGNED,
        strategy,
        chosen.agent_id,
        scores=scores,
        excluded=excluded,
    )


Split = Callable[[Requirements], tuple[Sequence[AgentLoad], tuple[Exclusion, ...]]]
"""The agents who can take a conversation with these requirements, and why each other agent cannot."""


def split_agents(
    agents: Sequence[AgentLoad], requirements: Requirements, agents_on_shift: Mapping[str, bool]
) -> tuple[list[AgentLoad], tuple[Exclusion, ...]]:
    """The candidates among `agents`, and the exclusions of the others, in the agents' order."""
    candidates, excluded = [], []
    for agent in agents:
        reasons = exclusion_reasons(
            agent, requirements, agent_on_shift=agents_on_shift.get(agent.agent_id, True)
        )
        if reasons:
            excluded.append(Exclusion(agent.agent_id, reasons))
        else:
            candidates.append(agent)
    return candidates, tuple(excluded)


def score(agent: AgentLoad, conversation: QueuedConversation, weights: ScoreWeights) -> ScoreBreakdown:
    """How well `agent` fits: VIP customers towards high-tier agents, the category's skill, room to spare."""
    levels = weights.vip_levels
    vip_fit = (
        min(max(conversation.vip_level, 0), levels) / levels * min(max(agent.vip_tier, 0), levels) / levels
    )
    skill_fit = 1.0 if conversation.category is not None and conversation.category in agent.skills else 0.0
    spare = agent.spare_capacity / agent.max_concurrent if agent.max_concurrent > 0 else 0.0
    return ScoreBreakdown(
        agent.agent_id, weights.vip * vip_fit, weights.skill * skill_fit, weights.spare_capacity * spare
    )


def _external_pick(
    policy: RoutingPolicy,
    conversation: QueuedConversation,
    agents: Sequence[AgentLoad],
    agents_on_shift: Mapping[str, bool],
    external: ExternalAnswer,
) -> AssignmentDecision | None:
    """The agent the service named, if that agent can take the conversation."""
    named = next((agent for agent in agents if agent.agent_id == external.agent_id), None)
    if named is None:
        return None
    requirements = requirements_for(
        policy, replace(conversation, team_id=external.team_id or conversation.team_id)
    )
    if exclusion_reasons(named, requirements, agent_on_shift=agents_on_shift.get(named.agent_id, True)):
        return None
    return AssignmentDecision(
        conversation.conversation_id, Outcome.ASSIGNED, Strategy.EXTERNAL, named.agent_id
    )


def _least_busy(agent: AgentLoad) -> tuple[float, int, int, str]:
    return (
        agent.open_conversations / agent.max_concurrent,
        agent.open_conversations,
        agent.last_assigned_order,
        agent.agent_id,
    )


def _round_robin(agent: AgentLoad) -> tuple[int, str]:
    return (agent.last_assigned_order, agent.agent_id)


_RANKINGS: dict[Strategy, Callable[[AgentLoad], tuple[float | int | str, ...]]] = {
    Strategy.LEAST_BUSY: _least_busy,
    Strategy.ROUND_ROBIN: _round_robin,
}
