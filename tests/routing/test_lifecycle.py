"""The conversation's life: one transition function for every status change, its events, and its refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.errors import InvalidState, InvalidTransition
from routing.lifecycle import (
    ConversationEvent,
    ConversationRules,
    ConversationState,
    ConversationStatus,
    Resolve,
    Snooze,
    SnoozeEnded,
    conversation_transition,
)
from routing.transitions import Actor, AgentReplied, CustomerWrote, SetOpen, SetPending

NOW = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
RULES = ConversationRules(reopen_window=timedelta(days=3))
OPEN = ConversationState(ConversationStatus.OPEN)
PENDING = ConversationState(ConversationStatus.PENDING)
RESOLVED_YESTERDAY = ConversationState(ConversationStatus.RESOLVED, resolved_at=NOW - timedelta(days=1))
SNOOZED = ConversationState(ConversationStatus.SNOOZED, snoozed_until=NOW + timedelta(hours=2))


def names(state: ConversationState, event: ConversationEvent, now: datetime = NOW) -> list[str]:
    return [emitted.name for emitted in conversation_transition(state, event, now, RULES).emitted]


def test_resolving_emits_the_status_change_and_the_resolution() -> None:
    after = conversation_transition(OPEN, Resolve(by=Actor.BOT), NOW, RULES)
    assert after.state == ConversationState(ConversationStatus.RESOLVED, resolved_at=NOW)
    assert [event.name for event in after.emitted] == ["conversation.status_changed", "conversation.resolved"]
    assert after.emitted[1].data == {"from": "open", "to": "resolved", "at": NOW, "by": "bot"}


def test_the_customer_writing_within_the_window_reopens() -> None:
    after = conversation_transition(RESOLVED_YESTERDAY, CustomerWrote(), NOW, RULES)
    assert after.state == OPEN and not after.starts_follow_up
    assert [event.name for event in after.emitted] == ["conversation.status_changed", "conversation.reopened"]
    assert after.emitted[1].data["by"] == "customer"


def test_the_window_includes_its_last_instant() -> None:
    resolved = ConversationState(ConversationStatus.RESOLVED, resolved_at=NOW - RULES.reopen_window)
    assert conversation_transition(resolved, CustomerWrote(), NOW, RULES).state == OPEN


def test_the_customer_writing_after_the_window_starts_a_linked_conversation() -> None:
    resolved = ConversationState(ConversationStatus.RESOLVED, resolved_at=NOW - timedelta(days=3, seconds=1))
    after = conversation_transition(resolved, CustomerWrote(), NOW, RULES)
    assert (after.state, after.emitted, after.starts_follow_up) == (resolved, (), True)


def test_a_reopen_window_of_zero_always_starts_a_new_conversation() -> None:
    after = conversation_transition(RESOLVED_YESTERDAY, CustomerWrote(), NOW, ConversationRules(timedelta(0)))
    assert after.starts_follow_up


def test_an_agent_replying_into_a_resolved_conversation_reopens_it() -> None:
    after = conversation_transition(RESOLVED_YESTERDAY, AgentReplied(), NOW, RULES)
    assert after.state == OPEN and after.emitted[1].data["by"] == "agent"


def test_the_customer_answering_a_pending_conversation_opens_it() -> None:
    assert conversation_transition(PENDING, CustomerWrote(), NOW, RULES).state == OPEN
    assert names(PENDING, CustomerWrote()) == ["conversation.status_changed"]


def test_the_customer_writing_wakes_a_snoozed_conversation_early() -> None:
    assert conversation_transition(SNOOZED, CustomerWrote(), NOW, RULES).state == OPEN


def test_messages_that_change_nothing_emit_nothing() -> None:
    assert names(OPEN, CustomerWrote()) == []
    assert names(OPEN, AgentReplied()) == []
    assert conversation_transition(PENDING, AgentReplied(), NOW, RULES).state == PENDING


def test_snoozing_records_the_wake_up_time_and_the_sweeper_wakes_it() -> None:
    until = NOW + timedelta(hours=1)
    snoozed = conversation_transition(OPEN, Snooze(until), NOW, RULES)
    assert snoozed.state.snoozed_until == until
    assert snoozed.emitted[1].name == "conversation.snoozed" and snoozed.emitted[1].data["until"] == until
    woken = conversation_transition(snoozed.state, SnoozeEnded(), until, RULES)
    assert woken.state == OPEN


def test_snoozing_again_moves_the_wake_up_time_without_a_status_change() -> None:
    later = NOW + timedelta(days=1)
    assert names(SNOOZED, Snooze(later)) == ["conversation.snoozed"]


def test_an_agent_opens_a_pending_conversation() -> None:
    assert conversation_transition(PENDING, SetOpen(), NOW, RULES).state == OPEN
    assert (
        conversation_transition(RESOLVED_YESTERDAY, SetOpen(), NOW, RULES).emitted[1].name
        == "conversation.reopened"
    )


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (RESOLVED_YESTERDAY, Resolve()),
        (OPEN, SetOpen()),
        (PENDING, SetPending()),
        (RESOLVED_YESTERDAY, SetPending()),
        (RESOLVED_YESTERDAY, Snooze(NOW + timedelta(hours=1))),
        (OPEN, Snooze(NOW)),
        (OPEN, SnoozeEnded()),
        (SNOOZED, SnoozeEnded()),
    ],
)
def test_a_transition_that_makes_no_sense_is_refused_by_name(
    state: ConversationState, event: ConversationEvent
) -> None:
    with pytest.raises(InvalidTransition) as refused:
        conversation_transition(state, event, NOW, RULES)
    assert refused.value.status == state.status.value
    assert refused.value.event == type(event).__name__


@pytest.mark.parametrize(
    ("status", "snoozed_until", "resolved_at"),
    [
        (ConversationStatus.SNOOZED, None, None),
        (ConversationStatus.OPEN, NOW, None),
        (ConversationStatus.RESOLVED, None, None),
        (ConversationStatus.PENDING, None, NOW),
    ],
)
def test_a_state_that_breaks_the_invariants_cannot_be_built(
    status: ConversationStatus, snoozed_until: datetime | None, resolved_at: datetime | None
) -> None:
    with pytest.raises(InvalidState):
        ConversationState(status, snoozed_until, resolved_at)


events = st.one_of(
    st.just(CustomerWrote()),
    st.just(AgentReplied()),
    st.just(SetOpen()),
    st.just(SetPending()),
    st.builds(Resolve, st.sampled_from(list(Actor))),
    st.just(SnoozeEnded()),
    st.integers(-60, 600).map(lambda minutes: Snooze(NOW + timedelta(minutes=minutes))),
)


@given(
    st.lists(st.tuples(events, st.integers(0, 60 * 24 * 5)), max_size=40),
    st.integers(0, 60 * 24 * 7).map(lambda minutes: ConversationRules(timedelta(minutes=minutes))),
)
def test_transitions_never_reach_an_invalid_state(
    steps: list[tuple[ConversationEvent, int]], rules: ConversationRules
) -> None:
    """Any sequence of events either moves to a valid state, with a status event when the status moved, or is
    refused by name and leaves the state as it was."""
    state = OPEN
    now = NOW - timedelta(days=1)
    for event, minutes_later in steps:
        now += timedelta(minutes=minutes_later)
        try:
            after = conversation_transition(state, event, now, rules)
        except InvalidTransition:
            continue
        ConversationState(after.state.status, after.state.snoozed_until, after.state.resolved_at)
        changed = "conversation.status_changed" in [emitted.name for emitted in after.emitted]
        assert changed == (after.state.status != state.status)
        assert not (after.starts_follow_up and after.state != state)
        state = after.state
