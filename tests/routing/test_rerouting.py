"""Taking conversations back (agent offline, no answer in time), transfers and claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.assignment import Outcome
from routing.candidates import AgentLoad, QueuedConversation
from routing.errors import ClaimRefused, TransferRefused
from routing.lifecycle import ConversationStatus
from routing.policy import RoutingPolicy, Strategy
from routing.rerouting import (
    AssignedConversation,
    RequeueReason,
    TransferRequest,
    claim,
    conversations_to_requeue,
    transfer,
)

NOW = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
POLICIES = {"chat": RoutingPolicy(answer_timeout=timedelta(minutes=5)), "mail": RoutingPolicy()}


def held(
    conversation_id: str,
    agent_id: str,
    *,
    inbox_id: str = "chat",
    minutes_ago: int = 1,
    answered: bool = False,
    status: ConversationStatus = ConversationStatus.OPEN,
) -> AssignedConversation:
    return AssignedConversation(
        conversation_id, inbox_id, agent_id, status, NOW - timedelta(minutes=minutes_ago), answered
    )


def test_an_agent_gone_offline_loses_their_open_conversations_only() -> None:
    assigned = [
        held("open", "away"),
        held("waiting", "away", status=ConversationStatus.PENDING),
        held("later", "away", status=ConversationStatus.SNOOZED),
        held("kept", "here"),
    ]
    agents = [AgentLoad("away", False, 3, 5), AgentLoad("here", True, 1, 5)]
    requeues = conversations_to_requeue(assigned, agents, POLICIES, NOW)
    assert [(r.conversation_id, r.agent_id, r.reason) for r in requeues] == [
        ("open", "away", RequeueReason.AGENT_OFFLINE)
    ]
    assert not requeues[0].avoid_agent
    assert requeues[0].event.data == {"previous_assignee_id": "away", "reason": "agent_offline"}


def test_an_agent_removed_from_the_workspace_counts_as_offline() -> None:
    assert (
        conversations_to_requeue([held("c", "gone")], [], POLICIES, NOW)[0].reason
        is RequeueReason.AGENT_OFFLINE
    )


def test_no_answer_within_the_inbox_timeout_requeues_and_avoids_that_agent() -> None:
    agents = [AgentLoad("slow", True, 1, 5)]
    assigned = [
        held("late", "slow", minutes_ago=5),
        held("fresh", "slow", minutes_ago=4),
        held("answered", "slow", minutes_ago=30, answered=True),
        held("no-timeout", "slow", inbox_id="mail", minutes_ago=600),
    ]
    requeues = conversations_to_requeue(assigned, agents, POLICIES, NOW)
    assert [(r.conversation_id, r.reason, r.avoid_agent) for r in requeues] == [
        ("late", RequeueReason.ANSWER_TIMEOUT, True)
    ]


def test_transfer_to_an_available_agent_carries_the_note() -> None:
    decision = transfer(
        TransferRequest("c", ConversationStatus.OPEN, "a", to_agent_id="b", note="  VIP, refund  "),
        [AgentLoad("b", True, 0, 1)],
    )
    assert (decision.to_agent_id, decision.to_team_id, decision.note) == ("b", None, "VIP, refund")
    assert decision.event.name == "conversation.transferred"
    assert decision.event.data == {
        "from_agent_id": "a",
        "to_agent_id": "b",
        "to_team_id": None,
        "note": "VIP, refund",
    }


def test_transfer_to_a_team_leaves_it_unassigned_for_that_team() -> None:
    decision = transfer(TransferRequest("c", ConversationStatus.PENDING, "a", to_team_id="billing"), [])
    assert (decision.to_agent_id, decision.to_team_id) == (None, "billing")


@pytest.mark.parametrize(
    ("request_", "agents", "reasons"),
    [
        (TransferRequest("c", ConversationStatus.OPEN, "a"), [], ("one_target",)),
        (
            TransferRequest("c", ConversationStatus.OPEN, "a", to_agent_id="b", to_team_id="t"),
            [],
            ("one_target",),
        ),
        (TransferRequest("c", ConversationStatus.RESOLVED, "a", to_agent_id="b"), [], ("resolved",)),
        (
            TransferRequest("c", ConversationStatus.OPEN, "a", to_agent_id="a"),
            [AgentLoad("a", True, 0, 5)],
            ("same_agent",),
        ),
        (TransferRequest("c", ConversationStatus.OPEN, "a", to_agent_id="b"), [], ("unknown_agent",)),
        (
            TransferRequest("c", ConversationStatus.OPEN, "a", to_agent_id="b"),
            [AgentLoad("b", False, 0, 5)],
            ("offline",),
        ),
        (
            TransferRequest("c", ConversationStatus.OPEN, "a", to_agent_id="b"),
            [AgentLoad("b", True, 5, 5)],
            ("at_capacity",),
        ),
    ],
)
def test_a_transfer_that_cannot_happen_is_refused_with_its_reason(
    request_: TransferRequest, agents: list[AgentLoad], reasons: tuple[str, ...]
) -> None:
    with pytest.raises(TransferRefused) as refused:
        transfer(request_, agents)
    assert refused.value.reasons == reasons


def test_an_agent_claims_from_the_queue_of_a_manual_inbox() -> None:
    conversation = QueuedConversation("c", "chat", NOW, category="refund")
    decision = claim(conversation, None, AgentLoad("a", True, 0, 1), RoutingPolicy(Strategy.MANUAL))
    assert (decision.outcome, decision.agent_id, decision.strategy) == (
        Outcome.ASSIGNED,
        "a",
        Strategy.MANUAL,
    )


def test_a_claim_ignores_the_shift_and_the_avoid_list_since_the_agent_chose() -> None:
    conversation = QueuedConversation("c", "chat", NOW, avoid_agent_ids=frozenset({"a"}))
    assert claim(conversation, None, AgentLoad("a", True, 0, 1), RoutingPolicy()).agent_id == "a"


@pytest.mark.parametrize(
    ("assignee", "agent", "policy", "reasons"),
    [
        ("b", AgentLoad("a", True, 0, 1), RoutingPolicy(), ("already_assigned",)),
        (None, AgentLoad("a", True, 1, 1), RoutingPolicy(), ("at_capacity",)),
        (None, AgentLoad("a", False, 0, 1), RoutingPolicy(), ("offline",)),
        (None, AgentLoad("a", True, 0, 1), RoutingPolicy(team_id="billing"), ("not_in_team",)),
        (None, AgentLoad("a", True, 0, 1), RoutingPolicy(skill_required=True), ("missing_skill",)),
    ],
)
def test_a_claim_the_agent_may_not_make_is_refused(
    assignee: str | None, agent: AgentLoad, policy: RoutingPolicy, reasons: tuple[str, ...]
) -> None:
    with pytest.raises(ClaimRefused) as refused:
        claim(QueuedConversation("c", "chat", NOW, category="refund"), assignee, agent, policy)
    assert refused.value.reasons == reasons
