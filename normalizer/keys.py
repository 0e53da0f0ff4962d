"""Keys that make processing idempotent."""

from __future__ import annotations

__all__ = ["dedupe_key"]


def dedupe_key(inbox_id: str, channel_message_id: str) -> str:
    """The same channel message delivered twice to one inbox has the same key."""
    return f"{inbox_id}:{channel_message_id}"
