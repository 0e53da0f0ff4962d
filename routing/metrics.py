"""Report figures over plain records: percentiles of response, resolution and queue times, bot deflection,
handoffs, CSAT and per-agent handle time. The hub loads the rows of a date range, channel or agent and calls these.

Percentiles are nearest-rank: P90 of a sample is a time that some conversation really took, the
smallest one that at least 90 % of the sample did not exceed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "AgentHandleTime",
    "ConversationRecord",
    "ConversationReport",
    "HandlingSpan",
    "Percentiles",
    "average_handle_times",
    "conversation_report",
    "percentile",
    "percentiles",
    "reports_by",
]


@dataclass(frozen=True, slots=True)
class Percentiles:
    count: int
    p50: timedelta | None
    p90: timedelta | None
    p99: timedelta | None


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """One conversation's figures as stored.

    `first_response_at`: the first reply by an agent. `time_in_queue`: total time spent waiting for
    an agent, re-routes included (None: never queued). `handoffs`: times it was handed over (bot to
    agent, transfers).
    """

    conversation_id: str
    channel: str
    agent_id: str | None
    created_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    time_in_queue: timedelta | None = None
    bot_replied: bool = False
    agent_replied: bool = False
    handoffs: int = 0
    csat: int | None = None


@dataclass(frozen=True, slots=True)
class ConversationReport:
    conversations: int
    first_response: Percentiles
    resolution: Percentiles
    time_in_queue: Percentiles
    bot_conversations: int
    bot_deflected: int
    handoffs: int
    csat_responses: int
    csat_average: float | None
    csat_counts: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    """How many ratings of 1, 2, 3, 4 and 5."""

    @property
    def bot_deflection_rate(self) -> float | None:
        """Share of the conversations the bot took part in that were resolved without an agent."""
        return self.bot_deflected / self.bot_conversations if self.bot_conversations else None


@dataclass(frozen=True, slots=True)
class HandlingSpan:
    """A stretch during which one agent held one conversation (assignment to resolution or hand-over)."""

    agent_id: str
    conversation_id: str
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class AgentHandleTime:
    agent_id: str
    conversations: int
    average: timedelta


def percentile(sorted_values: Sequence[timedelta], rank: float) -> timedelta | None:
    """Nearest-rank percentile of an ascending sample; None for an empty one."""
    if not sorted_values:
        return None
    if not 0 < rank <= 100:
        raise ValueError("a percentile rank is above 0 and at most 100")
    return sorted_values[max(math.ceil(rank / 100 * len(sorted_values)), 1) - 1]


def percentiles(values: Iterable[timedelta]) -> Percentiles:
    ordered = sorted(values)
    return Percentiles(
        len(ordered), percentile(ordered, 50), percentile(ordered, 90), percentile(ordered, 99)
    )


def conversation_report(records: Sequence[ConversationRecord]) -> ConversationReport:
    """The figures of a set of conversations (already filtered by date range, channel or agent)."""
    with_bot = [record for record in records if record.bot_replied]
    ratings = [record.csat for record in records if record.csat is not None]
    return ConversationReport(
        conversations=len(records),
        first_response=percentiles(
            record.first_response_at - record.created_at
            for record in records
            if record.first_response_at is not None
        ),
        resolution=percentiles(
            record.resolved_at - record.created_at for record in records if record.resolved_at is not None
        ),
        time_in_queue=percentiles(
            record.time_in_queue for record in records if record.time_in_queue is not None
        ),
        bot_conversations=len(with_bot),
        bot_deflected=sum(
            1 for record in with_bot if record.resolved_at is not None and not record.agent_replied
        ),
        handoffs=sum(record.handoffs for record in records),
        csat_responses=len(ratings),
        csat_average=sum(ratings) / len(ratings) if ratings else None,
        csat_counts=(
            ratings.count(1),
            ratings.count(2),
            ratings.count(3),
            ratings.count(4),
            ratings.count(5),
        ),
    )


def reports_by(
    records: Sequence[ConversationRecord], key: Callable[[ConversationRecord], str | None]
) -> dict[str | None, ConversationReport]:
    """One report per value of `key` (e.g. `lambda record: record.channel`, or the agent)."""
    groups: dict[str | None, list[ConversationRecord]] = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return {group: conversation_report(members) for group, members in groups.items()}


def average_handle_times(spans: Sequence[HandlingSpan]) -> tuple[AgentHandleTime, ...]:
    """Per agent: handling time summed per conversation, averaged over the conversations they handled."""
    per_conversation: dict[str, dict[str, timedelta]] = defaultdict(lambda: defaultdict(timedelta))
    for span in spans:
        per_conversation[span.agent_id][span.conversation_id] += max(
            span.ended_at - span.started_at, timedelta(0)
        )
    return tuple(
        AgentHandleTime(agent_id, len(handled), sum(handled.values(), timedelta(0)) / len(handled))
        for agent_id, handled in sorted(per_conversation.items())
    )
