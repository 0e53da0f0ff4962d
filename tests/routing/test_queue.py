"""The queue's order and assigning a whole snapshot at once: capacity, VIP first, fair rotation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.assignment import ExternalAnswer, Outcome
from routing.candidates import AgentLoad, ExclusionReason, QueuedConversation
from routing.errors import RoutingError
from routing.policy import RoutingPolicy, Strategy
from routing.queue import assign_queue, queue_order

NOW = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)


def waiting(
    conversation_id: str,
    *,
    minutes_ago: int = 0,
    vip_level: int = 0,
    priority: int = 0,
    inbox_id: str = "inbox",
    category: str | None = None,
) -> QueuedConversation:
    return QueuedConversation(
        conversation_id,
        inbox_id,
        NOW - timedelta(minutes=minutes_ago),
        vip_level=vip_level,
        priority=priority,
        category=category,
    )


def test_vip_first_then_priority_then_the_longest_wait() -> None:
    queue = [
        waiting("old", minutes_ago=30),
        waiting("urgent", minutes_ago=1, priority=2),
        waiting("vip", minutes_ago=0, vip_level=1),
        waiting("older", minutes_ago=40),
        waiting("top-vip", vip_level=3),
    ]
    assert [each.conversation_id for each in queue_order(queue)] == [
        "top-vip",
        "vip",
        "urgent",
        "older",
        "old",
    ]


def test_a_batch_counts_its_own_assignments_and_queues_the_rest() -> None:
    agents = [AgentLoad("a", True, 0, 1), AgentLoad("b", True, 1, 2)]
    result = assign_queue(
        [waiting("c1", minutes_ago=3), waiting("c2", minutes_ago=2), waiting("c3", minutes_ago=1)],
        {"inbox": RoutingPolicy()},
        agents,
        now=NOW,
    )
    assert result.assigned == {"c1": "a", "c2": "b"}
    assert result.decisions[2].outcome is Outcome.QUEUED
    assert {exclusion.reasons for exclusion in result.decisions[2].excluded} == {
        (ExclusionReason.AT_CAPACITY,)
    }
    assert [(agent.agent_id, agent.open_conversations) for agent in result.agents] == [("a", 1), ("b", 2)]


def test_round_robin_rotates_within_one_batch() -> None:
    agents = [
        AgentLoad("a", True, 0, 10, last_assigned_order=1),
        AgentLoad("b", True, 5, 10, last_assigned_order=0),
    ]
    result = assign_queue(
        [waiting(f"c{n}", minutes_ago=10 - n) for n in range(4)],
        {"inbox": RoutingPolicy(Strategy.ROUND_ROBIN)},
        agents,
        now=NOW,
    )
    assert [decision.agent_id for decision in result.decisions] == ["b", "a", "b", "a"]


def test_each_inbox_follows_its_own_policy_over_shared_agents() -> None:
    agents = [AgentLoad("a", True, 0, 5)]
    result = assign_queue(
        [waiting("chat", inbox_id="chat"), waiting("mail", inbox_id="mail")],
        {"chat": RoutingPolicy(), "mail": RoutingPolicy(Strategy.MANUAL)},
        agents,
        now=NOW,
    )
    assert result.assigned == {"chat": "a"}


def test_external_inboxes_get_their_answers_by_conversation() -> None:
    agents = [AgentLoad("a", True, 0, 5), AgentLoad("b", True, 0, 5)]
    policies = {"inbox": RoutingPolicy(Strategy.EXTERNAL)}
    result = assign_queue(
        [waiting("asked", minutes_ago=2), waiting("not-yet", minutes_ago=1)],
        policies,
        agents,
        now=NOW,
        external_answers={"asked": ExternalAnswer(agent_id="b")},
    )
    assert result.assigned == {"asked": "b"}
    assert result.decisions[1].outcome is Outcome.ASK_EXTERNAL


def test_a_conversation_twice_in_the_snapshot_is_refused() -> None:
    with pytest.raises(RoutingError, match="c1 appears twice"):
        assign_queue([waiting("c1"), waiting("c1")], {"inbox": RoutingPolicy()}, [], now=NOW)


def test_an_agent_twice_in_the_snapshot_is_refused() -> None:
    with pytest.raises(RoutingError, match="agent a appears twice"):
        assign_queue([], {}, [AgentLoad("a", True, 0, 1), AgentLoad("a", True, 0, 1)], now=NOW)


def test_a_conversation_of_an_inbox_without_a_policy_is_refused() -> None:
    with pytest.raises(RoutingError, match="no routing policy for inbox mail"):
        assign_queue([waiting("c1", inbox_id="mail")], {"inbox": RoutingPolicy()}, [], now=NOW)


agent_loads = st.builds(
    AgentLoad,
    agent_id=st.sampled_from([f"agent{n}" for n in range(8)]),
    online=st.booleans(),
    open_conversations=st.integers(0, 6),
    max_concurrent=st.integers(0, 5),
    last_assigned_order=st.integers(0, 20),
    team_ids=st.frozensets(st.sampled_from(["sales", "support"]), max_size=2),
    skills=st.frozensets(st.sampled_from(["refund", "billing"]), max_size=2),
)
team_of_agents = st.lists(agent_loads, max_size=8, unique_by=lambda agent: agent.agent_id)
queued = st.builds(
    QueuedConversation,
    conversation_id=st.uuids().map(str),
    inbox_id=st.sampled_from(["chat", "mail"]),
    queued_at=st.integers(0, 600).map(lambda minutes: NOW - timedelta(minutes=minutes)),
    vip_level=st.integers(0, 3),
    priority=st.integers(0, 2),
    category=st.sampled_from([None, "refund", "billing"]),
)
queues = st.lists(queued, max_size=30, unique_by=lambda conversation: conversation.conversation_id)
policies = st.builds(
    RoutingPolicy,
    strategy=st.sampled_from([s for s in Strategy if s is not Strategy.EXTERNAL]),
    team_id=st.sampled_from([None, "sales", "support"]),
    skill_required=st.booleans(),
)
inbox_policies = st.fixed_dictionaries({"chat": policies, "mail": policies})


@given(queues, team_of_agents, inbox_policies)
def test_capacity_is_never_exceeded(
    queue: list[QueuedConversation], agents: list[AgentLoad], policies: dict[str, RoutingPolicy]
) -> None:
    result = assign_queue(queue, policies, agents, now=NOW)
    taken = Counter(result.assigned.values())
    for agent in agents:
        assert taken[agent.agent_id] <= agent.spare_capacity
        assert not taken[agent.agent_id] or agent.online


@given(queues, team_of_agents, inbox_policies)
def test_every_conversation_gets_exactly_one_decision(
    queue: list[QueuedConversation], agents: list[AgentLoad], policies: dict[str, RoutingPolicy]
) -> None:
    result = assign_queue(queue, policies, agents, now=NOW)
    assert sorted(decision.conversation_id for decision in result.decisions) == sorted(
        conversation.conversation_id for conversation in queue
    )


@given(queues, team_of_agents, inbox_policies)
def test_a_vip_never_waits_behind_a_non_vip_of_the_same_inbox(
    queue: list[QueuedConversation], agents: list[AgentLoad], policies: dict[str, RoutingPolicy]
) -> None:
    """A VIP left queued while a regular customer of its inbox got agent X means X could never have taken the VIP."""
    result = assign_queue(queue, policies, agents, now=NOW)
    by_id = {conversation.conversation_id: conversation for conversation in queue}
    left = [
        decision
        for decision in result.decisions
        if decision.outcome is Outcome.QUEUED and by_id[decision.conversation_id].vip_level > 0
    ]
    for vip in left:
        why_not = {exclusion.agent_id: exclusion.reasons for exclusion in vip.excluded}
        for conversation_id, agent_id in result.assigned.items():
            regular = by_id[conversation_id]
            if regular.inbox_id != by_id[vip.conversation_id].inbox_id or regular.vip_level > 0:
                continue
            assert policies[regular.inbox_id].strategy is not Strategy.MANUAL
            assert set(why_not[agent_id]) - {ExclusionReason.AT_CAPACITY}, "the VIP was passed over"


@given(queues, team_of_agents)
def test_within_one_inbox_vips_are_decided_first(
    queue: list[QueuedConversation], agents: list[AgentLoad]
) -> None:
    result = assign_queue(queue, {"chat": RoutingPolicy(), "mail": RoutingPolicy()}, agents, now=NOW)
    vip_levels = {conversation.conversation_id: conversation.vip_level for conversation in queue}
    decided = [vip_levels[decision.conversation_id] for decision in result.decisions]
    assert decided == sorted(decided, reverse=True)


@given(
    st.integers(2, 7),
    st.lists(st.integers(0, 25), min_size=1, max_size=12),
    st.lists(st.integers(0, 50), min_size=7, max_size=7),
)
def test_round_robin_is_fair_over_many_rounds(
    agent_count: int, batch_sizes: list[int], orders: list[int]
) -> None:
    """Among equally available agents, nobody ever has more than one assignment more than another."""
    agents = tuple(
        AgentLoad(f"agent{n}", True, 0, 10_000, last_assigned_order=orders[n]) for n in range(agent_count)
    )
    counts: Counter[str] = Counter()
    policy = {"inbox": RoutingPolicy(Strategy.ROUND_ROBIN)}
    for round_number, size in enumerate(batch_sizes):
        batch = [waiting(f"r{round_number}c{n}", minutes_ago=size - n) for n in range(size)]
        result = assign_queue(batch, policy, agents, now=NOW)
        agents = result.agents
        counts.update(result.assigned.values())
        totals = [counts[agent.agent_id] for agent in agents]
        assert max(totals) - min(totals) <= 1
