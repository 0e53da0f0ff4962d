"""WeChat's callback signatures: sha1 over the sorted token, timestamp, nonce (and, when encrypted, the ciphertext)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime

from wechatpy.utils import WeChatSigner

from connectors.base import SignatureInvalid

__all__ = ["check_message_signature", "check_query_signature", "sign"]


def sign(*parts: str) -> str:
    """The hex sha1 WeChat computes over `parts` sorted and joined."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def check_query_signature(
    query: Mapping[str, str], token: str, received_at: datetime, max_clock_skew_seconds: int
) -> None:
    """Every callback carries `signature` over token, timestamp and nonce; a stale timestamp is a replay."""
    signature, timestamp, nonce = (query.get(name) for name in ("signature", "timestamp", "nonce"))
    if not signature or not timestamp or nonce is None:
        raise SignatureInvalid("signature, timestamp and nonce are required")
    _check_fresh(timestamp, received_at, max_clock_skew_seconds)
    _compare(signature, sign(token, timestamp, nonce), "signature")


def check_message_signature(query: Mapping[str, str], token: str, encrypted: str) -> None:
    """An encrypted body is covered by `msg_signature`, so a valid query cannot carry a swapped ciphertext."""
    expected = sign(token, query.get("timestamp", ""), query.get("nonce", ""), encrypted)
    _compare(query.get("msg_signature", ""), expected, "msg_signature")


def _check_fresh(timestamp: str, received_at: datetime, max_clock_skew_seconds: int) -> None:
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureInvalid("timestamp is not a Unix time")
    skew = abs(received_at.timestamp() - int(timestamp))
    if skew > max_clock_skew_seconds:
        raise SignatureInvalid(
            f"timestamp {timestamp} is {skew:.0f}s from our clock (more than {max_clock_skew_seconds}s): possible replay"
        )


def _compare(received: str, expected: str, name: str) -> None:
    if not hmac.compare_digest(received.lower().encode(), expected.encode()):
        raise SignatureInvalid(f"{name} does not match the inbox's token")
