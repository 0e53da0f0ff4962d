"""Who takes one conversation: candidates, each strategy, the weighted score's explanation, external routing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from routing.assignment import STRATEGIES, ExternalAnswer, Outcome, agent_available, choose_agent
from routing.candidates import AgentLoad, ExclusionReason, QueuedConversation
from routing.errors import InvalidPolicy
from routing.hours import Weekday, WeeklyRange, WeeklySchedule
from routing.policy import RoutingPolicy, ScoreWeights, Strategy

NOW = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
"""A Monday morning."""


def agent(
    agent_id: str,
    *,
    online: bool = True,
    open_conversations: int = 0,
    max_concurrent: int = 2,
    order: int = 0,
    teams: frozenset[str] = frozenset(),
    skills: frozenset[str] = frozenset(),
    shift: WeeklySchedule | None = None,
    vip_tier: int = 0,
) -> AgentLoad:
    return AgentLoad(
        agent_id,
        online,
        open_conversations,
        max_concurrent,
        last_assigned_order=order,
        team_ids=teams,
        skills=skills,
        shift=shift,
        vip_tier=vip_tier,
    )


def waiting(
    conversation_id: str = "c1",
    *,
    vip_level: int = 0,
    category: str | None = None,
    team_id: str | None = None,
    avoid: frozenset[str] = frozenset(),
) -> QueuedConversation:
    return QueuedConversation(
        conversation_id,
        "inbox",
        NOW - timedelta(minutes=5),
        vip_level=vip_level,
        category=category,
        team_id=team_id,
        avoid_agent_ids=avoid,
    )


def choose(
    strategy: Strategy,
    agents: list[AgentLoad],
    conversation: QueuedConversation | None = None,
    **policy: object,
) -> str | None:
    decision = choose_agent(
        RoutingPolicy(strategy, **policy),
        conversation or waiting(),
        agents,  # type: ignore[arg-type]
        now=NOW,
    )
    return decision.agent_id


def test_least_busy_takes_the_agent_with_the_smallest_share_of_capacity() -> None:
    agents = [
        agent("a", open_conversations=3, max_concurrent=4),
        agent("b", open_conversations=1, max_concurrent=2),
        agent("c", open_conversations=1, max_concurrent=4),
    ]
    assert choose(Strategy.LEAST_BUSY, agents) == "c"


def test_least_busy_among_equals_takes_whoever_was_assigned_longest_ago() -> None:
    assert choose(Strategy.LEAST_BUSY, [agent("a", order=2), agent("b", order=1)]) == "b"


def test_round_robin_takes_whoever_was_assigned_longest_ago() -> None:
    assert (
        choose(
            Strategy.ROUND_ROBIN,
            [agent("a", order=1, open_conversations=0), agent("b", order=0, open_conversations=1)],
        )
        == "b"
    )


@pytest.mark.parametrize("strategy", [Strategy.LEAST_BUSY, Strategy.ROUND_ROBIN, Strategy.WEIGHTED])
def test_nobody_offline_or_full_is_chosen_and_the_decision_says_why(strategy: Strategy) -> None:
    agents = [
        agent("away", online=False),
        agent("full", open_conversations=2, max_concurrent=2),
        agent("none", max_concurrent=0),
    ]
    decision = choose_agent(RoutingPolicy(strategy), waiting(), agents, now=NOW)
    assert (decision.outcome, decision.agent_id) == (Outcome.QUEUED, None)
    assert {exclusion.agent_id: exclusion.reasons for exclusion in decision.excluded} == {
        "away": (ExclusionReason.OFFLINE,),
        "full": (ExclusionReason.AT_CAPACITY,),
        "none": (ExclusionReason.AT_CAPACITY,),
    }


def test_only_members_of_the_inbox_team_are_candidates() -> None:
    agents = [agent("outsider"), agent("member", open_conversations=1, teams=frozenset({"billing"}))]
    assert choose(Strategy.LEAST_BUSY, agents, team_id="billing") == "member"


def test_a_transfer_to_a_team_overrides_the_inbox_team() -> None:
    agents = [agent("billing", teams=frozenset({"billing"})), agent("tech", teams=frozenset({"tech"}))]
    assert choose(Strategy.LEAST_BUSY, agents, waiting(team_id="tech"), team_id="billing") == "tech"


def test_skill_routing_requires_the_category_as_a_skill() -> None:
    agents = [agent("generalist"), agent("refunds", open_conversations=1, skills=frozenset({"refund"}))]
    assert choose(Strategy.LEAST_BUSY, agents, waiting(category="refund"), skill_required=True) == "refunds"
    assert choose(Strategy.LEAST_BUSY, agents, waiting(category="refund")) == "generalist"


def test_skill_routing_without_anyone_holding_the_skill_queues() -> None:
    decision = choose_agent(
        RoutingPolicy(skill_required=True), waiting(category="legal"), [agent("a")], now=NOW
    )
    assert decision.outcome is Outcome.QUEUED
    assert decision.excluded[0].reasons == (ExclusionReason.MISSING_SKILL,)


def test_an_agent_off_shift_is_not_a_candidate() -> None:
    afternoons = WeeklySchedule("Europe/Berlin", (WeeklyRange(Weekday.MONDAY, time(14), time(22)),))
    mornings = WeeklySchedule("Asia/Shanghai", (WeeklyRange(Weekday.MONDAY, time(17), time(20)),))
    agents = [agent("berlin", shift=afternoons), agent("shanghai", open_conversations=1, shift=mornings)]
    decision = choose_agent(RoutingPolicy(), waiting(), agents, now=NOW)
    assert decision.agent_id == "shanghai"
    assert decision.excluded[0].reasons == (ExclusionReason.OFF_SHIFT,)


def test_an_agent_is_available_when_online_with_room_in_the_inbox_team_and_on_shift() -> None:
    afternoons = WeeklySchedule("Europe/Berlin", (WeeklyRange(Weekday.MONDAY, time(14), time(22)),))
    in_team = frozenset({"t"})
    assert agent_available(RoutingPolicy(), [agent("a")], NOW)
    assert not agent_available(RoutingPolicy(), [], NOW)
    assert not agent_available(RoutingPolicy(), [agent("a", online=False)], NOW)
    assert not agent_available(RoutingPolicy(), [agent("a", open_conversations=2)], NOW)
    assert not agent_available(RoutingPolicy(), [agent("a", shift=afternoons)], NOW)
    assert not agent_available(RoutingPolicy(team_id="t"), [agent("a")], NOW)
    assert agent_available(RoutingPolicy(team_id="t"), [agent("a"), agent("b", teams=in_team)], NOW)


def test_the_agent_who_left_it_unanswered_does_not_get_it_back() -> None:
    agents = [agent("silent"), agent("other", open_conversations=1)]
    assert choose(Strategy.LEAST_BUSY, agents, waiting(avoid=frozenset({"silent"}))) == "other"


def test_manual_routing_leaves_the_conversation_queued() -> None:
    decision = choose_agent(RoutingPolicy(Strategy.MANUAL), waiting(), [agent("a")], now=NOW)
    assert (decision.outcome, decision.agent_id, decision.strategy) == (Outcome.QUEUED, None, Strategy.MANUAL)


def test_weighted_routing_explains_every_candidate_score() -> None:
    agents = [
        agent("senior", vip_tier=5, open_conversations=1, max_concurrent=4),
        agent("refunds", skills=frozenset({"refund"}), open_conversations=3, max_concurrent=4),
        agent("idle", max_concurrent=4),
    ]
    weights = ScoreWeights(vip=2, skill=1, spare_capacity=1, vip_levels=5)
    decision = choose_agent(
        RoutingPolicy(Strategy.WEIGHTED, weights=weights),
        waiting(vip_level=5, category="refund"),
        agents,
        now=NOW,
    )
    assert decision.agent_id == "senior"
    explained = {
        score.agent_id: (score.vip, score.skill, score.spare_capacity, score.total)
        for score in decision.scores
    }
    assert explained == {
        "senior": (2.0, 0.0, 0.75, 2.75),
        "refunds": (0.0, 1.0, 0.25, 1.25),
        "idle": (0.0, 0.0, 1.0, 1.0),
    }
    assert [score.agent_id for score in decision.scores] == ["senior", "refunds", "idle"]


def test_weighted_routing_for_a_regular_customer_leans_on_skill_and_room() -> None:
    agents = [agent("senior", vip_tier=5), agent("refunds", skills=frozenset({"refund"}))]
    assert choose(Strategy.WEIGHTED, agents, waiting(category="refund")) == "refunds"


def test_external_routing_asks_the_service_and_names_the_fallback() -> None:
    decision = choose_agent(
        RoutingPolicy(Strategy.EXTERNAL, fallback=Strategy.ROUND_ROBIN), waiting(), [agent("a")], now=NOW
    )
    assert (decision.outcome, decision.agent_id, decision.fallback) == (
        Outcome.ASK_EXTERNAL,
        None,
        Strategy.ROUND_ROBIN,
    )


def test_external_routing_assigns_the_agent_the_service_named() -> None:
    agents = [agent("a"), agent("b", open_conversations=1)]
    decision = choose_agent(
        RoutingPolicy(Strategy.EXTERNAL), waiting(), agents, now=NOW, external=ExternalAnswer(agent_id="b")
    )
    assert (decision.agent_id, decision.strategy) == ("b", Strategy.EXTERNAL)


@pytest.mark.parametrize(
    "answer", [ExternalAnswer(), ExternalAnswer(agent_id="full"), ExternalAnswer(agent_id="nobody")]
)
def test_a_failed_or_unusable_external_answer_applies_the_fallback(answer: ExternalAnswer) -> None:
    agents = [agent("full", open_conversations=2), agent("b", order=1), agent("c", order=0)]
    decision = choose_agent(
        RoutingPolicy(Strategy.EXTERNAL, fallback=Strategy.ROUND_ROBIN),
        waiting(),
        agents,
        now=NOW,
        external=answer,
    )
    assert (decision.outcome, decision.agent_id, decision.strategy) == (
        Outcome.ASSIGNED,
        "c",
        Strategy.ROUND_ROBIN,
    )


def test_an_external_answer_naming_a_team_routes_within_that_team_by_the_fallback() -> None:
    agents = [agent("a"), agent("vip-desk", open_conversations=1, teams=frozenset({"vip"}))]
    decision = choose_agent(
        RoutingPolicy(Strategy.EXTERNAL), waiting(), agents, now=NOW, external=ExternalAnswer(team_id="vip")
    )
    assert decision.agent_id == "vip-desk"


def test_external_routing_cannot_fall_back_to_itself() -> None:
    with pytest.raises(InvalidPolicy) as refused:
        RoutingPolicy(Strategy.EXTERNAL, fallback=Strategy.EXTERNAL)
    assert refused.value.field == "fallback"


@pytest.mark.parametrize(
    "weights", [{"vip": -1}, {"skill": float("nan")}, {"spare_capacity": float("inf")}, {"vip_levels": 0}]
)
def test_weights_that_cannot_rank_are_refused(weights: dict[str, float]) -> None:
    with pytest.raises(InvalidPolicy):
        ScoreWeights(**weights)  # type: ignore[arg-type]


def test_every_strategy_is_offered_to_inboxes() -> None:
    assert set(STRATEGIES) == {"round_robin", "least_busy", "weighted", "manual", "external"}
