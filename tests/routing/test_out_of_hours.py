"""Out of hours: one notice per closed stretch, and the inbox's choice of ticket or wait."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from routing.hours import Weekday, WeeklyRange, WeeklySchedule
from routing.out_of_hours import OutOfHoursAction, out_of_hours

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = WeeklySchedule(
    "Europe/Berlin", tuple(WeeklyRange(day, time(9), time(17)) for day in list(Weekday)[:5])
)
FRIDAY_EVENING = datetime(2026, 1, 16, 20, 0, tzinfo=BERLIN)
MONDAY_9 = datetime(2026, 1, 19, 9, 0, tzinfo=BERLIN)


def test_while_open_nothing_happens() -> None:
    decision = out_of_hours(HOURS, MONDAY_9, last_notice_at=None, action=OutOfHoursAction.TICKET)
    assert (decision.send_notice, decision.action) == (False, None)


def test_the_first_message_out_of_hours_gets_the_notice_and_the_inbox_action() -> None:
    decision = out_of_hours(HOURS, FRIDAY_EVENING, last_notice_at=None, action=OutOfHoursAction.TICKET)
    assert (decision.send_notice, decision.action, decision.opens_at) == (
        True,
        OutOfHoursAction.TICKET,
        MONDAY_9,
    )


def test_later_messages_of_the_same_closed_stretch_get_no_second_notice() -> None:
    decision = out_of_hours(
        HOURS, FRIDAY_EVENING + timedelta(days=1), last_notice_at=FRIDAY_EVENING, action=OutOfHoursAction.WAIT
    )
    assert (decision.send_notice, decision.action) == (False, OutOfHoursAction.WAIT)


def test_the_next_closed_stretch_gets_a_notice_again() -> None:
    decision = out_of_hours(
        HOURS,
        datetime(2026, 1, 19, 18, 0, tzinfo=BERLIN),
        last_notice_at=FRIDAY_EVENING,
        action=OutOfHoursAction.WAIT,
    )
    assert decision.send_notice
