"""Chinese numbers written in characters, as digits: 七天 and 7天 are the same number of days.

Only a number followed by a measure word or a unit is converted, so words that merely contain a
numeral character (一下, 统一, 万一, 十分) are left alone.
"""

from __future__ import annotations

import re

__all__ = ["arabic_numerals"]

DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
UNITS = {"十": 10, "百": 100, "千": 1000}
MEASURE_WORDS = "个月|小时|分钟|星期|礼拜|工作日|天|日|号|周|年|月|个|件|张|把|台|套|条|双|块|元|次|位|颗|只|箱|米|公斤|斤|岁|楼|层|单"
"""Not 点: 一点 is more often "a little" than "one o'clock"."""
NUMBER = re.compile(
    rf"(?<![零〇一二两三四五六七八九十百千万])([零〇一二两三四五六七八九十百千]+?)(?=(?:{MEASURE_WORDS}))"
)


def arabic_numerals(text: str) -> str:
    """`text` with each Chinese number before a measure word (五十张, 三个月, 两颗) written in digits."""
    return NUMBER.sub(lambda match: _value(match.group(1)), text)


def _value(numeral: str) -> str:
    """The digits of a numeral of up to four places (一千零五 gives 1005, 十二 gives 12); digit runs such
    as 二零二六 are read digit by digit."""
    if not any(char in UNITS for char in numeral):
        return "".join(str(DIGITS[char]) for char in numeral)
    total = pending = 0
    for char in numeral:
        if char in DIGITS:
            pending = DIGITS[char]
        else:
            total += (pending or 1) * UNITS[char]
            pending = 0
    return str(total + pending)
