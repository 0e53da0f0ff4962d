"""Reply windows: how long, and how often, a business may still write to a customer on a channel.

Channels such as WeChat let the business answer only after a customer's action, within a time
and count that depend on the action (a message: 5 replies in 48 hours; a menu click: 3 in one
minute). Allowances do not add up: an action raises the remaining count to its own when that is
higher, and moves the end later when it ends later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["ReplyAllowance", "ReplyWindow"]


@dataclass(frozen=True, slots=True)
class ReplyAllowance:
    """What one customer action lets the business send: at most `replies` messages within `window` (None: no limit)."""

    replies: int | None = None
    window: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ReplyWindow:
    """When replies stop being accepted and how many remain (None: no limit)."""

    ends_at: datetime | None = None
    replies_remaining: int | None = None

    @classmethod
    def closed(cls, limits: ReplyAllowance, at: datetime) -> ReplyWindow:
        """Before any customer action: nothing may be sent where the channel limits replies at all."""
        return cls(at if limits.window is not None else None, 0 if limits.replies is not None else None)

    def widened(self, allowance: ReplyAllowance, at: datetime) -> ReplyWindow:
        """The window after a customer action at `at` that grants `allowance`."""
        if self.refusal(at) is not None:
            return ReplyWindow(_ends(allowance, at), allowance.replies)
        return ReplyWindow(
            _later(self.ends_at, _ends(allowance, at)), _more(self.replies_remaining, allowance.replies)
        )

    def refusal(self, now: datetime) -> str | None:
        """Why a reply at `now` would be refused, or None when it may go out."""
        if self.ends_at is not None and now >= self.ends_at:
            return (
                f"The channel's reply window closed at {self.ends_at.isoformat(timespec='minutes')}; "
                "the customer must write again before you can reply."
            )
        if self.replies_remaining is not None and self.replies_remaining <= 0:
            return "The channel allows no more replies until the customer writes again."
        return None

    def as_json(self) -> dict[str, str | int | None]:
        return {
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "replies_remaining": self.replies_remaining,
        }


def _ends(allowance: ReplyAllowance, at: datetime) -> datetime | None:
    return at + allowance.window if allowance.window is not None else None


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    return None if first is None or second is None else max(first, second)


def _more(first: int | None, second: int | None) -> int | None:
    return None if first is None or second is None else max(first, second)
