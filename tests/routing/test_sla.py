"""SLA due times per priority in business hours, and each breach emitted once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given

from routing.hours import Weekday, WeeklyRange, WeeklySchedule
from routing.sla import (
    Priority,
    SlaDue,
    SlaMetric,
    SlaPolicy,
    SlaProgress,
    SlaTarget,
    next_breach_check,
    sla_breaches,
    sla_due,
)
from tests.routing.strategies import durations, instants, schedules

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS_9_TO_18 = WeeklySchedule(
    "Asia/Shanghai", tuple(WeeklyRange(day, time(9), time(18)) for day in list(Weekday)[:5])
)
POLICY = SlaPolicy(
    {
        Priority.URGENT: SlaTarget(first_response=timedelta(minutes=30), resolution=timedelta(hours=4)),
        Priority.NORMAL: SlaTarget(first_response=timedelta(hours=8)),
    }
)


def test_due_times_count_business_minutes_from_friday_evening_to_monday() -> None:
    friday_evening = datetime(2026, 1, 16, 17, 45, tzinfo=SHANGHAI)
    due = sla_due(POLICY, Priority.URGENT, friday_evening, WEEKDAYS_9_TO_18)
    assert due.first_response == datetime(2026, 1, 19, 9, 15, tzinfo=SHANGHAI)
    assert due.resolution == datetime(2026, 1, 19, 12, 45, tzinfo=SHANGHAI)


def test_a_priority_without_targets_has_no_due_times_and_calendar_time_is_the_default() -> None:
    opened = datetime(2026, 1, 17, 12, 0, tzinfo=UTC)
    assert sla_due(POLICY, Priority.LOW, opened) == SlaDue()
    assert sla_due(POLICY, Priority.NORMAL, opened).first_response == opened + timedelta(hours=8)


FIRST_RESPONSE_DUE = datetime(2026, 1, 19, 9, 15, tzinfo=UTC)
RESOLUTION_DUE = datetime(2026, 1, 19, 12, tzinfo=UTC)
DUE = SlaDue(first_response=FIRST_RESPONSE_DUE, resolution=RESOLUTION_DUE)
MUCH_LATER = datetime(2026, 2, 1, tzinfo=UTC)


def test_a_missed_first_response_is_a_breach_once() -> None:
    late = FIRST_RESPONSE_DUE + timedelta(seconds=1)
    breaches = sla_breaches(DUE, SlaProgress(), frozenset(), late)
    assert [(breach.metric, breach.due_at) for breach in breaches] == [
        (SlaMetric.FIRST_RESPONSE, FIRST_RESPONSE_DUE)
    ]
    assert breaches[0].event.name == "ticket.sla_breached"
    assert breaches[0].event.data == {"metric": "first_response", "due_at": FIRST_RESPONSE_DUE}
    assert sla_breaches(DUE, SlaProgress(), frozenset({SlaMetric.FIRST_RESPONSE}), late) == ()


def test_meeting_a_target_exactly_at_its_due_time_is_on_time() -> None:
    assert sla_breaches(DUE, SlaProgress(), frozenset(), FIRST_RESPONSE_DUE) == ()
    answered_on_time = SlaProgress(first_responded_at=FIRST_RESPONSE_DUE)
    assert [breach.metric for breach in sla_breaches(DUE, answered_on_time, frozenset(), MUCH_LATER)] == [
        SlaMetric.RESOLUTION
    ]


def test_a_target_met_late_is_still_reported_by_a_late_sweeper() -> None:
    met_late = SlaProgress(
        first_responded_at=FIRST_RESPONSE_DUE + timedelta(minutes=1), solved_at=RESOLUTION_DUE
    )
    assert [breach.metric for breach in sla_breaches(DUE, met_late, frozenset(), MUCH_LATER)] == [
        SlaMetric.FIRST_RESPONSE
    ]


def test_the_next_check_is_the_earliest_due_time_still_at_stake() -> None:
    assert next_breach_check(DUE, SlaProgress(), frozenset()) == FIRST_RESPONSE_DUE
    answered = SlaProgress(first_responded_at=FIRST_RESPONSE_DUE)
    assert next_breach_check(DUE, answered, frozenset()) == RESOLUTION_DUE
    assert next_breach_check(DUE, answered, frozenset({SlaMetric.RESOLUTION})) is None


@given(schedules, instants, instants, durations)
def test_sla_due_is_monotonic_in_the_opening_time(
    hours: WeeklySchedule, earlier: datetime, later: datetime, allowed: timedelta
) -> None:
    earlier, later = sorted((earlier, later))
    policy = SlaPolicy({Priority.HIGH: SlaTarget(resolution=allowed + timedelta(minutes=1))})
    first, second = (
        sla_due(policy, Priority.HIGH, earlier, hours),
        sla_due(policy, Priority.HIGH, later, hours),
    )
    assert first.resolution is not None and second.resolution is not None
    assert first.resolution <= second.resolution
