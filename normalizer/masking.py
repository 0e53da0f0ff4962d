"""Sensitive numbers in customers' text: bank card numbers (passing the Luhn check), mainland China resident
ID numbers (with a valid check digit) and a workspace's own templates (an order or policy number's shape), masked
to their last four characters for whoever has not revealed them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_RULES",
    "InvalidTemplate",
    "MaskingRules",
    "is_china_resident_id",
    "mask_sensitive",
    "passes_luhn",
    "template_pattern",
]

MASK = "*"
KEPT = 4
WORD = r"0-9A-Za-z_\-"
"""What a masked value is never glued to: a run of digits inside an id or a token (`01a22072-1831-7672-8…`, a
message id in the event text masked as a whole) is part of that word, not a number someone wrote."""
CARD_CANDIDATE = re.compile(rf"(?<![{WORD}+])\d(?:[ -]?\d){{12,18}}(?![{WORD}])")
"""13 to 19 digits, single spaces or hyphens between them allowed (`4111 1111 1111 1111`); after a `+` it is a
phone number (`+8613800138000`)."""
RESIDENT_ID_CANDIDATE = re.compile(rf"(?<![{WORD}])\d{{17}}[\dXx](?![{WORD}])")
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"
TEMPLATE_MAX_LENGTH = 40
TEMPLATE_SLOTS = {"#": r"\d", "@": "[A-Za-z]", "*": "[A-Za-z0-9]"}
TEMPLATE_LITERALS = re.compile(r"^[A-Za-z0-9 ./:_-]*$")
"""Literal characters a template may hold: none that JSON escapes or that separates JSON values, so masking the
text of a JSON document (an event, a webhook body) never breaks it."""


class InvalidTemplate(ValueError):
    """A masking template that cannot be one: empty, too long, without a slot, or with a character it may not hold."""


def template_pattern(template: str) -> re.Pattern[str]:
    """The pattern of a template: `#` a digit, `@` a letter, `*` either, any other character itself
    (`ORD-########`). Built from single characters only, so matching is linear in the text, whatever the template."""
    if not 4 <= len(template) <= TEMPLATE_MAX_LENGTH:
        raise InvalidTemplate(f"a template has 4 to {TEMPLATE_MAX_LENGTH} characters")
    if not any(slot in template for slot in TEMPLATE_SLOTS):
        raise InvalidTemplate("a template has at least one # (digit), @ (letter) or * (either)")
    literals = "".join(character for character in template if character not in TEMPLATE_SLOTS)
    if not TEMPLATE_LITERALS.match(literals):
        raise InvalidTemplate("besides # @ *, a template holds letters, digits, spaces and . / : _ - only")
    body = "".join(TEMPLATE_SLOTS.get(character) or re.escape(character) for character in template)
    return re.compile(rf"(?<![{WORD}]){body}(?![{WORD}])")


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


@dataclass(frozen=True, slots=True)
class MaskingRules:
    """What a workspace masks: the two built-in checks (each can be turned off) and its own templates."""

    card_numbers: bool = True
    china_resident_ids: bool = True
    templates: tuple[str, ...] = ()
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_patterns", tuple(template_pattern(template) for template in self.templates)
        )

    def mask(self, text: str) -> str:
        if self.china_resident_ids:
            text = RESIDENT_ID_CANDIDATE.sub(
                lambda match: _masked(match[0]) if is_china_resident_id(match[0]) else match[0], text
            )
        if self.card_numbers:
            text = CARD_CANDIDATE.sub(
                lambda match: _masked(match[0]) if passes_luhn(re.sub(r"[ -]", "", match[0])) else match[0],
                text,
            )
        for pattern in self._patterns:
            text = pattern.sub(lambda match: _masked(match[0]), text)
        return text


DEFAULT_RULES = MaskingRules()


def mask_sensitive(text: str) -> str:
    """`text` with every valid resident ID and Luhn-valid card number masked; other numbers (phones, orders) kept."""
    return DEFAULT_RULES.mask(text)
