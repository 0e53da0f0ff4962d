"""Asking a business's own service (its bot, its router) over HTTP: one event signed as Standard Webhooks sign it,
answered in JSON within a deadline. The URL was judged by the egress policy when it was saved, and the hub's HTTP
client judges the address it connects to."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import httpx
import msgspec

from connectors.base import PermanentSendError
from hub.runtime import Hub
from normalizer.webhook_signature import signed_webhook_headers

__all__ = ["ASK_FAILURES", "ask_signed", "failure_reason"]

Answer = TypeVar("Answer")

ASK_FAILURES = (
    TimeoutError,
    httpx.HTTPError,
    PermanentSendError,
    msgspec.ValidationError,
    msgspec.DecodeError,
    ValueError,
)
"""What asking a business's service may raise that means "fall back", not "crash"."""


def failure_reason(error: BaseException) -> str:
    """The `reason` logged (and counted) for one of ASK_FAILURES: the bot and the router name their fallbacks
    alike, so one dashboard reads both."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, (httpx.HTTPError, PermanentSendError)):
        return "http_error"
    return "bad_answer"


async def ask_signed(
    hub: Hub,
    url: str,
    key: bytes,
    event_id: str,
    timestamp: int,
    body: bytes,
    timeout_seconds: float,
    answer_type: type[Answer],
) -> Answer:
    """POST `body` signed with `key` (`webhook-id` `event_id`, `webhook-timestamp` `timestamp`) and decode the answer.

    Raises TimeoutError past the deadline, httpx.HTTPError for a failed call or an error status, and msgspec's
    errors for an answer not of `answer_type`: each caller falls back its own way."""
    headers = {"Content-Type": "application/json", **signed_webhook_headers(key, event_id, timestamp, body)}
    async with asyncio.timeout(timeout_seconds):
        response = await hub.http.post(url, content=body, headers=headers)
        response.raise_for_status()
        return msgspec.json.decode(response.content, type=answer_type)
