"""Out of hours: tell the customer once per closed stretch, and turn the conversation into a ticket or let it wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from routing.hours import WeeklySchedule, is_open, next_opening, utc_instant

__all__ = ["OutOfHoursAction", "OutOfHoursDecision", "out_of_hours"]


class OutOfHoursAction(StrEnum):
    TICKET = "ticket"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class OutOfHoursDecision:
    """`action` None while open. `opens_at`: when the inbox opens next (for the notice's wording)."""

    send_notice: bool
    action: OutOfHoursAction | None
    opens_at: datetime


def out_of_hours(
    hours: WeeklySchedule, now: datetime, *, last_notice_at: datetime | None, action: OutOfHoursAction
) -> OutOfHoursDecision:
    """What a customer's message at `now` sets off; the notice goes out unless one already went since the last close."""
    if is_open(hours, now):
        return OutOfHoursDecision(send_notice=False, action=None, opens_at=utc_instant(now))
    opens_at = next_opening(hours, now)
    noticed_this_stretch = last_notice_at is not None and next_opening(hours, last_notice_at) == opens_at
    return OutOfHoursDecision(send_notice=not noticed_this_stretch, action=action, opens_at=opens_at)
