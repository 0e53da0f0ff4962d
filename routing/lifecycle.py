"""The conversation's life, one rule for the API, the sockets and the inbox.

Statuses: open, pending (waiting on the customer), snoozed (until a time, then open again) and
resolved. A customer writing to a pending or snoozed conversation opens it; writing to a resolved
one reopens it within the inbox's reopen window, and after the window starts a new conversation
linked to this one. An agent reopens a resolved conversation explicitly or by replying into it, so
a reply is never sent into a conversation that still reads as resolved.
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
    "ConversationEvent",
    "ConversationRules",
    "ConversationState",
    "ConversationStatus",
    "Resolve",
    "Snooze",
    "SnoozeEnded",
    "conversation_transition",
]


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class ConversationState:
    """A conversation's status; snoozed ones know when they wake, resolved ones when they were resolved."""

    status: ConversationStatus
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.status is ConversationStatus.SNOOZED) != (self.snoozed_until is not None):
            raise InvalidState("a conversation has a wake-up time exactly when it is snoozed")
        if (self.status is ConversationStatus.RESOLVED) != (self.resolved_at is not None):
            raise InvalidState("a conversation has a resolution time exactly when it is resolved")


@dataclass(frozen=True, slots=True)
class ConversationRules:
    """An inbox's lifecycle settings: how long after resolving a customer's message still reopens."""

    reopen_window: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.reopen_window < timedelta(0):
            raise InvalidPolicy("the reopen window must not be negative", field="reopen_window")


@dataclass(frozen=True, slots=True)
class Resolve:
    by: Actor = Actor.AGENT


@dataclass(frozen=True, slots=True)
class Snooze:
    until: datetime


@dataclass(frozen=True, slots=True)
class SnoozeEnded:
    """The sweeper found the wake-up time passed."""


ConversationEvent = CustomerWrote | AgentReplied | SetOpen | SetPending | Resolve | Snooze | SnoozeEnded

_OPEN = ConversationState(ConversationStatus.OPEN)


def conversation_transition(
    state: ConversationState, event: ConversationEvent, now: datetime, rules: ConversationRules
) -> Transition[ConversationState]:
    """The state after `event` at `now`, and the events to emit; InvalidTransition when the event makes no sense now."""
    now = utc_instant(now)
    status = state.status
    match event:
        case CustomerWrote():
            if state.resolved_at is not None:
                if now - state.resolved_at <= rules.reopen_window:
                    return moved("conversation", state, _OPEN, now, named="reopened", by=Actor.CUSTOMER.value)
                return Transition(state, starts_follow_up=True)
            return moved("conversation", state, _OPEN, now)
        case AgentReplied():
            if status is ConversationStatus.RESOLVED:
                return moved("conversation", state, _OPEN, now, named="reopened", by=Actor.AGENT.value)
            return Transition(state)
        case SetOpen():
            if status is ConversationStatus.OPEN:
                raise refuse(status, event, "it is already open")
            if status is ConversationStatus.RESOLVED:
                return moved("conversation", state, _OPEN, now, named="reopened", by=Actor.AGENT.value)
            return moved("conversation", state, _OPEN, now)
        case SetPending():
            if status in (ConversationStatus.PENDING, ConversationStatus.RESOLVED):
                raise refuse(status, event, "only an open or snoozed conversation can wait on the customer")
            return moved("conversation", state, ConversationState(ConversationStatus.PENDING), now)
        case Resolve(by=by):
            if status is ConversationStatus.RESOLVED:
                raise refuse(status, event, "it is already resolved")
            return moved(
                "conversation",
                state,
                ConversationState(ConversationStatus.RESOLVED, resolved_at=now),
                now,
                named="resolved",
                by=by.value,
            )
        case Snooze(until=until):
            until = utc_instant(until)
            if status is ConversationStatus.RESOLVED:
                raise refuse(status, event, "reopen it first")
            if until <= now:
                raise refuse(status, event, "the wake-up time must be in the future")
            return moved(
                "conversation",
                state,
                ConversationState(ConversationStatus.SNOOZED, snoozed_until=until),
                now,
                named="snoozed",
                until=until,
            )
        case SnoozeEnded():
            if state.snoozed_until is None or state.snoozed_until > now:
                raise refuse(status, event, "it is not snoozed until now or earlier")
            return moved("conversation", state, _OPEN, now)
