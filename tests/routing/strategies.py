"""Hypothesis strategies shared by the routing property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import strategies as st

from routing.hours import Weekday, WeeklyRange, WeeklySchedule

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
)
"""Zones with and without DST, a half-hour offset, a half-hour DST shift and a midnight DST change."""

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
weekly_ranges = st.builds(WeeklyRange, st.sampled_from(list(Weekday)), quarter_hours, quarter_hours)
schedules = st.builds(
    WeeklySchedule,
    st.sampled_from(ZONES),
    st.lists(weekly_ranges, min_size=1, max_size=6).map(tuple),
    st.frozensets(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)), max_size=20),
)
durations = st.integers(0, 60 * 24 * 10).map(lambda minutes: timedelta(minutes=minutes))
