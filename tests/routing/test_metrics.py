"""Report figures over plain records: nearest-rank percentiles, deflection, handoffs, CSAT, handle time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.metrics import (
    ConversationRecord,
    HandlingSpan,
    Percentiles,
    average_handle_times,
    conversation_report,
    percentile,
    percentiles,
    reports_by,
)

START = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def minutes(*values: int) -> list[timedelta]:
    return [timedelta(minutes=value) for value in values]


def record(
    conversation_id: str,
    channel: str = "webchat",
    agent_id: str | None = "a",
    *,
    first_response: int | None = None,
    resolved: int | None = None,
    queued: int | None = None,
    bot: bool = False,
    agent: bool = True,
    handoffs: int = 0,
    csat: int | None = None,
) -> ConversationRecord:
    return ConversationRecord(
        conversation_id,
        channel,
        agent_id,
        START,
        first_response_at=None if first_response is None else START + timedelta(minutes=first_response),
        resolved_at=None if resolved is None else START + timedelta(minutes=resolved),
        time_in_queue=None if queued is None else timedelta(minutes=queued),
        bot_replied=bot,
        agent_replied=agent,
        handoffs=handoffs,
        csat=csat,
    )


def test_nearest_rank_percentiles_are_observed_values() -> None:
    sample = minutes(*range(1, 101))
    assert percentiles(sample) == Percentiles(
        100, timedelta(minutes=50), timedelta(minutes=90), timedelta(minutes=99)
    )
    assert percentiles(minutes(7)) == Percentiles(1, *minutes(7, 7, 7))
    assert percentiles(minutes(3, 1, 2)).p50 == timedelta(minutes=2)


def test_an_empty_sample_has_no_percentiles() -> None:
    assert percentiles([]) == Percentiles(0, None, None, None)


def test_a_percentile_rank_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile(minutes(1), 0)


def test_the_report_of_a_set_of_conversations() -> None:
    report = conversation_report(
        [
            record("1", first_response=2, resolved=30, queued=1, handoffs=1, csat=5),
            record("2", first_response=10, resolved=20, queued=4, bot=True, handoffs=1, csat=3),
            record("3", agent_id=None, resolved=5, bot=True, agent=False),
            record("4", agent_id=None, bot=True, agent=False),
        ]
    )
    assert report.conversations == 4
    assert report.first_response.count == 2 and report.first_response.p90 == timedelta(minutes=10)
    assert report.resolution == Percentiles(3, *minutes(20, 30, 30))
    assert report.time_in_queue.p50 == timedelta(minutes=1)
    assert (report.bot_conversations, report.bot_deflected, report.bot_deflection_rate) == (3, 1, 1 / 3)
    assert (report.handoffs, report.csat_responses, report.csat_average) == (2, 2, 4.0)
    assert report.csat_counts == (0, 0, 1, 0, 1)


def test_reports_per_channel_and_per_agent() -> None:
    records = [
        record("1", "webchat", "a", first_response=1),
        record("2", "email", "b", first_response=9),
        record("3", "email", "a", first_response=3),
    ]
    by_channel = reports_by(records, lambda each: each.channel)
    assert {channel: report.conversations for channel, report in by_channel.items()} == {
        "webchat": 1,
        "email": 2,
    }
    assert reports_by(records, lambda each: each.agent_id)["a"].first_response.p99 == timedelta(minutes=3)


def test_without_bot_conversations_there_is_no_deflection_rate() -> None:
    assert conversation_report([record("1")]).bot_deflection_rate is None


def test_average_handle_time_sums_an_agents_spans_per_conversation() -> None:
    spans = [
        HandlingSpan("a", "c1", START, START + timedelta(minutes=10)),
        HandlingSpan("a", "c1", START + timedelta(hours=1), START + timedelta(hours=1, minutes=5)),
        HandlingSpan("a", "c2", START, START + timedelta(minutes=5)),
        HandlingSpan("b", "c1", START, START + timedelta(minutes=2)),
    ]
    handled = {each.agent_id: (each.conversations, each.average) for each in average_handle_times(spans)}
    assert handled == {"a": (2, timedelta(minutes=10)), "b": (1, timedelta(minutes=2))}


@given(st.lists(st.integers(0, 10_000), min_size=1))
def test_percentiles_are_ordered_and_within_the_sample(values: list[int]) -> None:
    sample = minutes(*values)
    result = percentiles(sample)
    assert result.p50 is not None and result.p90 is not None and result.p99 is not None
    assert min(sample) <= result.p50 <= result.p90 <= result.p99 <= max(sample)
    assert {result.p50, result.p90, result.p99} <= set(sample)
