"""An inbox's stored settings read into routing's types; a bad one refused naming its field."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest

from routing.config import policy_from_config, schedule_from_config, sla_policy_from_config
from routing.errors import InvalidPolicy, InvalidSchedule
from routing.hours import ALWAYS_OPEN, Weekday, WeeklyRange
from routing.policy import RoutingPolicy, ScoreWeights, Strategy
from routing.sla import Priority, SlaTarget


def test_business_hours_with_breaks_overnight_ranges_and_closed_dates() -> None:
    schedule = schedule_from_config(
        {
            "time_zone": "Asia/Shanghai",
            "weekly": {"mon": ["09:00-12:00", "13:00-18:00"], "sat": ["22:00-06:00"], "sun": ["00:00-24:00"]},
            "closed_dates": ["2026-10-01"],
        }
    )
    assert schedule.time_zone == "Asia/Shanghai"
    assert schedule.ranges == (
        WeeklyRange(Weekday.MONDAY, time(9), time(12)),
        WeeklyRange(Weekday.MONDAY, time(13), time(18)),
        WeeklyRange(Weekday.SATURDAY, time(22), time(6)),
        WeeklyRange(Weekday.SUNDAY, time(0), time(0)),
    )
    assert schedule.closed_dates == frozenset({date(2026, 10, 1)})


def test_no_business_hours_means_always_open() -> None:
    assert schedule_from_config({}) is ALWAYS_OPEN


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"weekly": {"mon": ["09:00-18:00"]}}, "time_zone"),
        ({"time_zone": "Moon/Base", "weekly": {"mon": ["09:00-18:00"]}}, "time_zone"),
        ({"time_zone": "UTC"}, "weekly"),
        ({"time_zone": "UTC", "weekly": {}}, "weekly"),
        ({"time_zone": "UTC", "weekly": {"monday": ["09:00-18:00"]}}, "weekly.monday"),
        ({"time_zone": "UTC", "weekly": {"mon": "09:00-18:00"}}, "weekly.mon"),
        ({"time_zone": "UTC", "weekly": {"mon": ["9-18"]}}, "weekly.mon.0"),
        ({"time_zone": "UTC", "weekly": {"mon": ["09:00-18:00", "24:00-25:00"]}}, "weekly.mon.1"),
        ({"time_zone": "UTC", "weekly": {"mon": ["09:60-18:00"]}}, "weekly.mon.0"),
        (
            {"time_zone": "UTC", "weekly": {"mon": ["09:00-18:00"]}, "closed_dates": ["2026-02-30"]},
            "closed_dates.0",
        ),
        (
            {"time_zone": "UTC", "weekly": {"mon": ["09:00-18:00"]}, "closed_dates": "2026-02-01"},
            "closed_dates",
        ),
        ({"time_zone": "UTC", "weekly": {"mon": ["09:00-18:00"]}, "holidays": []}, "holidays"),
    ],
)
def test_bad_business_hours_are_refused_naming_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSchedule) as refused:
        schedule_from_config(config)
    assert refused.value.field == field


def test_a_routing_policy_with_every_setting() -> None:
    policy = policy_from_config(
        {
            "strategy": "weighted",
            "team_id": "t1",
            "skill_required": True,
            "fallback": "round_robin",
            "answer_timeout_seconds": 300,
            "weights": {"vip": 2, "skill": 0.5, "vip_levels": 3},
        }
    )
    assert policy == RoutingPolicy(
        Strategy.WEIGHTED,
        "t1",
        True,
        ScoreWeights(2.0, 0.5, 1.0, 3),
        Strategy.ROUND_ROBIN,
        timedelta(minutes=5),
    )
    assert policy_from_config({}) == RoutingPolicy()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"strategy": "random"}, "strategy"),
        ({"strategy": ["least_busy"]}, "strategy"),
        ({"fallback": "external"}, "fallback"),
        ({"team_id": 3}, "team_id"),
        ({"skill_required": "yes"}, "skill_required"),
        ({"answer_timeout_seconds": 0}, "answer_timeout"),
        ({"answer_timeout_seconds": True}, "answer_timeout_seconds"),
        ({"weights": []}, "weights"),
        ({"weights": {"vip": "high"}}, "weights.vip"),
        ({"weights": {"vip": -1}}, "weights.vip"),
        ({"weights": {"vip_levels": 2.5}}, "weights.vip_levels"),
        ({"weights": {"loyalty": 1}}, "weights.loyalty"),
        ({"priority": 1}, "priority"),
    ],
)
def test_bad_routing_settings_are_refused_naming_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidPolicy) as refused:
        policy_from_config(config)
    assert refused.value.field == field


def test_sla_targets_in_business_minutes() -> None:
    policy = sla_policy_from_config(
        {
            "urgent": {"first_response_minutes": 30, "resolution_minutes": 240},
            "low": {"resolution_minutes": 2880},
        }
    )
    assert policy.targets == {
        Priority.URGENT: SlaTarget(timedelta(minutes=30), timedelta(hours=4)),
        Priority.LOW: SlaTarget(resolution=timedelta(days=2)),
    }


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"critical": {"first_response_minutes": 5}}, "critical"),
        ({"urgent": 30}, "urgent"),
        ({"urgent": {"response_minutes": 30}}, "urgent.response_minutes"),
        ({"urgent": {"first_response_minutes": "soon"}}, "urgent.first_response_minutes"),
        ({"urgent": {"resolution_minutes": 0}}, "urgent.resolution_minutes"),
    ],
)
def test_bad_sla_targets_are_refused_naming_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidPolicy) as refused:
        sla_policy_from_config(config)
    assert refused.value.field == field
