"""The queue: who waits first, and assigning a whole snapshot of it at once without overfilling anyone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from routing.assignment import AssignmentDecision, ExternalAnswer, Outcome, decide
from routing.candidates import AgentLoad, QueuedConversation, on_shift
from routing.errors import RoutingError
from routing.hours import utc_instant
from routing.policy import RoutingPolicy

__all__ = ["QueueAssignment", "assign_queue", "queue_order"]


def queue_order(conversations: Sequence[QueuedConversation]) -> tuple[QueuedConversation, ...]:
    """Higher VIP level first, then higher priority, then longest waiting (ties by id, so the order is total)."""
    return tuple(
        sorted(
            conversations,
            key=lambda conversation: (
                -conversation.vip_level,
                -conversation.priority,
                utc_instant(conversation.queued_at),
                conversation.conversation_id,
            ),
        )
    )


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
    agents_on_shift = {agent.agent_id: on_shift(agent, now) for agent in agents}
    loads = {agent.agent_id: agent for agent in agents}
    next_order = max((agent.last_assigned_order for agent in agents), default=0) + 1
    decisions = []
    for conversation in queue_order(queue):
        decision = decide(
            policies[conversation.inbox_id],
            conversation,
            tuple(loads.values()),
            agents_on_shift,
            answers.get(conversation.conversation_id),
        )
        decisions.append(decision)
        if decision.outcome is Outcome.ASSIGNED and decision.agent_id is not None:
            taken = loads[decision.agent_id]
            loads[taken.agent_id] = replace(
                taken, open_conversations=taken.open_conversations + 1, last_assigned_order=next_order
            )
            next_order += 1
    return QueueAssignment(tuple(decisions), tuple(loads.values()))


def _refuse_duplicates(ids: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for each in ids:
        if each in seen:
            raise RoutingError(f"{what} {each} appears twice in the snapshot")
        seen.add(each)
