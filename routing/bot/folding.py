"""Fold text to one canonical form, so that the index and the question meet on the same characters.

Customers type full-width letters and digits from Chinese input methods, traditional characters
(Hong Kong, Taiwan) and emoji; articles are usually written in simplified Chinese. Folding both
sides the same way lets `Ｒｅｆｕｎｄ` match `refund` and `退貨` match `退货`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from opencc_purepy import OpenCC

from routing.bot.numerals import arabic_numerals

__all__ = ["MAX_TEXT_CHARS", "fold"]

MAX_TEXT_CHARS = 500
"""Longer input is cut: a question to a bot is a sentence or two, and a pasted essay must not cost
more time than a question does. The beginning is kept, where people state what they want."""

URL_OR_EMAIL = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
UNWANTED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "So", "Sk"})
"""Controls, format characters, surrogates, private-use and unassigned code points, and symbols
(emoji among them) carry no meaning a lexical index can use; they become spaces."""


@cache
def _traditional_to_simplified() -> OpenCC:
    return OpenCC("t2s")


def fold(text: str) -> str:
    """The canonical form of `text`: NFKC (full-width to half-width), simplified Chinese, case-folded,
    Chinese numbers before a measure word in digits, URLs, e-mail addresses, emoji and control
    characters replaced by spaces, whitespace collapsed.

    Idempotent: folding folded text changes nothing.
    """
    text = unicodedata.normalize("NFKC", text[: MAX_TEXT_CHARS * 2])
    text = URL_OR_EMAIL.sub(" ", text)
    text = "".join(" " if unicodedata.category(char) in UNWANTED_CATEGORIES else char for char in text)
    text = arabic_numerals(
        unicodedata.normalize("NFKC", _traditional_to_simplified().convert(text).casefold())
    )
    return " ".join(text.split())[:MAX_TEXT_CHARS].rstrip()
