"""Staffing against demand per hour: agents on shift beside the conversations that arrived that hour a week before."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.hours import WeeklySchedule, open_periods, time_zone, utc_instant, wall_to_utc

__all__ = ["HourCoverage", "hourly_coverage"]

ONE_HOUR = timedelta(hours=1)
ONE_WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class HourCoverage:
    hour_start: datetime
    agents_on_shift: int
    arrivals_last_week: int

    @property
    def arrivals_per_agent(self) -> float | None:
        """None when nobody is on shift (then any arrival is uncovered)."""
        return self.arrivals_last_week / self.agents_on_shift if self.agents_on_shift else None


def hourly_coverage(
    start: datetime,
    hours: int,
    shifts: Mapping[str, WeeklySchedule],
    arrivals: Sequence[datetime],
    report_time_zone: str,
) -> tuple[HourCoverage, ...]:
    """For each of `hours` hours from `start`: how many agents are on shift at some moment of it, and how many of
    `arrivals` came in the same wall-clock hour of `report_time_zone` one week earlier."""
    first = utc_instant(start)
    zone = time_zone(report_time_zone)
    slots = [first + index * ONE_HOUR for index in range(max(hours, 0))]
    if not slots:
        return ()
    staffed = [0] * len(slots)
    horizon = slots[-1] + ONE_HOUR
    for shift in shifts.values():
        covered: set[int] = set()
        for period in open_periods(shift, first):
            if period.start >= horizon:
                break
            first_slot = int((period.start - first) / ONE_HOUR)
            last_slot = min(int((period.end - first - timedelta.resolution) / ONE_HOUR), len(slots) - 1)
            covered.update(range(first_slot, last_slot + 1))
        for index in covered:
            staffed[index] += 1
    arrived = sorted(utc_instant(arrival) for arrival in arrivals)
    coverage = []
    for index, slot in enumerate(slots):
        week_before = wall_to_utc(slot.astimezone(zone).replace(tzinfo=None) - ONE_WEEK, zone)
        count = bisect.bisect_left(arrived, week_before + ONE_HOUR) - bisect.bisect_left(arrived, week_before)
        coverage.append(HourCoverage(slot, staffed[index], count))
    return tuple(coverage)
