"""Identity normalisation: any spelling of one phone or email is one identity, and normalising is idempotent."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from normalizer import IdentityKind, IdentityRef, InvalidIdentity, normalize_identity


def phone(value: str, region: str = "CN") -> str:
    return normalize_identity(IdentityRef(IdentityKind.PHONE, value), default_region=region).value


def email(value: str) -> str:
    return normalize_identity(IdentityRef(IdentityKind.EMAIL, value)).value


FULL_WIDTH = str.maketrans({chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)})


@pytest.mark.parametrize(
    "spelling",
    ["138 0013 8000", "+86 13800138000", "8613800138000", "0086 138-0013-8000", "１３８　００１３　８０００"],
)
def test_every_spelling_of_a_mainland_mobile_is_one_number(spelling: str) -> None:
    assert phone(spelling) == "+8613800138000"


def test_a_country_code_without_plus_is_read_as_international_outside_its_region() -> None:
    assert phone("8613800138000", "US") == "+8613800138000"
    assert phone("86 138 0013 8000", "GB") == "+8613800138000"


def test_the_workspace_region_reads_national_numbers() -> None:
    assert phone("(201) 555-0123", "US") == "+12015550123"
    assert phone("020 7946 0958", "GB") == "+442079460958"


@pytest.mark.parametrize("value", ["", "   ", "12", "not a number", "+86 1380013800099999"])
def test_what_is_not_a_phone_number_is_refused(value: str) -> None:
    with pytest.raises(InvalidIdentity):
        phone(value)


def test_emails_fold_case_width_whitespace_and_idna() -> None:
    assert email("  Li.Wei@Example.COM ") == "li.wei@example.com"
    assert email("ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "li@example.com"
    assert email("Li@例え.JP") == "li@xn--r8jz45g.jp"
    assert email("li@xn--r8jz45g.jp") == "li@xn--r8jz45g.jp"


@pytest.mark.parametrize("value", ["no-at-sign", "@example.com", "li@", "li@例え..jp"])
def test_what_is_not_an_email_is_refused(value: str) -> None:
    with pytest.raises(InvalidIdentity):
        email(value)


mainland_mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
separators = st.sampled_from(["", " ", "-", "\u3000", "  "])


@given(mainland_mobiles, separators, st.sampled_from(["", "+86", "86", "0086"]), st.booleans())
def test_any_written_form_of_a_valid_number_normalises_to_its_e164(
    national: str, separator: str, prefix: str, full_width: bool
) -> None:
    number = phonenumbers.parse(national, "CN")
    if not phonenumbers.is_valid_number(number):
        return
    written = prefix + separator + separator.join([national[:3], national[3:7], national[7:]])
    if full_width:
        written = written.translate(FULL_WIDTH)
    assert phone(written) == f"+86{national}"


@given(st.text(max_size=30), st.sampled_from(["CN", "US", "GB", "DE"]))
def test_phone_normalisation_is_idempotent_or_refuses(raw: str, region: str) -> None:
    try:
        once = phone(raw, region)
    except InvalidIdentity:
        return
    assert once.startswith("+")
    assert phone(once, region) == once
    assert phone(once, "US") == once


local_parts = st.from_regex(r"\A[A-Za-z0-9._%+-]{1,20}\Z")
domains = st.from_regex(r"\A[A-Za-z0-9]{1,12}(\.[A-Za-z]{2,6}){1,2}\Z")


@given(local_parts, domains, st.booleans(), st.sampled_from(["", " ", "\t", "\u3000"]))
def test_an_email_in_any_case_and_width_is_one_identity(
    local: str, domain: str, full_width: bool, pad: str
) -> None:
    canonical = email(f"{local}@{domain}")
    assert canonical == f"{local}@{domain}".lower()
    written = f"{local}@{domain}".swapcase()
    if full_width:
        written = written.translate(FULL_WIDTH)
    assert email(pad + written + pad) == canonical


@given(st.text(max_size=40))
def test_email_normalisation_is_idempotent_or_refuses(raw: str) -> None:
    try:
        once = email(raw)
    except InvalidIdentity:
        return
    assert email(once) == once
