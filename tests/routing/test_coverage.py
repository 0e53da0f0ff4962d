"""Coverage per hour: agents on shift beside the arrivals of the same hour a week before."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from routing.coverage import hourly_coverage
from routing.hours import Weekday, WeeklyRange, WeeklySchedule

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_8 = datetime(2026, 1, 12, 8, 0, tzinfo=BERLIN)


def shift(zone: str, start: time, end: time, day: Weekday = Weekday.MONDAY) -> WeeklySchedule:
    return WeeklySchedule(zone, (WeeklyRange(day, start, end),))


def test_agents_on_shift_and_last_weeks_arrivals_per_hour() -> None:
    shifts = {
        "anna": shift("Europe/Berlin", time(9), time(11)),
        "wei": shift("Asia/Shanghai", time(16, 30), time(17, 30)),
        "late": shift("Europe/Berlin", time(20), time(23)),
    }
    last_monday = datetime(2026, 1, 5, tzinfo=BERLIN)
    arrivals = [
        last_monday.replace(hour=9, minute=5),
        last_monday.replace(hour=9, minute=59),
        last_monday.replace(hour=10),
        last_monday.replace(hour=7, minute=59),
        datetime(2026, 1, 12, 9, tzinfo=BERLIN),
    ]
    coverage = hourly_coverage(MONDAY_8, 4, shifts, arrivals, "Europe/Berlin")
    assert [(slot.hour_start, slot.agents_on_shift, slot.arrivals_last_week) for slot in coverage] == [
        (MONDAY_8, 0, 0),
        (MONDAY_8 + timedelta(hours=1), 2, 2),
        (MONDAY_8 + timedelta(hours=2), 2, 1),
        (MONDAY_8 + timedelta(hours=3), 0, 0),
    ]
    assert coverage[1].arrivals_per_agent == 1.0 and coverage[0].arrivals_per_agent is None


def test_last_week_means_the_same_wall_clock_hour_across_a_dst_change() -> None:
    """Berlin moved to summer time on 29 March 2026: 10:00 on 30 March compares with 10:00 on 23 March, 169 h before."""
    monday_after = datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    arrivals = [datetime(2026, 3, 23, 10, 30, tzinfo=BERLIN), datetime(2026, 3, 23, 11, 30, tzinfo=BERLIN)]
    coverage = hourly_coverage(monday_after, 1, {}, arrivals, "Europe/Berlin")
    assert coverage[0].arrivals_last_week == 1


def test_no_hours_asked_gives_no_rows() -> None:
    assert hourly_coverage(datetime(2026, 1, 12, tzinfo=UTC), 0, {}, [], "UTC") == ()
