"""A reply that picks one of the bot's numbered suggestions: "2", "２", "#2", "第二个", "option 2"."""

from __future__ import annotations

import re

from routing.bot.folding import fold
from routing.bot.numerals import DIGITS

__all__ = ["suggestion_choice"]

CHOICE = re.compile(
    r"^(?:#|no\.?|number|option|第)?\s*(\d{1,2}|[一二两三四五六七八九十])\s*(?:个|条|项|号)?\s*[.。!！)）、]?$"
)


def suggestion_choice(text: str, offered: int) -> int | None:
    """The number (from 1) of the suggestion `text` picks among `offered`, or None when it picks none."""
    match = CHOICE.match(fold(text))
    if match is None:
        return None
    numeral = match.group(1)
    number = int(numeral) if numeral.isdigit() else (10 if numeral == "十" else DIGITS[numeral])
    return number if 1 <= number <= offered else None
