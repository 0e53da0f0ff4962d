"""Business hours and shifts: weekly ranges, overnight ranges, closed dates, DST, business-time arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.errors import InvalidSchedule, NaiveDateTime
from routing.hours import (
    ALWAYS_OPEN,
    Weekday,
    WeeklyRange,
    WeeklySchedule,
    add_business_time,
    is_open,
    next_opening,
    open_periods,
)
from tests.routing.strategies import durations, instants, schedules

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WORKDAYS = (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY)


def office(
    zone: str,
    *ranges: tuple[time, time],
    days: tuple[Weekday, ...] = WORKDAYS,
    closed: frozenset[date] = frozenset(),
) -> WeeklySchedule:
    return WeeklySchedule(
        zone, tuple(WeeklyRange(day, start, end) for day in days for start, end in ranges), closed
    )


NINE_TO_FIVE_BERLIN = office("Europe/Berlin", (time(9), time(17)))


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


def test_wall_clock_hours_follow_the_zone_offset_in_winter_and_summer() -> None:
    assert is_open(NINE_TO_FIVE_BERLIN, datetime(2026, 1, 12, 8, 0, tzinfo=UTC))
    assert not is_open(NINE_TO_FIVE_BERLIN, datetime(2026, 1, 12, 7, 59, tzinfo=UTC))
    assert is_open(NINE_TO_FIVE_BERLIN, datetime(2026, 7, 13, 7, 0, tzinfo=UTC))
    assert not is_open(NINE_TO_FIVE_BERLIN, datetime(2026, 7, 13, 15, 0, tzinfo=UTC))


def test_the_closing_time_itself_is_closed() -> None:
    assert is_open(NINE_TO_FIVE_BERLIN, local(BERLIN, 2026, 1, 12, 16, 59))
    assert not is_open(NINE_TO_FIVE_BERLIN, local(BERLIN, 2026, 1, 12, 17, 0))


def test_several_ranges_a_day_leave_the_lunch_break_closed() -> None:
    split = office("Europe/Berlin", (time(9), time(12)), (time(13), time(18)))
    assert not is_open(split, local(BERLIN, 2026, 1, 12, 12, 30))
    assert next_opening(split, local(BERLIN, 2026, 1, 12, 12, 30)) == local(BERLIN, 2026, 1, 12, 13, 0)
    assert is_open(split, local(BERLIN, 2026, 1, 12, 17, 30))


def test_an_overnight_range_runs_into_the_next_day() -> None:
    nights = office("Europe/Berlin", (time(22), time(6)), days=(Weekday.FRIDAY,))
    assert not is_open(nights, local(BERLIN, 2026, 1, 16, 21, 59))
    assert is_open(nights, local(BERLIN, 2026, 1, 16, 23, 0))
    assert is_open(nights, local(BERLIN, 2026, 1, 17, 5, 59))
    assert not is_open(nights, local(BERLIN, 2026, 1, 17, 6, 0))
    assert not is_open(nights, local(BERLIN, 2026, 1, 15, 23, 0))


def test_midnight_to_midnight_is_the_whole_day_and_an_end_of_midnight_closes_at_midnight() -> None:
    sundays = office("Europe/Berlin", (time(0), time(0)), days=(Weekday.SUNDAY,))
    evenings = office("Europe/Berlin", (time(18), time(0)), days=(Weekday.MONDAY,))
    assert is_open(sundays, local(BERLIN, 2026, 1, 18, 0, 0)) and is_open(
        sundays, local(BERLIN, 2026, 1, 18, 23, 59)
    )
    assert not is_open(sundays, local(BERLIN, 2026, 1, 19, 0, 0))
    assert is_open(evenings, local(BERLIN, 2026, 1, 12, 23, 59))
    assert not is_open(evenings, local(BERLIN, 2026, 1, 13, 0, 0))


def test_a_closed_date_closes_the_whole_local_day() -> None:
    national_day = office("Asia/Shanghai", (time(9), time(18)), closed=frozenset({date(2026, 10, 1)}))
    shanghai = ZoneInfo("Asia/Shanghai")
    assert not is_open(national_day, local(shanghai, 2026, 10, 1, 10, 0))
    assert is_open(national_day, local(shanghai, 2026, 10, 2, 10, 0))
    assert next_opening(national_day, local(shanghai, 2026, 9, 30, 19, 0)) == local(
        shanghai, 2026, 10, 2, 9, 0
    )


def test_a_closed_date_cuts_the_overnight_range_from_the_evening_before_at_midnight() -> None:
    nights = office(
        "Europe/Berlin", (time(22), time(6)), days=(Weekday.THURSDAY,), closed=frozenset({date(2026, 12, 25)})
    )
    assert is_open(nights, local(BERLIN, 2026, 12, 24, 23, 0))
    assert not is_open(nights, local(BERLIN, 2026, 12, 25, 1, 0))


def test_the_next_opening_after_friday_evening_is_monday_morning() -> None:
    assert next_opening(NINE_TO_FIVE_BERLIN, local(BERLIN, 2026, 1, 16, 18, 0)) == local(
        BERLIN, 2026, 1, 19, 9, 0
    )


def test_while_open_the_next_opening_is_now() -> None:
    now = local(BERLIN, 2026, 1, 12, 10, 0)
    assert next_opening(NINE_TO_FIVE_BERLIN, now) == now


def test_a_night_the_clocks_spring_forward_is_an_hour_shorter() -> None:
    sunday_morning = office("America/New_York", (time(0), time(6)), days=(Weekday.SUNDAY,))
    first = next(open_periods(sunday_morning, datetime(2026, 3, 7, tzinfo=UTC)))
    assert (first.start, first.end) == (
        datetime(2026, 3, 8, 5, tzinfo=UTC),
        datetime(2026, 3, 8, 10, tzinfo=UTC),
    )


def test_a_night_the_clocks_fall_back_is_an_hour_longer() -> None:
    sunday_morning = office("America/New_York", (time(0), time(6)), days=(Weekday.SUNDAY,))
    first = next(open_periods(sunday_morning, datetime(2026, 10, 31, tzinfo=UTC)))
    assert first.duration == timedelta(hours=7)


def test_an_opening_time_the_clocks_skip_is_read_with_the_offset_before_the_jump() -> None:
    half_past_two = office("America/New_York", (time(2, 30), time(5)), days=(Weekday.SUNDAY,))
    first = next(open_periods(half_past_two, datetime(2026, 3, 7, tzinfo=UTC)))
    assert first.start == local(NEW_YORK, 2026, 3, 8, 3, 30)
    assert first.end == local(NEW_YORK, 2026, 3, 8, 5, 0)


def test_a_range_inside_the_skipped_hour_is_dropped_that_day() -> None:
    skipped = office("America/New_York", (time(2, 30), time(3)), days=(Weekday.SUNDAY,))
    first = next(open_periods(skipped, datetime(2026, 3, 7, tzinfo=UTC)))
    assert first.start == local(NEW_YORK, 2026, 3, 15, 2, 30)


def test_business_minutes_skip_the_weekend() -> None:
    friday_afternoon = local(BERLIN, 2026, 1, 16, 16, 30)
    assert add_business_time(NINE_TO_FIVE_BERLIN, friday_afternoon, timedelta(minutes=60)) == local(
        BERLIN, 2026, 1, 19, 9, 30
    )


def test_business_minutes_counted_from_outside_hours_start_at_the_next_opening() -> None:
    saturday = local(BERLIN, 2026, 1, 17, 12, 0)
    assert add_business_time(NINE_TO_FIVE_BERLIN, saturday, timedelta(hours=1)) == local(
        BERLIN, 2026, 1, 19, 10, 0
    )


def test_business_minutes_across_a_weekend_with_a_dst_change() -> None:
    new_york = office("America/New_York", (time(9), time(17)))
    friday = local(NEW_YORK, 2026, 3, 6, 16, 0)
    assert add_business_time(new_york, friday, timedelta(hours=2)) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_business_minutes_ending_at_closing_time_give_the_closing_time() -> None:
    assert add_business_time(
        NINE_TO_FIVE_BERLIN, local(BERLIN, 2026, 1, 12, 16, 0), timedelta(hours=1)
    ) == local(BERLIN, 2026, 1, 12, 17, 0)


def test_business_minutes_skip_a_closed_date_and_the_lunch_break() -> None:
    split = office(
        "Asia/Shanghai", (time(9), time(12)), (time(13), time(18)), closed=frozenset({date(2026, 10, 1)})
    )
    shanghai = ZoneInfo("Asia/Shanghai")
    assert add_business_time(split, local(shanghai, 2026, 9, 30, 17, 0), timedelta(hours=5)) == local(
        shanghai, 2026, 10, 2, 14, 0
    )


def test_always_open_adds_plain_time_and_zero_adds_nothing() -> None:
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert add_business_time(ALWAYS_OPEN, start, timedelta(days=3)) == start + timedelta(days=3)
    assert add_business_time(NINE_TO_FIVE_BERLIN, local(BERLIN, 2026, 1, 17, 12, 0), timedelta(0)) == local(
        BERLIN, 2026, 1, 17, 12, 0
    )


def test_negative_business_time_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(ALWAYS_OPEN, datetime(2026, 5, 1, tzinfo=UTC), timedelta(minutes=-1))


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(NaiveDateTime):
        is_open(NINE_TO_FIVE_BERLIN, datetime(2026, 1, 12, 10, 0))


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "America"])
def test_an_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(InvalidSchedule) as refused:
        WeeklySchedule(zone, (WeeklyRange(Weekday.MONDAY, time(9), time(17)),))
    assert refused.value.field == "time_zone"


def test_hours_without_any_range_are_refused() -> None:
    with pytest.raises(InvalidSchedule, match="at least one"):
        WeeklySchedule("UTC", ())


def test_opening_times_with_a_zone_of_their_own_are_refused() -> None:
    with pytest.raises(InvalidSchedule, match="wall-clock"):
        WeeklyRange(Weekday.MONDAY, time(9, tzinfo=UTC), time(17))


@given(schedules, instants, durations, durations)
def test_business_due_time_is_monotonic_in_the_time_added(
    schedule: WeeklySchedule, start: datetime, shorter: timedelta, longer: timedelta
) -> None:
    shorter, longer = sorted((shorter, longer))
    assert add_business_time(schedule, start, shorter) <= add_business_time(schedule, start, longer)


@given(schedules, instants, instants, durations)
def test_business_due_time_is_monotonic_in_the_start(
    schedule: WeeklySchedule, earlier: datetime, later: datetime, duration: timedelta
) -> None:
    earlier, later = sorted((earlier, later))
    assert add_business_time(schedule, earlier, duration) <= add_business_time(schedule, later, duration)


@given(schedules, instants, durations)
def test_exactly_the_business_time_asked_for_lies_open_between_start_and_due(
    schedule: WeeklySchedule, start: datetime, duration: timedelta
) -> None:
    due = add_business_time(schedule, start, duration)
    counted = timedelta(0)
    for period in open_periods(schedule, start):
        if period.start >= due:
            break
        counted += min(period.end, due) - period.start
    assert counted == duration


@given(schedules, instants)
def test_is_open_agrees_with_the_open_periods(schedule: WeeklySchedule, at: datetime) -> None:
    assert is_open(schedule, at) == (next_opening(schedule, at) == at)


@given(schedules, instants, st.integers(1, 30))
def test_open_periods_are_ordered_and_never_overlap(
    schedule: WeeklySchedule, after: datetime, count: int
) -> None:
    periods = open_periods(schedule, after)
    previous_end = after
    for _ in range(count):
        period = next(periods)
        assert previous_end <= period.start < period.end
        previous_end = period.end
