"""Folding: the index and the question meet on one form of every character."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routing.bot import MAX_TEXT_CHARS, fold


def test_full_width_letters_and_digits_become_ascii() -> None:
    assert fold("ＲＥＦＵＮＤ　１２３") == "refund 123"


def test_traditional_characters_become_simplified() -> None:
    assert fold("請問退貨運費誰付") == "请问退货运费谁付"


def test_case_is_folded() -> None:
    assert fold("Where Is My PARCEL") == "where is my parcel"


def test_urls_email_addresses_and_emoji_are_dropped() -> None:
    assert fold("👋 see https://shop.example/orders?id=7 or write me@mail.example 🙏") == "see or write"


def test_private_use_characters_are_dropped_so_no_question_can_forge_a_synonym_term() -> None:
    assert fold("\ue0001 refund\ue000") == "1 refund"


def test_huge_input_is_cut() -> None:
    assert len(fold("退货" * 10_000)) == MAX_TEXT_CHARS


def test_empty_and_blank_input_fold_to_nothing() -> None:
    assert fold("") == fold(" \t\n") == ""


@given(st.text())
def test_folding_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


def test_chinese_numbers_before_a_measure_word_become_digits() -> None:
    assert fold("七天无理由退货") == "7天无理由退货"
    assert fold("学校要买五十张课桌，三个月后两颗螺丝掉了") == "学校要买50张课桌,3个月后2颗螺丝掉了"
    assert fold("一千零五元 一百二十块 十二个 二零二六年") == "1005元 120块 12个 2026年"


def test_words_that_only_contain_a_numeral_are_left_alone() -> None:
    assert fold("等一下 统一 万一 十分感谢 一点点 一般") == "等一下 统一 万一 十分感谢 一点点 一般"
