"""What conversations and tickets share: who acts, the events a change emits, and the shape of a transition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from routing.errors import InvalidTransition

__all__ = [
    "Actor",
    "AgentReplied",
    "CustomerWrote",
    "DomainEvent",
    "EventValue",
    "SetOpen",
    "SetPending",
    "Transition",
    "moved",
    "refuse",
]

EventValue = str | datetime | None


class HasStatus(Protocol):
    @property
    def status(self) -> StrEnum: ...


StateT = TypeVar("StateT")
StatusStateT = TypeVar("StatusStateT", bound=HasStatus)


class Actor(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One event for the outbox and the agents' socket: `name` such as `conversation.reopened`, and its data."""

    name: str
    data: dict[str, EventValue]


@dataclass(frozen=True, slots=True)
class Transition(Generic[StateT]):
    """The state after an event and what to emit about it.

    `starts_follow_up` means the event belongs to a new conversation (or ticket) linked to this one,
    which stays as it was: the hub creates the new one and puts the event there.
    """

    state: StateT
    emitted: tuple[DomainEvent, ...] = ()
    starts_follow_up: bool = False


@dataclass(frozen=True, slots=True)
class CustomerWrote:
    """A message from the customer, on any channel."""


@dataclass(frozen=True, slots=True)
class AgentReplied:
    """A reply the customer sees, from an agent."""


@dataclass(frozen=True, slots=True)
class SetOpen:
    """An agent (re)opens: back from pending or snoozed, or reopening a resolved or solved one."""


@dataclass(frozen=True, slots=True)
class SetPending:
    """An agent marks it as waiting on the customer."""


def moved(
    subject: str,
    before: HasStatus,
    after: StatusStateT,
    at: datetime,
    *,
    named: str | None = None,
    **details: EventValue,
) -> Transition[StatusStateT]:
    """The transition to `after`: `<subject>.status_changed` when the status moved, and `<subject>.<named>` for a
    change with a name of its own (reopened, snoozed, solved...)."""
    data: dict[str, EventValue] = {"from": before.status.value, "to": after.status.value, "at": at, **details}
    emitted = [DomainEvent(f"{subject}.status_changed", data)] if before.status != after.status else []
    if named is not None:
        emitted.append(DomainEvent(f"{subject}.{named}", data))
    return Transition(after, tuple(emitted))


def refuse(status: StrEnum, event: object, why: str) -> InvalidTransition:
    """The InvalidTransition for `event` in `status`, saying why in words an agent can read."""
    event_name = type(event).__name__
    return InvalidTransition(
        f"cannot {event_name} while {status.value}: {why}", status=status.value, event=event_name
    )
