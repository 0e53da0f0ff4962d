"""SLA targets per priority, due times that count only business hours, and breaches emitted once each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from routing.errors import InvalidPolicy
from routing.hours import ALWAYS_OPEN, WeeklySchedule, add_business_time, utc_instant
from routing.transitions import DomainEvent

__all__ = [
    "SLA_BREACHED",
    "Priority",
    "SlaBreach",
    "SlaDue",
    "SlaMetric",
    "SlaPolicy",
    "SlaProgress",
    "SlaTarget",
    "next_breach_check",
    "sla_breaches",
    "sla_due",
]

SLA_BREACHED = "ticket.sla_breached"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class SlaMetric(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """Business time allowed for each metric at one priority; None sets no target."""

    first_response: timedelta | None = None
    resolution: timedelta | None = None

    def __post_init__(self) -> None:
        for metric, allowed in (
            (SlaMetric.FIRST_RESPONSE, self.first_response),
            (SlaMetric.RESOLUTION, self.resolution),
        ):
            if allowed is not None and allowed <= timedelta(0):
                raise InvalidPolicy(f"the {metric.value} target must be positive", field=metric.value)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Targets per priority; a priority without one has no SLA."""

    targets: Mapping[Priority, SlaTarget] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SlaDue:
    first_response: datetime | None = None
    resolution: datetime | None = None

    def of(self, metric: SlaMetric) -> datetime | None:
        return self.first_response if metric is SlaMetric.FIRST_RESPONSE else self.resolution


@dataclass(frozen=True, slots=True)
class SlaProgress:
    """When the ticket met each metric, if it has: the first agent reply, the solve."""

    first_responded_at: datetime | None = None
    solved_at: datetime | None = None

    def of(self, metric: SlaMetric) -> datetime | None:
        return self.first_responded_at if metric is SlaMetric.FIRST_RESPONSE else self.solved_at


@dataclass(frozen=True, slots=True)
class SlaBreach:
    metric: SlaMetric
    due_at: datetime

    @property
    def event(self) -> DomainEvent:
        return DomainEvent(SLA_BREACHED, {"metric": self.metric.value, "due_at": self.due_at})


def sla_due(
    policy: SlaPolicy, priority: Priority, opened_at: datetime, hours: WeeklySchedule = ALWAYS_OPEN
) -> SlaDue:
    """Due times for a ticket opened at `opened_at`: each target counted in the inbox's business hours."""
    target = policy.targets.get(priority, SlaTarget())

    def due_after(allowed: timedelta | None) -> datetime | None:
        return None if allowed is None else add_business_time(hours, opened_at, allowed)

    return SlaDue(first_response=due_after(target.first_response), resolution=due_after(target.resolution))


def sla_breaches(
    due: SlaDue, progress: SlaProgress, already_emitted: frozenset[SlaMetric], now: datetime
) -> tuple[SlaBreach, ...]:
    """The breaches to emit now: metrics past due and not met in time, except those emitted before.

    Meeting a metric exactly at its due time is on time; a metric met late is still a breach, so a
    sweeper that ran late reports it all the same.
    """
    now = utc_instant(now)
    breaches = []
    for metric in SlaMetric:
        due_at = due.of(metric)
        if due_at is None or metric in already_emitted:
            continue
        met_at = progress.of(metric)
        if (now if met_at is None else utc_instant(met_at)) > due_at:
            breaches.append(SlaBreach(metric, due_at))
    return tuple(breaches)


def next_breach_check(
    due: SlaDue, progress: SlaProgress, already_emitted: frozenset[SlaMetric]
) -> datetime | None:
    """The earliest instant a breach can still happen (for scheduling the sweeper), or None when none can."""
    pending = [
        due_at
        for metric in SlaMetric
        if (due_at := due.of(metric)) is not None
        and metric not in already_emitted
        and progress.of(metric) is None
    ]
    return min(pending, default=None)
