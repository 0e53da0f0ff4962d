"""Masking: valid card numbers and resident IDs never show more than their last four; other numbers stay."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from normalizer.masking import (
    RESIDENT_ID_CHECK,
    RESIDENT_ID_WEIGHTS,
    MaskingRules,
    is_china_resident_id,
    mask_sensitive,
    passes_luhn,
)


def with_luhn_digit(body: str) -> str:
    for check in "0123456789":
        if passes_luhn(body + check):
            return body + check
    raise AssertionError("a Luhn check digit always exists")


def with_resident_check(body: str) -> str:
    return (
        body + RESIDENT_ID_CHECK[sum(int(d) * w for d, w in zip(body, RESIDENT_ID_WEIGHTS, strict=True)) % 11]
    )


def test_known_numbers_are_masked_and_others_kept() -> None:
    assert mask_sensitive("card 4111 1111 1111 1111 thanks") == "card **** **** **** 1111 thanks"
    assert mask_sensitive("card 4111-1111-1111-1112") == "card 4111-1111-1111-1112"
    assert mask_sensitive("身份证 11010519491231002X") == "身份证 **************002X"
    assert mask_sensitive("身份证 110105194912310021") == "身份证 110105194912310021"
    assert (
        mask_sensitive("call +8613800138000, order 20261126000123")
        == "call +8613800138000, order 20261126000123"
    )
    assert is_china_resident_id("11010519491231002x")


@given(st.from_regex(r"\A[1-9][0-9]{11,17}\Z"), st.text(alphabet="abc ,.", max_size=5))
def test_a_luhn_valid_card_number_shows_only_its_last_four(body: str, around: str) -> None:
    card = with_luhn_digit(body)
    masked = mask_sensitive(f"{around} {card} {around}")
    assert card not in masked
    assert masked == f"{around} {'*' * (len(card) - 4)}{card[-4:]} {around}"


@given(st.from_regex(r"\A[1-9][0-9]{16}\Z"))
def test_a_valid_resident_id_shows_only_its_last_four(body: str) -> None:
    resident_id = with_resident_check(body)
    assert mask_sensitive(f"ID:{resident_id}") == f"ID:{'*' * 14}{resident_id[-4:]}"


@given(st.text(max_size=60))
def test_masking_is_idempotent_and_keeps_the_length(text: str) -> None:
    once = mask_sensitive(text)
    assert len(once) == len(text)
    assert mask_sensitive(once) == once


@given(st.uuids(), st.sampled_from(["", '"id":"', "/conversations/"]))
def test_digits_inside_an_id_are_never_masked(value: uuid.UUID, before: str) -> None:
    """An event's JSON text is masked as a whole, so its ids must come through as they are."""
    text = f"{before}{value}"
    assert MaskingRules(templates=("####-####", "####")).mask(text) == text


def test_a_number_glued_to_letters_or_after_a_plus_is_kept() -> None:
    assert mask_sensitive("9dedd014-9946-4761-8308-13c897937a3c") == "9dedd014-9946-4761-8308-13c897937a3c"
    assert mask_sensitive("+4111111111111111") == "+4111111111111111"
    assert mask_sensitive("卡号4111111111111111。") == "卡号************1111。"
