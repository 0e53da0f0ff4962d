"""An agent's shifts as routing reads them: weekly ranges in the agent's zone, overnight allowed, overlaps and empty
ranges refused with the field named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routing.errors import InvalidSchedule
from routing.hours import is_open
from routing.shifts import shifts_from_config


def test_no_shifts_means_always_available() -> None:
    assert shifts_from_config({}) is None


def test_a_night_shift_runs_past_midnight_in_the_agents_zone() -> None:
    schedule = shifts_from_config({"time_zone": "Asia/Shanghai", "weekly": {"mon": ["22:00-06:00"]}})
    assert schedule is not None
    assert is_open(schedule, datetime(2026, 11, 16, 15, 0, tzinfo=UTC))  # Monday 23:00 in Shanghai
    assert is_open(schedule, datetime(2026, 11, 16, 21, 59, tzinfo=UTC))  # Tuesday 05:59
    assert not is_open(schedule, datetime(2026, 11, 16, 22, 0, tzinfo=UTC))  # Tuesday 06:00


@pytest.mark.parametrize(
    ("weekly", "field"),
    [
        ({"mon": ["09:00-17:00", "16:00-18:00"]}, "weekly.mon.1"),
        (
            {"mon": ["13:00-18:00"], "tue": ["09:00-12:00"], "wed": ["08:00-14:00", "12:00-13:00"]},
            "weekly.wed.1",
        ),
        ({"sun": ["22:00-06:00"], "mon": ["05:00-07:00"]}, "weekly.sun.0"),
        ({"mon": ["23:00-01:00"], "tue": ["00:30-02:00"]}, "weekly.tue.0"),
        ({"fri": ["09:00-09:00"]}, "weekly.fri.0"),
        ({"fri": ["18:00-09"]}, "weekly.fri.0"),
    ],
)
def test_overlapping_empty_or_malformed_ranges_are_refused_naming_the_range(weekly, field) -> None:
    with pytest.raises(InvalidSchedule) as refused:
        shifts_from_config({"time_zone": "UTC", "weekly": weekly})
    assert refused.value.field == field


def test_an_unknown_zone_is_refused_naming_it() -> None:
    with pytest.raises(InvalidSchedule) as refused:
        shifts_from_config({"time_zone": "Mars/Olympus_Mons", "weekly": {"mon": ["09:00-17:00"]}})
    assert refused.value.field == "time_zone"


def test_adjacent_shifts_and_whole_days_are_accepted() -> None:
    schedule = shifts_from_config(
        {"time_zone": "UTC", "weekly": {"mon": ["00:00-24:00"], "tue": ["00:00-12:00", "12:00-00:00"]}}
    )
    assert schedule is not None and len(schedule.ranges) == 3
