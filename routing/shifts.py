"""An agent's shifts: weekly hours in the agent's time zone, read like business hours, but a shift must be a
stretch of time that overlaps no other one, so a typo (09:00-09:00, two ranges covering one hour) is refused
rather than silently merged. A range ending before it starts runs past midnight (a night shift, 22:00-06:00);
00:00-00:00 (or 00:00-24:00) is the whole day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from itertools import pairwise
from typing import Any

from routing.config import schedule_from_config
from routing.errors import InvalidSchedule
from routing.hours import WeeklyRange, WeeklySchedule

__all__ = ["shifts_from_config"]

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


def _minutes(weekly_range: WeeklyRange) -> tuple[int, int]:
    """The range as minutes from Monday 00:00 (its end may pass the end of the week)."""
    start = weekly_range.weekday * MINUTES_PER_DAY + weekly_range.start.hour * 60 + weekly_range.start.minute
    length = (weekly_range.end.hour * 60 + weekly_range.end.minute) - (
        weekly_range.start.hour * 60 + weekly_range.start.minute
    )
    if length <= 0:
        length += MINUTES_PER_DAY
    return start, start + length


def shifts_from_config(config: Mapping[str, Any]) -> WeeklySchedule | None:
    """The shifts as a schedule (None: no shifts, the agent is always available); InvalidSchedule names the field
    (`time_zone`, `weekly.<day>.<index>`) of a bad zone, a malformed, empty or overlapping range."""
    if not config:
        return None
    schedule = schedule_from_config(config)
    fields = [
        f"weekly.{day}.{index}" for day, ranges in config["weekly"].items() for index in range(len(ranges))
    ]
    spans = []
    for field, weekly_range in zip(fields, schedule.ranges, strict=True):
        if weekly_range.start == weekly_range.end != time(0):
            raise InvalidSchedule(f"{weekly_range.start:%H:%M} to itself is an empty shift", field=field)
        spans.append((*_minutes(weekly_range), field))
    spans.sort()
    for (_, end, field), (start, _, next_field) in pairwise(spans):
        if start < end:
            raise InvalidSchedule(f"overlaps the shift {field}", field=next_field)
    if len(spans) > 1 and spans[-1][1] - MINUTES_PER_WEEK > spans[0][0]:
        raise InvalidSchedule(f"overlaps the shift {spans[0][2]} of the next week", field=spans[-1][2])
    return schedule
