"""The pure pieces under parsing and replying: charsets, quoted history, reply subjects, mailbox names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.email.charsets import decode_text
from connectors.email.imap import encode_mailbox_name
from connectors.email.quoting import split_reply
from connectors.email.thread_ids import is_our_message_id, message_key, our_message_id, reply_subject


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("Where is my order?", "Re: Where is my order?"),
        ("Re: Where is my order?", "Re: Where is my order?"),
        ("RE: re: Re[2]: Where is my order?", "Re: Where is my order?"),
        ("AW: Bestellung", "Re: Bestellung"),
        ("回复：订单问题", "Re: 订单问题"),
        ("Fwd: Invoice", "Re: Fwd: Invoice"),
        ("Re: Fwd: Invoice", "Re: Fwd: Invoice"),
        ("Regarding the invoice", "Re: Regarding the invoice"),
        ("答复: 回复：Re: 发票", "Re: 发票"),
        ("回覆: 回復: 答覆：退款", "Re: 退款"),
        ("RE：转发：合同", "Re: 转发：合同"),
        ("Sv: Antw: Bestelling", "Re: Bestelling"),
        ("", "Support"),
        ("  ", "Support"),
        ("Re: ", "Support"),
        (None, "Support"),
    ],
)
def test_reply_subjects_carry_one_re(subject: str | None, expected: str) -> None:
    assert reply_subject(subject, "Support") == expected


@given(st.text(max_size=40))
def test_answering_a_reply_adds_no_second_re(subject: str) -> None:
    once = reply_subject(subject, "Support")
    assert once == "Support" or reply_subject(once, "Support") == once


@pytest.mark.parametrize(
    "text, charset",
    [
        ("中文测试，镕堃𠀀", "gb2312"),
        ("繁體中文，請回覆", "big5"),
        ("こんにちは、世界", "iso-2022-jp"),
        ("Grüße, café", "iso-8859-1"),
        ("Привет, как дела у вас", "koi8-r"),
        ("한국어 메일입니다", "euc-kr"),
    ],
)
def test_text_in_its_own_charset_or_its_superset_decodes_exactly(text: str, charset: str) -> None:
    codec = {"gb2312": "gb18030", "iso-8859-1": "cp1252"}.get(charset, charset)
    assert decode_text(text.encode(codec), charset) == text


def test_utf8_wins_over_a_wrong_label_and_gbk_over_a_wrong_utf8_label() -> None:
    assert decode_text("Grüße — café".encode(), "iso-8859-1") == "Grüße — café"
    assert (
        decode_text("退款问题：订单号 12345 的发票没有收到".encode("gbk"), "utf-8")
        == "退款问题：订单号 12345 的发票没有收到"
    )


@given(
    st.binary(max_size=512),
    st.sampled_from(["utf-8", "gbk", "big5", "iso-2022-jp", "latin-1", "x-unknown", None]),
)
def test_any_bytes_under_any_label_decode_to_text(data: bytes, label: str | None) -> None:
    assert isinstance(decode_text(data, label), str)


@given(st.text(max_size=500))
def test_splitting_a_reply_loses_no_text(text: str) -> None:
    parts = split_reply(text)
    for part in (parts.new_text, parts.quoted, parts.signature):
        assert part.strip() in text.strip()
    assert parts.new_text or not text.strip()


def test_our_message_ids_are_ours_only_on_our_domain() -> None:
    ours = our_message_id("msg 1/2", "shop.example")
    assert ours == "omnihub.msg-1-2@shop.example"
    assert is_our_message_id(ours, "Shop.Example") and not is_our_message_id(ours, "other.example")
    assert not is_our_message_id("CAF1042@shop.example", "shop.example")


def test_over_long_message_ids_are_keyed_by_digest() -> None:
    assert message_key("a" * 190 + "@x.example") == "a" * 190 + "@x.example"
    assert message_key("a" * 300 + "@x.example").startswith("message-id-sha256:")


def test_mailbox_names_are_quoted_in_modified_utf7() -> None:
    assert encode_mailbox_name("INBOX") == '"INBOX"'
    assert encode_mailbox_name("客服 & 售后") == '"&W6JnDQ- &- &VS5UDg-"'
    assert encode_mailbox_name('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.parametrize(
    "text, new_text, quoted_starts",
    [
        (
            "Please cancel it.\n\nFrom: Shop Support <support@shop.example>\nSent: Monday, 4 November 2024 12:30\n"
            "To: Li Wei\nSubject: Re: Order\n\nIt ships today.",
            "Please cancel it.",
            "From: Shop Support",
        ),
        (
            "Please cancel it.\n\n-----Original Message-----\nFrom: Shop Support\nIt ships today.",
            "Please cancel it.",
            "-----Original Message-----",
        ),
        (
            "请取消订单。\n\n发件人: Shop Support <support@shop.example>\n发送时间: 2024年11月4日 12:30\n主题: 订单\n\n今天发货。",
            "请取消订单。",
            "发件人: Shop Support",
        ),
        ("Please cancel it.\n\n> It ships today.\n> Shop Support", "Please cancel it.", "> It ships today."),
        ("From: my phone\nPlease cancel it.", "From: my phone\nPlease cancel it.", ""),
    ],
)
def test_quoted_history_is_set_apart(text: str, new_text: str, quoted_starts: str) -> None:
    parts = split_reply(text)
    assert parts.new_text == new_text and parts.quoted.startswith(quoted_starts)
