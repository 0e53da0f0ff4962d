"""Text cleaning and splitting shared by every channel."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_text", "split_text"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """NFC-normalise, drop control characters (keeping newlines and tabs), unify line ends, trim."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def split_text(text: str, max_length: int, *, measure=len) -> list[str]:
    """Split `text` into parts of at most `max_length` units, preferring line and word breaks.

    `measure` lets a channel count in its own unit (e.g. UTF-8 bytes).
    """
    if max_length <= 0:
        raise ValueError("max_length must be positive")
    parts: list[str] = []
    rest = text
    while measure(rest) > max_length:
        cut = _longest_prefix(rest, max_length, measure)
        window = rest[:cut]
        for separator in ("\n", " ", "。", "，", ", "):
            at = window.rfind(separator)
            if at > cut // 2:
                cut = at + len(separator)
                break
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest.rstrip())
    return parts


def _longest_prefix(text: str, max_length: int, measure) -> int:
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= max_length:
            low = middle
        else:
            high = middle - 1
    return low
