"""Sensitive numbers in customers' text: bank card numbers (passing the Luhn check) and mainland China resident
ID numbers (with a valid check digit), masked to their last four characters for whoever has not revealed them."""

from __future__ import annotations

import re

__all__ = ["is_china_resident_id", "mask_sensitive", "passes_luhn"]

MASK = "*"
KEPT = 4
CARD_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
"""13 to 19 digits, single spaces or hyphens between them allowed (`4111 1111 1111 1111`)."""
RESIDENT_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"


def passes_luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_china_resident_id(value: str) -> bool:
    """GB 11643: the 18th character is the ISO 7064 MOD 11-2 check of the first 17 digits."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    check = RESIDENT_ID_CHECK[
        sum(int(d) * w for d, w in zip(value[:17], RESIDENT_ID_WEIGHTS, strict=True)) % 11
    ]
    return value[17].upper() == check


def _masked(text: str) -> str:
    """Every digit or letter but the last four replaced; separators kept, so the shape stays readable."""
    characters = list(text)
    remaining = sum(character.isalnum() for character in characters)
    for index, character in enumerate(characters):
        if character.isalnum():
            if remaining > KEPT:
                characters[index] = MASK
            remaining -= 1
    return "".join(characters)


def mask_sensitive(text: str) -> str:
    """`text` with every valid resident ID and Luhn-valid card number masked; other numbers (phones, orders) kept."""
    text = RESIDENT_ID_CANDIDATE.sub(
        lambda match: _masked(match[0]) if is_china_resident_id(match[0]) else match[0], text
    )
    return CARD_CANDIDATE.sub(
        lambda match: _masked(match[0]) if passes_luhn(re.sub(r"[ -]", "", match[0])) else match[0], text
    )
