"""Reading an inbox's stored settings (JSON objects) into routing's types, refusing bad ones with the field to blame.

Business hours, e.g.::

    {"time_zone": "Asia/Shanghai",
     "weekly": {"mon": ["09:00-12:00", "13:00-18:00"], "sat": ["22:00-06:00"], "sun": ["00:00-24:00"]},
     "closed_dates": ["2026-10-01"]}

An empty object means always open. Routing, e.g.::

    {"strategy": "weighted", "team_id": "…", "skill_required": true, "fallback": "least_busy",
     "answer_timeout_seconds": 300, "weights": {"vip": 2, "skill": 1, "spare_capacity": 1, "vip_levels": 5}}

SLA targets per priority, in business minutes::

    {"urgent": {"first_response_minutes": 30, "resolution_minutes": 240}, "normal": {"first_response_minutes": 240}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Any

from routing.errors import InvalidPolicy, InvalidSchedule
from routing.hours import ALWAYS_OPEN, Weekday, WeeklyRange, WeeklySchedule
from routing.policy import RoutingPolicy, ScoreWeights, Strategy
from routing.sla import Priority, SlaPolicy, SlaTarget

__all__ = ["policy_from_config", "schedule_from_config", "sla_policy_from_config"]

WEEKDAY_KEYS = {
    "mon": Weekday.MONDAY,
    "tue": Weekday.TUESDAY,
    "wed": Weekday.WEDNESDAY,
    "thu": Weekday.THURSDAY,
    "fri": Weekday.FRIDAY,
    "sat": Weekday.SATURDAY,
    "sun": Weekday.SUNDAY,
}
STRATEGY_NAMES = frozenset(Strategy)
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def schedule_from_config(config: Mapping[str, Any]) -> WeeklySchedule:
    if not config:
        return ALWAYS_OPEN
    _refuse_unknown(config, {"time_zone", "weekly", "closed_dates"}, "", InvalidSchedule)
    zone = config.get("time_zone")
    if not isinstance(zone, str):
        raise InvalidSchedule("time_zone must be an IANA zone name such as Asia/Shanghai", field="time_zone")
    weekly = config.get("weekly")
    if not isinstance(weekly, Mapping):
        raise InvalidSchedule(
            "weekly must map days (mon … sun) to lists of ranges such as 09:00-18:00", field="weekly"
        )
    ranges = []
    for key, day_ranges in weekly.items():
        if key not in WEEKDAY_KEYS:
            raise InvalidSchedule(
                f"unknown day {key!r}: use mon, tue, wed, thu, fri, sat, sun", field=f"weekly.{key}"
            )
        if not isinstance(day_ranges, list):
            raise InvalidSchedule("a day's hours are a list of ranges", field=f"weekly.{key}")
        for index, text in enumerate(day_ranges):
            ranges.append(_weekly_range(WEEKDAY_KEYS[key], text, f"weekly.{key}.{index}"))
    closed = config.get("closed_dates", [])
    if not isinstance(closed, list):
        raise InvalidSchedule("closed_dates is a list of dates such as 2026-10-01", field="closed_dates")
    return WeeklySchedule(
        zone,
        tuple(ranges),
        frozenset(_date(text, f"closed_dates.{index}") for index, text in enumerate(closed)),
    )


def policy_from_config(config: Mapping[str, Any]) -> RoutingPolicy:
    _refuse_unknown(
        config,
        {"strategy", "team_id", "skill_required", "fallback", "answer_timeout_seconds", "weights"},
        "",
        InvalidPolicy,
    )
    weights = config.get("weights", {})
    if not isinstance(weights, Mapping):
        raise InvalidPolicy("weights is an object", field="weights")
    _refuse_unknown(weights, {"vip", "skill", "spare_capacity", "vip_levels"}, "weights.", InvalidPolicy)
    for name in ("vip", "skill", "spare_capacity"):
        _number(weights.get(name, 0), f"weights.{name}")
    levels = weights.get("vip_levels", ScoreWeights().vip_levels)
    if not isinstance(levels, int) or isinstance(levels, bool):
        raise InvalidPolicy("vip_levels is a whole number", field="weights.vip_levels")
    team_id = config.get("team_id")
    if team_id is not None and not isinstance(team_id, str):
        raise InvalidPolicy("team_id is a team's id", field="team_id")
    skill_required = config.get("skill_required", False)
    if not isinstance(skill_required, bool):
        raise InvalidPolicy("skill_required is true or false", field="skill_required")
    timeout = config.get("answer_timeout_seconds")
    return RoutingPolicy(
        strategy=_strategy(config.get("strategy", Strategy.LEAST_BUSY.value), "strategy"),
        team_id=team_id,
        skill_required=skill_required,
        weights=ScoreWeights(
            **{name: float(weights[name]) for name in ("vip", "skill", "spare_capacity") if name in weights},
            vip_levels=levels,
        ),
        fallback=_strategy(config.get("fallback", Strategy.LEAST_BUSY.value), "fallback"),
        answer_timeout=None
        if timeout is None
        else timedelta(seconds=_number(timeout, "answer_timeout_seconds")),
    )


def sla_policy_from_config(config: Mapping[str, Any]) -> SlaPolicy:
    targets = {}
    for key, target in config.items():
        try:
            priority = Priority(key)
        except ValueError:
            raise InvalidPolicy(f"unknown priority {key!r}: use {', '.join(Priority)}", field=key) from None
        if not isinstance(target, Mapping):
            raise InvalidPolicy("a priority's targets are an object", field=key)
        _refuse_unknown(target, {"first_response_minutes", "resolution_minutes"}, f"{key}.", InvalidPolicy)
        minutes = {name: _number(target[name], f"{key}.{name}") for name in target}
        try:
            targets[priority] = SlaTarget(
                **{name.removesuffix("_minutes"): timedelta(minutes=value) for name, value in minutes.items()}
            )
        except InvalidPolicy as invalid:
            raise InvalidPolicy(invalid.detail, field=f"{key}.{invalid.field}_minutes") from None
    return SlaPolicy(targets)


def _weekly_range(weekday: Weekday, text: object, field: str) -> WeeklyRange:
    match = _RANGE.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidSchedule("a range reads HH:MM-HH:MM, such as 09:00-18:00 or 22:00-06:00", field=field)
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    if (end_hour, end_minute) == (24, 0):
        end_hour = 0
    if start_hour > 23 or end_hour > 23 or start_minute > 59 or end_minute > 59:
        raise InvalidSchedule(f"{text} is not a time of day (00:00 to 24:00)", field=field)
    return WeeklyRange(weekday, time(start_hour, start_minute), time(end_hour, end_minute))


def _date(text: object, field: str) -> date:
    if isinstance(text, str):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidSchedule(f"{text!r} is not a date such as 2026-10-01", field=field)


def _strategy(value: object, field: str) -> Strategy:
    if isinstance(value, str) and value in STRATEGY_NAMES:
        return Strategy(value)
    raise InvalidPolicy(f"{field} must be one of {', '.join(Strategy)}", field=field)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPolicy(f"{field} is a number", field=field)
    return float(value)


def _refuse_unknown(
    config: Mapping[str, Any],
    known: set[str],
    prefix: str,
    error: type[InvalidSchedule] | type[InvalidPolicy],
) -> None:
    for key in config:
        if key not in known:
            raise error(f"unknown setting {prefix}{key}", field=f"{prefix}{key}")
