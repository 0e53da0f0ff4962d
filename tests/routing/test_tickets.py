"""A ticket's life: new → open → pending → solved → closed, what reopens it, and when it closes by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.errors import InvalidState, InvalidTransition
from routing.tickets import (
    Close,
    Solve,
    TicketEvent,
    TicketRules,
    TicketState,
    TicketStatus,
    ticket_close_due,
    ticket_transition,
)
from routing.transitions import Actor, AgentReplied, CustomerWrote, SetOpen, SetPending

NOW = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
RULES = TicketRules(close_after_solved=timedelta(days=4))
NEW = TicketState(TicketStatus.NEW)
OPEN = TicketState(TicketStatus.OPEN)
PENDING = TicketState(TicketStatus.PENDING)
SOLVED = TicketState(TicketStatus.SOLVED, solved_at=NOW - timedelta(days=1))
CLOSED = TicketState(TicketStatus.CLOSED, solved_at=NOW - timedelta(days=10))


def after(state: TicketState, event: TicketEvent, now: datetime = NOW) -> TicketState:
    return ticket_transition(state, event, now, RULES).state


def test_the_first_agent_reply_opens_a_new_ticket() -> None:
    assert after(NEW, AgentReplied()) == OPEN


def test_the_path_from_new_to_closed() -> None:
    pending = after(after(NEW, SetOpen()), SetPending())
    assert pending == PENDING
    solved = ticket_transition(pending, Solve(), NOW, RULES)
    assert solved.state == TicketState(TicketStatus.SOLVED, solved_at=NOW)
    assert [event.name for event in solved.emitted] == ["ticket.status_changed", "ticket.solved"]
    closed = ticket_transition(solved.state, Close(), NOW + timedelta(minutes=1), RULES)
    assert closed.state.status is TicketStatus.CLOSED
    assert closed.emitted[1].name == "ticket.closed"


def test_the_customer_answering_opens_a_pending_ticket() -> None:
    assert after(PENDING, CustomerWrote()) == OPEN


@pytest.mark.parametrize(
    ("event", "by"), [(CustomerWrote(), "customer"), (AgentReplied(), "agent"), (SetOpen(), "agent")]
)
def test_a_solved_ticket_is_reopened_by_a_message_or_an_agent(event: TicketEvent, by: str) -> None:
    reopened = ticket_transition(SOLVED, event, NOW, RULES)
    assert reopened.state == OPEN
    assert reopened.emitted[1].name == "ticket.reopened" and reopened.emitted[1].data["by"] == by


def test_the_customer_writing_to_a_closed_ticket_starts_a_follow_up() -> None:
    follow_up = ticket_transition(CLOSED, CustomerWrote(), NOW, RULES)
    assert (follow_up.state, follow_up.emitted, follow_up.starts_follow_up) == (CLOSED, (), True)


def test_the_system_closes_a_solved_ticket_only_once_its_quiet_period_is_over() -> None:
    due = ticket_close_due(SOLVED, RULES)
    assert due == NOW + timedelta(days=3)
    with pytest.raises(InvalidTransition, match="closes by itself"):
        ticket_transition(SOLVED, Close(by=Actor.SYSTEM), due - timedelta(seconds=1), RULES)
    assert after(SOLVED, Close(by=Actor.SYSTEM), due).status is TicketStatus.CLOSED
    assert ticket_close_due(OPEN, RULES) is None


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (CLOSED, AgentReplied()),
        (CLOSED, SetOpen()),
        (OPEN, SetOpen()),
        (PENDING, SetPending()),
        (SOLVED, SetPending()),
        (SOLVED, Solve()),
        (CLOSED, Solve()),
        (OPEN, Close()),
        (NEW, Close()),
        (CLOSED, Close()),
    ],
)
def test_a_transition_that_makes_no_sense_is_refused_by_name(state: TicketState, event: TicketEvent) -> None:
    with pytest.raises(InvalidTransition) as refused:
        ticket_transition(state, event, NOW, RULES)
    assert refused.value.status == state.status.value


def test_a_solved_ticket_without_its_solve_time_cannot_be_built() -> None:
    with pytest.raises(InvalidState):
        TicketState(TicketStatus.SOLVED)
    with pytest.raises(InvalidState):
        TicketState(TicketStatus.OPEN, solved_at=NOW)


events = st.sampled_from(
    [
        CustomerWrote(),
        AgentReplied(),
        SetOpen(),
        SetPending(),
        Solve(),
        Close(),
        Close(by=Actor.SYSTEM),
        Solve(by=Actor.BOT),
    ]
)


@given(st.lists(st.tuples(events, st.integers(0, 60 * 24 * 3)), max_size=40))
def test_ticket_transitions_never_reach_an_invalid_state(steps: list[tuple[TicketEvent, int]]) -> None:
    state, now = NEW, NOW
    for event, minutes_later in steps:
        now += timedelta(minutes=minutes_later)
        try:
            moved = ticket_transition(state, event, now, RULES)
        except InvalidTransition:
            continue
        TicketState(moved.state.status, moved.state.solved_at)
        assert state.status is not TicketStatus.CLOSED or moved.state == state, "a closed ticket is final"
        state = moved.state
