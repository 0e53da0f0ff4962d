"""Visitor tokens: the widget keeps one to continue its visitor's conversation, and proves the visitor with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["InvalidVisitorToken", "VisitorTokens"]


class InvalidVisitorToken(Exception):
    """Forged, malformed, for another inbox, or expired."""


class VisitorTokens:
    """`v1.<inbox>.<visitor>.<issued>.<signature>`, HMAC-SHA256 signed.

    Signed with the first key; tokens signed with any of the others (keys being rotated out) are still accepted.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("visitor tokens need at least one key")
        self._keys = tuple(keys)

    def issue(self, inbox_id: str, visitor_id: str, now: float) -> str:
        body = f"v1.{inbox_id}.{visitor_id}.{int(now)}"
        return f"{body}.{self._sign(self._keys[0], body)}"

    def verify(self, token: str, inbox_id: str, max_age_seconds: float, now: float) -> str:
        """Return the visitor id the token was issued for. Tokens are ASCII, as issued (and as compare_digest needs)."""
        parts = token.split(".")
        if not token.isascii() or len(parts) != 5 or parts[0] != "v1" or not parts[3].isdigit():
            raise InvalidVisitorToken("malformed visitor token")
        body, signature = ".".join(parts[:4]), parts[4]
        if not any(hmac.compare_digest(signature, self._sign(key, body)) for key in self._keys):
            raise InvalidVisitorToken("visitor token signature does not match")
        if parts[1] != inbox_id:
            raise InvalidVisitorToken("visitor token belongs to another inbox")
        if now - int(parts[3]) > max_age_seconds:
            raise InvalidVisitorToken("visitor token has expired")
        return parts[2]

    @staticmethod
    def _sign(key: bytes, body: str) -> str:
        digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
