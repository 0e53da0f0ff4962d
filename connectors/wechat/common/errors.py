"""WeChat API answers -> the contract's errors: retry (transient, deferred) or fail (permanent) with a reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from connectors.base import DeferredSendError, PermanentSendError, TransientSendError

__all__ = ["ACCESS_TOKEN_ERRCODES", "AccessTokenRejected", "raise_for_errcode", "raise_for_status"]

ACCESS_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
"""Invalid, malformed or expired access token: refresh once and retry."""

_SYSTEM_BUSY = -1
_DAILY_QUOTA_REACHED = 45009
_REPLY_WINDOW_CLOSED = 45015
_REPLY_QUOTA_REACHED = 45047
_QUOTA_RESET_ZONE = timezone(timedelta(hours=8))
"""WeChat's daily API quotas reset at midnight Beijing time."""


class AccessTokenRejected(Exception):
    """WeChat refused the access token sent with a call (internal: triggers one refresh and retry)."""


def raise_for_status(response: httpx.Response, what: str) -> None:
    """429 and 5xx may pass; any other non-2xx answer will not."""
    status = response.status_code
    if status == 429:
        raise TransientSendError(
            f"The {what} was rate-limited (HTTP 429)", retry_after=_retry_after(response)
        )
    if status >= 500:
        raise TransientSendError(f"The {what} failed with HTTP {status}")
    if status >= 400:
        raise PermanentSendError(f"The {what} was refused with HTTP {status}")


def raise_for_errcode(payload: dict[str, Any], what: str, now: datetime) -> None:
    """WeChat answers HTTP 200 with a non-zero `errcode` when it refuses a call."""
    errcode = payload.get("errcode") or 0
    if errcode == 0:
        return
    errmsg = str(payload.get("errmsg", "")).strip()
    wechat_says = f"(WeChat errcode {errcode}: {errmsg})"
    if not isinstance(errcode, int):
        raise PermanentSendError(f"The {what} got an answer WeChat does not document {wechat_says}")
    if errcode in ACCESS_TOKEN_ERRCODES:
        raise AccessTokenRejected(wechat_says)
    if errcode == _SYSTEM_BUSY:
        raise TransientSendError(
            f"WeChat was busy and did not complete the {what}; it will be retried {wechat_says}"
        )
    if errcode == _DAILY_QUOTA_REACHED:
        raise DeferredSendError(
            f"WeChat's daily API quota for this app is used up; the {what} waits until it resets at midnight "
            f"Beijing time {wechat_says}",
            retry_after=_seconds_until_quota_reset(now),
        )
    if errcode == _REPLY_WINDOW_CLOSED:
        raise PermanentSendError(
            "The customer last wrote more than 48 hours ago (or unfollowed), so WeChat no longer accepts replies; "
            f"they must write again first {wechat_says}"
        )
    if errcode == _REPLY_QUOTA_REACHED:
        raise PermanentSendError(
            "WeChat allows no more replies to this customer until they write again (per-customer reply quota "
            f"reached) {wechat_says}"
        )
    raise PermanentSendError(f"WeChat refused the {what} {wechat_says}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _seconds_until_quota_reset(now: datetime) -> float:
    local = now.astimezone(_QUOTA_RESET_ZONE)
    next_midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (next_midnight - local).total_seconds()
