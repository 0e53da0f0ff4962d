"""The errors a caller of routing must handle: every refusal names what was wrong, so the hub can answer it."""

from __future__ import annotations

__all__ = [
    "ClaimRefused",
    "InvalidPolicy",
    "InvalidSchedule",
    "InvalidState",
    "InvalidTransition",
    "NaiveDateTime",
    "RoutingError",
    "TransferRefused",
]


class RoutingError(ValueError):
    """Root of routing's refusals; `field` names the offending setting when one is to blame."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidSchedule(RoutingError):
    """Business hours or a shift that cannot be read: unknown time zone, bad time, no hours at all."""


class InvalidPolicy(RoutingError):
    """An inbox's routing, SLA or lifecycle settings that cannot be applied."""


class NaiveDateTime(RoutingError):
    """A time without a time zone: routing only compares instants, never wall-clock guesses."""


class InvalidState(RoutingError):
    """A conversation or ticket state that breaks the lifecycle's invariants (snoozed without a wake-up time)."""


class InvalidTransition(RoutingError):
    """A status change the lifecycle forbids (resolving a resolved conversation, closing an open ticket)."""

    def __init__(self, detail: str, *, status: str, event: str) -> None:
        super().__init__(detail)
        self.status = status
        self.event = event


class ClaimRefused(RoutingError):
    """An agent may not take this conversation from the queue; `reasons` say why."""

    def __init__(self, detail: str, *, reasons: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.reasons = reasons


class TransferRefused(RoutingError):
    """A transfer that cannot happen (to the same agent, to someone offline or full); `reasons` say why."""

    def __init__(self, detail: str, *, reasons: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.reasons = reasons
