"""Taking conversations back and handing them on: an agent gone offline or silent, a transfer, a claim."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from routing.assignment import AssignmentDecision, Outcome, requirements_for
from routing.candidates import AgentLoad, QueuedConversation, availability_reasons, exclusion_reasons
from routing.errors import ClaimRefused, TransferRefused
from routing.hours import utc_instant
from routing.lifecycle import ConversationStatus
from routing.policy import RoutingPolicy, Strategy
from routing.transitions import DomainEvent

__all__ = [
    "AssignedConversation",
    "Requeue",
    "RequeueReason",
    "TransferDecision",
    "TransferRequest",
    "claim",
    "conversations_to_requeue",
    "transfer",
]


class RequeueReason(StrEnum):
    AGENT_OFFLINE = "agent_offline"
    ANSWER_TIMEOUT = "answer_timeout"


@dataclass(frozen=True, slots=True)
class AssignedConversation:
    """A conversation with an agent; `answered` tells whether that agent has replied since being assigned."""

    conversation_id: str
    inbox_id: str
    agent_id: str
    status: ConversationStatus
    assigned_at: datetime
    answered: bool


@dataclass(frozen=True, slots=True)
class Requeue:
    """Take the conversation from `agent_id` and queue it again (its history stays); after a timeout, automatic
    routing avoids that agent for it."""

    conversation_id: str
    agent_id: str
    reason: RequeueReason

    @property
    def avoid_agent(self) -> bool:
        return self.reason is RequeueReason.ANSWER_TIMEOUT

    @property
    def event(self) -> DomainEvent:
        return DomainEvent(
            "conversation.requeued", {"previous_assignee_id": self.agent_id, "reason": self.reason.value}
        )


def conversations_to_requeue(
    assigned: Sequence[AssignedConversation],
    agents: Sequence[AgentLoad],
    policies: Mapping[str, RoutingPolicy],
    now: datetime,
) -> tuple[Requeue, ...]:
    """The open conversations whose agent is offline (or gone), or has not replied within the inbox's timeout.

    Pending and snoozed conversations stay with their agent: nobody is waiting on the agent there.
    """
    now = utc_instant(now)
    online = {agent.agent_id for agent in agents if agent.online}
    requeues = []
    for conversation in assigned:
        if conversation.status is not ConversationStatus.OPEN:
            continue
        if conversation.agent_id not in online:
            requeues.append(
                Requeue(conversation.conversation_id, conversation.agent_id, RequeueReason.AGENT_OFFLINE)
            )
            continue
        policy = policies.get(conversation.inbox_id)
        timeout = policy.answer_timeout if policy is not None else None
        if (
            timeout is not None
            and not conversation.answered
            and now - utc_instant(conversation.assigned_at) >= timeout
        ):
            requeues.append(
                Requeue(conversation.conversation_id, conversation.agent_id, RequeueReason.ANSWER_TIMEOUT)
            )
    return tuple(requeues)


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """Hand a conversation to one agent, or to a team's queue, with a note for whoever picks it up."""

    conversation_id: str
    status: ConversationStatus
    from_agent_id: str | None
    to_agent_id: str | None = None
    to_team_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class TransferDecision:
    """To an agent: assign them. To a team: unassign, set the team, queue it for that team's agents."""

    conversation_id: str
    from_agent_id: str | None
    to_agent_id: str | None
    to_team_id: str | None
    note: str

    @property
    def event(self) -> DomainEvent:
        return DomainEvent(
            "conversation.transferred",
            {
                "from_agent_id": self.from_agent_id,
                "to_agent_id": self.to_agent_id,
                "to_team_id": self.to_team_id,
                "note": self.note,
            },
        )


def transfer(request: TransferRequest, agents: Sequence[AgentLoad]) -> TransferDecision:
    """Check a transfer: exactly one target; an agent target other than the current one, online, with room.

    An agent may hand over to anyone in the workspace (team and skills are the sender's judgement).
    """
    if (request.to_agent_id is None) == (request.to_team_id is None):
        raise TransferRefused("transfer to exactly one agent or one team", reasons=("one_target",))
    if request.status is ConversationStatus.RESOLVED:
        raise TransferRefused(
            "a resolved conversation is not transferred; reopen it first", reasons=("resolved",)
        )
    if request.to_agent_id is not None:
        if request.to_agent_id == request.from_agent_id:
            raise TransferRefused("the conversation is already with this agent", reasons=("same_agent",))
        target = next((agent for agent in agents if agent.agent_id == request.to_agent_id), None)
        if target is None:
            raise TransferRefused(f"no agent {request.to_agent_id}", reasons=("unknown_agent",))
        reasons = availability_reasons(target)
        if reasons:
            raise TransferRefused(
                f"agent {target.agent_id} cannot take it: {', '.join(reasons)}", reasons=tuple(reasons)
            )
    return TransferDecision(
        request.conversation_id,
        request.from_agent_id,
        request.to_agent_id,
        request.to_team_id,
        request.note.strip(),
    )


def claim(
    conversation: QueuedConversation, current_assignee_id: str | None, agent: AgentLoad, policy: RoutingPolicy
) -> AssignmentDecision:
    """An agent takes a conversation from the queue (any strategy): online, with room, of the team, with the skill."""
    if current_assignee_id is not None:
        raise ClaimRefused("the conversation already has an agent", reasons=("already_assigned",))
    reasons = exclusion_reasons(agent, requirements_for(policy, conversation), agent_on_shift=None)
    if reasons:
        raise ClaimRefused(
            f"agent {agent.agent_id} cannot take it: {', '.join(reasons)}", reasons=tuple(reasons)
        )
    return AssignmentDecision(conversation.conversation_id, Outcome.ASSIGNED, Strategy.MANUAL, agent.agent_id)
