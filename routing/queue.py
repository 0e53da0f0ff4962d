"""The queue: who waits first, and assigning a whole snapshot of it at once without overfilling anyone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from routing.assignment import AssignmentDecision, ExternalAnswer, Outcome, decide, split_agents
from routing.candidates import (
    AgentLoad,
    Exclusion,
    QueuedConversation,
    Requirements,
    exclusion_reasons,
    on_shift,
)
from routing.errors import RoutingError
from routing.hours import utc_instant
from routing.policy import RoutingPolicy

__all__ = ["QueueAssignment", "QueueKey", "assign_queue", "queue_key", "queue_order"]


QueueKey = tuple[int, int, datetime, str]
"""(minus VIP level, minus priority, queued at in UTC, conversation id): the queue is sorted ascending by it."""


def queue_key(conversation: QueuedConversation) -> QueueKey:
    """Where the conversation stands in the queue: a total order, so a position can be resumed after."""
    return (
        -conversation.vip_level,
        -conversation.priority,
        utc_instant(conversation.queued_at),
        conversation.conversation_id,
    )


def queue_order(conversations: Sequence[QueuedConversation]) -> tuple[QueuedConversation, ...]:
    """Higher VIP level first, then higher priority, then longest waiting (ties by id, so the order is total)."""
    return tuple(sorted(conversations, key=queue_key))


@dataclass(frozen=True, slots=True)
class QueueAssignment:
    """The decisions in the order they were taken, and the agents as they stand after them."""

    decisions: tuple[AssignmentDecision, ...]
    agents: tuple[AgentLoad, ...]

    @property
    def assigned(self) -> dict[str, str]:
        """Conversation id → agent id, for the conversations that got an agent."""
        return {
            decision.conversation_id: decision.agent_id for decision in self.decisions if decision.agent_id
        }


def assign_queue(
    queue: Sequence[QueuedConversation],
    policies: Mapping[str, RoutingPolicy],
    agents: Sequence[AgentLoad],
    *,
    now: datetime,
    external_answers: Mapping[str, ExternalAnswer] | None = None,
) -> QueueAssignment:
    """Assign a snapshot of the queue in queue order, counting each assignment before the next decision.

    `policies` maps each inbox id of the queue to its policy; `external_answers` holds the external
    service's answers by conversation id (conversations of external inboxes without one come back
    as ASK_EXTERNAL). Each assignment makes its agent the most recently assigned one, so round
    robin rotates within the batch.
    """
    _refuse_duplicates([conversation.conversation_id for conversation in queue], "conversation")
    _refuse_duplicates([agent.agent_id for agent in agents], "agent")
    missing = {conversation.inbox_id for conversation in queue} - policies.keys()
    if missing:
        raise RoutingError(f"no routing policy for inbox {', '.join(sorted(missing))}")
    answers = external_answers or {}
    seats = _Seats(agents, {agent.agent_id: on_shift(agent, now) for agent in agents})
    next_order = max((agent.last_assigned_order for agent in agents), default=0) + 1
    decisions = []
    for conversation in queue_order(queue):
        decision = decide(
            policies[conversation.inbox_id],
            conversation,
            tuple(seats.loads.values()),
            seats.agents_on_shift,
            answers.get(conversation.conversation_id),
            split=seats.split,
        )
        decisions.append(decision)
        if decision.outcome is Outcome.ASSIGNED and decision.agent_id is not None:
            seats.took(decision.agent_id, next_order)
            next_order += 1
    return QueueAssignment(tuple(decisions), tuple(seats.loads.values()))


class _Seats:
    """The batch's agents as the decisions load them, split into candidates once per kind of conversation.

    Within a batch loads only grow, so an agent's exclusions change only when they fill up: each split is
    kept and that agent moved from its candidates to its exclusions, so a long queue costs one split per
    kind of conversation rather than one per agent and conversation."""

    def __init__(self, agents: Sequence[AgentLoad], agents_on_shift: dict[str, bool]) -> None:
        self.loads = {agent.agent_id: agent for agent in agents}
        self.agents_on_shift = agents_on_shift
        self._splits: dict[Requirements, _Split] = {}

    def split(self, requirements: Requirements) -> tuple[list[AgentLoad], tuple[Exclusion, ...]]:
        kept = self._splits.get(requirements)
        if kept is None:
            candidates, excluded = split_agents(
                tuple(self.loads.values()), requirements, self.agents_on_shift
            )
            kept = self._splits[requirements] = _Split(
                dict.fromkeys(agent.agent_id for agent in candidates),
                {exclusion.agent_id: exclusion for exclusion in excluded},
                excluded,
            )
        if kept.in_order is None:
            kept.in_order = tuple(
                kept.excluded[agent_id] for agent_id in self.loads if agent_id in kept.excluded
            )
        return [self.loads[agent_id] for agent_id in kept.candidates], kept.in_order

    def took(self, agent_id: str, order: int) -> None:
        taken = self.loads[agent_id] = replace(
            self.loads[agent_id],
            open_conversations=self.loads[agent_id].open_conversations + 1,
            last_assigned_order=order,
        )
        if taken.spare_capacity > 0:
            return
        for requirements, kept in self._splits.items():
            if agent_id in kept.candidates:
                del kept.candidates[agent_id]
                reasons = exclusion_reasons(
                    taken, requirements, agent_on_shift=self.agents_on_shift.get(agent_id, True)
                )
                kept.excluded[agent_id] = Exclusion(agent_id, reasons)
                kept.in_order = None


@dataclass(slots=True)
class _Split:
    candidates: dict[str, None]
    """Agent ids, in the agents' order."""
    excluded: dict[str, Exclusion]
    in_order: tuple[Exclusion, ...] | None
    """`excluded` in the agents' order, once asked for."""


def _refuse_duplicates(ids: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for each in ids:
        if each in seen:
            raise RoutingError(f"{what} {each} appears twice in the snapshot")
        seen.add(each)
