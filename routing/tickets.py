"""A ticket's life: new → open → pending → solved → closed.

A customer writing on any channel opens a pending ticket and reopens a solved one; once closed, a
ticket is final and the customer's message starts a follow-up ticket linked to it. An agent replying
to a new ticket opens it. The system closes a solved ticket after the inbox's quiet period; an agent
may close a solved ticket at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from routing.errors import InvalidPolicy, InvalidState
from routing.hours import utc_instant
from routing.transitions import (
    Actor,
    AgentReplied,
    CustomerWrote,
    SetOpen,
    SetPending,
    Transition,
    moved,
    refuse,
)

__all__ = [
    "Close",
    "Solve",
    "TicketEvent",
    "TicketRules",
    "TicketState",
    "TicketStatus",
    "ticket_close_due",
    "ticket_transition",
]


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class TicketState:
    status: TicketStatus
    solved_at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.status in (TicketStatus.SOLVED, TicketStatus.CLOSED)) != (self.solved_at is not None):
            raise InvalidState("a ticket has a solved time exactly when it is solved or closed")


@dataclass(frozen=True, slots=True)
class TicketRules:
    """How long a solved ticket waits for the customer before the system closes it."""

    close_after_solved: timedelta = timedelta(days=4)

    def __post_init__(self) -> None:
        if self.close_after_solved < timedelta(0):
            raise InvalidPolicy("the time before closing must not be negative", field="close_after_solved")


@dataclass(frozen=True, slots=True)
class Solve:
    by: Actor = Actor.AGENT


@dataclass(frozen=True, slots=True)
class Close:
    by: Actor = Actor.AGENT


TicketEvent = CustomerWrote | AgentReplied | SetOpen | SetPending | Solve | Close

_OPEN = TicketState(TicketStatus.OPEN)
_WORKABLE = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


def ticket_close_due(state: TicketState, rules: TicketRules) -> datetime | None:
    """When the system closes this ticket, if it is solved."""
    if state.status is not TicketStatus.SOLVED or state.solved_at is None:
        return None
    return state.solved_at + rules.close_after_solved


def ticket_transition(
    state: TicketState, event: TicketEvent, now: datetime, rules: TicketRules
) -> Transition[TicketState]:
    """The ticket after `event` at `now`, and the events to emit; InvalidTransition when it makes no sense now."""
    now = utc_instant(now)
    status = state.status
    match event:
        case CustomerWrote():
            if status is TicketStatus.CLOSED:
                return Transition(state, starts_follow_up=True)
            if status is TicketStatus.SOLVED:
                return moved("ticket", state, _OPEN, now, named="reopened", by=Actor.CUSTOMER.value)
            if status is TicketStatus.PENDING:
                return moved("ticket", state, _OPEN, now)
            return Transition(state)
        case AgentReplied():
            if status is TicketStatus.CLOSED:
                raise refuse(status, event, "a closed ticket is final")
            if status is TicketStatus.SOLVED:
                return moved("ticket", state, _OPEN, now, named="reopened", by=Actor.AGENT.value)
            if status is TicketStatus.NEW:
                return moved("ticket", state, _OPEN, now)
            return Transition(state)
        case SetOpen():
            if status in (TicketStatus.OPEN, TicketStatus.CLOSED):
                raise refuse(status, event, "only a new, pending or solved ticket can be opened")
            if status is TicketStatus.SOLVED:
                return moved("ticket", state, _OPEN, now, named="reopened", by=Actor.AGENT.value)
            return moved("ticket", state, _OPEN, now)
        case SetPending():
            if status not in (TicketStatus.NEW, TicketStatus.OPEN):
                raise refuse(status, event, "only a new or open ticket can wait on the customer")
            return moved("ticket", state, TicketState(TicketStatus.PENDING), now)
        case Solve(by=by):
            if status not in _WORKABLE:
                raise refuse(status, event, "it is already solved or closed")
            return moved(
                "ticket",
                state,
                TicketState(TicketStatus.SOLVED, solved_at=now),
                now,
                named="solved",
                by=by.value,
            )
        case Close(by=by):
            close_due = ticket_close_due(state, rules)
            if close_due is None:
                raise refuse(status, event, "only a solved ticket can be closed")
            if by is not Actor.AGENT and now < close_due:
                raise refuse(status, event, f"it closes by itself at {close_due.isoformat()}")
            return moved(
                "ticket",
                state,
                TicketState(TicketStatus.CLOSED, solved_at=state.solved_at),
                now,
                named="closed",
                by=by.value,
            )
