"""SMS segment counting (connectors/sms/segments.py); tests/e2e/test_browser_sms.py holds the composer's twin,
admin_ui/static/sms_segments.js, to the same cases."""

from __future__ import annotations

import pytest

from connectors.sms.segments import SmsSegments, sms_segments

CASES: list[tuple[str, str, tuple[str, int, int, int]]] = [
    ("empty", "", ("GSM-7", 0, 0, 160)),
    ("short", "Hello", ("GSM-7", 5, 1, 160)),
    ("one_full_gsm", "a" * 160, ("GSM-7", 160, 1, 160)),
    ("one_over_gsm", "a" * 161, ("GSM-7", 161, 2, 153)),
    ("two_full_gsm", "a" * 306, ("GSM-7", 306, 2, 153)),
    ("three_gsm", "a" * 307, ("GSM-7", 307, 3, 153)),
    ("extension_costs_two", "€" * 80, ("GSM-7", 160, 1, 160)),
    ("extension_over", "€" * 81, ("GSM-7", 162, 2, 153)),
    ("braces", "{x}", ("GSM-7", 5, 1, 160)),
    ("gsm_accents", "Ça coûte 5£", ("UCS-2", 11, 1, 70)),
    ("gsm_latin", "Ärger? ¿Qué?", ("GSM-7", 12, 1, 160)),
    ("chinese", "你好", ("UCS-2", 2, 1, 70)),
    ("one_full_ucs2", "订" * 70, ("UCS-2", 70, 1, 70)),
    ("one_over_ucs2", "订" * 71, ("UCS-2", 71, 2, 67)),
    ("mixed_makes_all_ucs2", "Order 12345 已发货", ("UCS-2", 15, 1, 70)),
    ("emoji_is_two_units", "Hi 😀", ("UCS-2", 5, 1, 70)),
    ("backtick_is_not_gsm", "`code`", ("UCS-2", 6, 1, 70)),
    ("lowercase_c_cedilla", "ç", ("UCS-2", 1, 1, 70)),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_segments_and_encoding(text: str, expected: tuple[str, int, int, int]) -> None:
    assert sms_segments(text) == SmsSegments(*expected)  # type: ignore[arg-type]
