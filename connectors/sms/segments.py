"""How many SMS segments a text costs, and in which encoding: GSM-7 fits 160 characters in one message and 153 per
segment of a longer one; anything outside GSM-7 (Chinese, most emoji) makes the whole text UCS-2, 70 and 67.

The composer's twin is admin_ui/static/sms_segments.js; tests/connectors/sms/test_segments.py holds both to the same
cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "SmsSegments", "sms_segments"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
"""Characters GSM-7 reaches through an escape: each costs two of a segment's septets."""


@dataclass(frozen=True, slots=True)
class SmsSegments:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    segments: int
    per_segment: int
    """What one segment holds at this length: 160 or 70 for a single message, 153 or 67 once it is split."""


def sms_segments(text: str) -> SmsSegments:
    if all(character in GSM7_BASIC or character in GSM7_EXTENSION for character in text):
        units = sum(2 if character in GSM7_EXTENSION else 1 for character in text)
        return _counted("GSM-7", units, single=160, split=153)
    units = len(text.encode("utf-16-le")) // 2
    return _counted("UCS-2", units, single=70, split=67)


def _counted(encoding: Literal["GSM-7", "UCS-2"], units: int, *, single: int, split: int) -> SmsSegments:
    if units <= single:
        return SmsSegments(encoding, units, 1 if units else 0, single)
    return SmsSegments(encoding, units, math.ceil(units / split), split)
