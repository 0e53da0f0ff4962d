"""Weekly hours in an IANA time zone: an inbox's business hours and an agent's shifts are the same thing.

Hours are wall-clock ranges per weekday; a range whose end is at or before its start runs into the
next day (22:00-06:00; 00:00-00:00 is the whole day). A closed date (a holiday, a day off) closes
that whole local date, cutting an overnight range from the evening before at midnight. Across a DST
change the wall clock rules: 09:00-17:00 is eight hours on most days, seven or nine on the night
the clocks move. A wall time the clocks skip is read with the offset before the jump (02:30 on a
spring-forward night is 03:30 after it) and a repeated one as its first occurrence, as PEP 495's
fold=0 does; a range that the jump leaves empty is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.errors import InvalidSchedule, NaiveDateTime

__all__ = [
    "ALWAYS_OPEN",
    "Period",
    "Weekday",
    "WeeklyRange",
    "WeeklySchedule",
    "add_business_time",
    "is_open",
    "next_opening",
    "open_periods",
    "time_zone",
    "utc_instant",
    "wall_to_utc",
]

ONE_DAY = timedelta(days=1)


class Weekday(IntEnum):
    """Numbered as `date.weekday()` numbers them."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


@dataclass(frozen=True, slots=True)
class WeeklyRange:
    """Open from `start` to `end` (local wall-clock times) on every `weekday`."""

    weekday: Weekday
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise InvalidSchedule(
                "opening times are wall-clock times of the schedule's zone: give them without one"
            )


@dataclass(frozen=True, slots=True)
class Period:
    """An open stretch between two instants (UTC), end excluded."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or InvalidSchedule naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSchedule(f"unknown time zone {name!r}", field="time_zone") from None


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Weekly ranges in `time_zone`, minus `closed_dates` (local dates)."""

    time_zone: str
    ranges: tuple[WeeklyRange, ...]
    closed_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        time_zone(self.time_zone)
        if not self.ranges:
            raise InvalidSchedule("hours need at least one weekly range", field="weekly")


ALWAYS_OPEN = WeeklySchedule("UTC", tuple(WeeklyRange(day, time(0), time(0)) for day in Weekday))
"""The schedule of an inbox without business hours and of an agent without shifts."""


def utc_instant(at: datetime) -> datetime:
    """`at` in UTC; a naive time is refused, since its instant is a guess."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDateTime(f"{at.isoformat()} has no time zone")
    return at.astimezone(UTC)


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a naive wall-clock time in `zone` stands for (PEP 495 fold=0 for skipped and repeated times)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _pieces_on(schedule: WeeklySchedule, zone: ZoneInfo, day: date) -> list[Period]:
    """The open stretches of one local date, including the part of an overnight range begun the day before."""
    if day in schedule.closed_dates:
        return []
    midnight = datetime.combine(day, time(0))
    next_midnight = midnight + ONE_DAY
    pieces = []
    for weekly in schedule.ranges:
        for begins_on in (day - ONE_DAY, day):
            if weekly.weekday != begins_on.weekday():
                continue
            opens = datetime.combine(begins_on, weekly.start)
            closes = datetime.combine(begins_on, weekly.end)
            if closes <= opens:
                closes += ONE_DAY
            start, end = max(opens, midnight), min(closes, next_midnight)
            if start < end:
                piece = Period(wall_to_utc(start, zone), wall_to_utc(end, zone))
                if piece.start < piece.end:
                    pieces.append(piece)
    return pieces


def open_periods(schedule: WeeklySchedule, after: datetime) -> Iterator[Period]:
    """The open periods from `after` on, in order and without overlap, the first cut to begin no earlier than `after`.

    Endless for any schedule (closed dates are finite); a period never spans more than one local date.
    """
    start = utc_instant(after)
    zone = time_zone(schedule.time_zone)
    day = start.astimezone(zone).date() - ONE_DAY
    last_end = start
    while True:
        merged: list[Period] = []
        for piece in sorted(_pieces_on(schedule, zone, day), key=lambda period: period.start):
            if merged and piece.start <= merged[-1].end:
                merged[-1] = Period(merged[-1].start, max(merged[-1].end, piece.end))
            else:
                merged.append(piece)
        for period in merged:
            if period.end > last_end:
                yield Period(max(period.start, last_end), period.end)
                last_end = period.end
        day += ONE_DAY


def is_open(schedule: WeeklySchedule, at: datetime) -> bool:
    """Whether `at` falls in the schedule's hours (an inbox open, an agent on shift)."""
    instant = utc_instant(at)
    zone = time_zone(schedule.time_zone)
    local_day = instant.astimezone(zone).date()
    return any(
        piece.start <= instant < piece.end
        for day in (local_day - ONE_DAY, local_day, local_day + ONE_DAY)
        for piece in _pieces_on(schedule, zone, day)
    )


def next_opening(schedule: WeeklySchedule, at: datetime) -> datetime:
    """`at` itself when open then, else the next instant the schedule opens (UTC)."""
    return next(open_periods(schedule, at)).start


def add_business_time(schedule: WeeklySchedule, start: datetime, duration: timedelta) -> datetime:
    """The instant `duration` of open time after `start` (closed time does not count); UTC.

    Ending exactly at a closing time gives the closing time, not the next opening.
    """
    if duration < timedelta(0):
        raise ValueError("business time to add must not be negative")
    if not duration:
        return utc_instant(start)
    remaining = duration
    periods = open_periods(schedule, start)
    period = next(periods)
    while remaining > period.duration:
        remaining -= period.duration
        period = next(periods)
    return period.start + remaining
