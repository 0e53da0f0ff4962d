"""What the email connector makes of each kind of mail clients send: the fixtures, each with its expected outcome."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import MalformedPayload
from connectors.email import EmailConnector, EmailSettings
from connectors.email.parsing import read_mail
from connectors.testing import TEST_INBOX, raw_request
from normalizer import Automation, ContentType
from tests.connectors.email.conftest import fixture_mail

ARRIVED_AT = datetime(2024, 11, 10, 8, 0, tzinfo=UTC)
SETTINGS = EmailSettings(
    imap_host="imap.shop.example",
    smtp_host="smtp.shop.example",
    username="support",
    password="secret",
    from_address="support@shop.example",
)


def parse(name_or_bytes: str | bytes, settings: EmailSettings = SETTINGS):
    data = fixture_mail(name_or_bytes) if isinstance(name_or_bytes, str) else name_or_bytes
    (message,) = EmailConnector(settings, TEST_INBOX).parse(raw_request(data, received_at=ARRIVED_AT))
    return message


EXPECTED: dict[str, dict[str, Any]] = {
    "plain_text.eml": dict(
        channel_message_id="CAF1042.order@mail.example.com",
        sender="li.wei@example.com",
        sender_name="Li Wei",
        subject="Where is my order 1042?",
        text_starts="Hello,\n\nI ordered a kettle last week (order 1042)",
        sent_at=datetime(2024, 11, 4, 2, 0, tzinfo=UTC),
        cc=["wang.fang@example.com", "orders@example.com"],
    ),
    "html_only.eml": dict(
        sender="maria@example.org",
        subject="Broken handle",
        text="The handle of my kettle broke after two days.\n\nPhotos: my album <https://photos.example.org/album/9>"
        "\n\n- Model K-200\n- Bought 1 Nov\n\nRegards, Maria",
    ),
    "gbk_subject_and_body.eml": dict(
        sender="zhangsan@example.cn",
        sender_name="张三",
        subject="订单问题：镕铁锅把手断了",
        text="您好：\n我上周买的铁锅把手断了，订单号 2048。请问怎么退换？\n张三",
    ),
    "gb2312_subject_and_body.eml": dict(
        sender_name="李娜",
        subject="发票抬头需要修改",
        text="你好，请把发票抬头改为“上海某某贸易有限公司”。谢谢！",
    ),
    "gb2312_label_on_gbk_bytes.eml": dict(
        sender_name="王堃", subject="退款：王堃的订单", text="朱镕基路 8 号，王堃收。生僻字：𠀀。"
    ),
    "iso_2022_jp.eml": dict(
        sender_name="山田太郎",
        subject="注文の確認",
        text="お世話になっております。\n注文番号 3096 の配送状況を教えてください。",
    ),
    "big5_body.eml": dict(sender_name="陳大文", subject="查詢訂單", text="請問我的訂單何時寄出？謝謝。"),
    "latin1_label_on_utf8_bytes.eml": dict(
        sender_name="Jürgen Müller",
        subject="Grüße und eine Frage",
        text="Grüße aus Köln! Können Sie mir die Rechnung für März schicken? Danke — Jürgen",
    ),
    "no_charset_gbk_body.eml": dict(text="请尽快发货，我们下周要用。这批订单一共十二件。"),
    "gmail_reply_with_quote.eml": dict(
        text="Thanks, the tracking link works now.",
        signature="Li Wei\nProduct Manager, Example Ltd",
        quoted_starts="On Mon, 4 Nov 2024 at 12:30, Shop Support <support@shop.example>\nwrote:",
        replies_to=("omnihub.msg-7@shop.example", "CAF1042.order@mail.example.com"),
    ),
    "outlook_reply_with_quote.eml": dict(
        text="Please send the invoice to our accounts team instead.\n\nBest regards\nPeter",
        quoted_starts="________________________________\nFrom: Accounts <accounts@example.com>\nSent:",
        replies_to=("invoice-1042@example.com",),
        subject="RE: Invoice for order 1042",
    ),
    "chinese_client_reply.eml": dict(
        text="好的，我明天寄回。",
        quoted_starts="在 2024年11月7日 17:00，Shop Support",
        replies_to=("omnihub.msg-9@shop.example", "gbk-001@example.cn"),
        subject="回复：订单问题",
    ),
    "out_of_office_auto_reply.eml": dict(automated=Automation.AUTO_REPLY, opens_ticket=False),
    "out_of_office_chinese_subject.eml": dict(automated=Automation.AUTO_REPLY, opens_ticket=False),
    "dsn_bounce.eml": dict(
        automated=Automation.BOUNCE,
        failed_delivery_of="omnihub.msg-42@shop.example",
        opens_ticket=False,
        sender="mailer-daemon@mail.shop.example",
        text_starts="This is the mail system at host mail.shop.example.",
        delivery_report={
            "recipient": "nobody@example.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnostic": "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown",
        },
    ),
    "mailing_list.eml": dict(
        automated=Automation.BULK, opens_ticket=False, list_id="Kitchen Weekly <weekly.lists.kitchen.example>"
    ),
    "no_message_id.eml": dict(
        channel_message_id="content-sha256:cfd2b176c8dca86018f51c0b3418dbfbd89e0cff91d6e4f1e012c698e8283f65",
        text="What is the status of my order 512?",
    ),
    "malformed_mime.eml": dict(
        text="The order number is 777, see the file.\nthis multipart has no boundary",
        sent_at=ARRIVED_AT,
        attachment_names=["scan.pdf"],
    ),
    "multipart_with_attachments.eml": dict(
        text="Please find the invoice attached. Our logo is below.",
        attachment_names=["logo.png", "invoice-1042.pdf", "发票镕.txt"],
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_parses_to_what_a_reader_expects(name: str) -> None:
    message = parse(name)
    expected = EXPECTED[name]
    for field, value in expected.items():
        if field == "sender":
            assert (
                message.sender.value == value and message.sender.kind == "email" and message.sender.verified
            )
        elif field == "text_starts":
            assert message.text.startswith(value), message.text
        elif field == "quoted_starts":
            assert message.metadata["quoted_text"].startswith(value), message.metadata
        elif field in ("cc", "signature", "delivery_report", "list_id"):
            assert message.metadata[field] == value
        elif field == "attachment_names":
            assert [attachment.name for attachment in message.attachments] == value
        else:
            assert getattr(message, field) == value, field
    if "automated" not in expected:
        assert message.automated is None and message.opens_ticket and message.failed_delivery_of is None


def test_every_fixture_has_an_expected_outcome() -> None:
    from tests.connectors.email.conftest import FIXTURES

    named = {path.name for path in FIXTURES.glob("*.eml")}
    assert named == set(EXPECTED) | {"our_own_reply.eml", "no_sender.eml"}


def test_our_own_reply_is_recognised_so_the_poller_skips_it() -> None:
    read = read_mail(fixture_mail("our_own_reply.eml"), ARRIVED_AT, SETTINGS)
    assert read.ours
    other_business = SETTINGS.model_copy(update={"from_address": "help@other.example"})
    assert not read_mail(fixture_mail("our_own_reply.eml"), ARRIVED_AT, other_business).ours


def test_a_mail_without_a_sender_is_refused() -> None:
    with pytest.raises(MalformedPayload, match="sender"):
        parse("no_sender.eml")


def test_html_is_kept_sanitised_without_scripts_handlers_or_remote_resources() -> None:
    html = parse("html_only.eml").metadata["html"]
    assert "<b>broke</b>" in html and 'href="https://photos.example.org/album/9"' in html
    for unsafe in ("script", "alert", "onload", "onclick", "tracker.example.net", "style"):
        assert unsafe not in html


def test_attachments_carry_their_bytes_and_inline_images_their_content_id() -> None:
    read = read_mail(fixture_mail("multipart_with_attachments.eml"), ARRIVED_AT, SETTINGS)
    logo, invoice, _details = read.message.attachments
    assert logo.kind == ContentType.IMAGE and logo.meta == {
        "content_id": "logo.1042@example.com",
        "inline": True,
    }
    assert invoice.mime_type == "application/pdf" and invoice.size == len(read.contents[1])
    assert read.contents[1].startswith(b"%PDF-1.4")
    assert read.contents[2].decode("gbk") == "发票明细"
    assert 'src="cid:logo.1042@example.com"' in read.message.metadata["html"]


def test_an_attachment_over_the_limit_is_dropped_with_a_reason_and_the_mail_kept() -> None:
    mail = EmailMessage()
    mail["From"] = "Li Wei <li.wei@example.com>"
    mail["To"] = "support@shop.example"
    mail["Subject"] = "The video of the broken kettle"
    mail["Message-ID"] = "<video-1@example.com>"
    mail.set_content("The video is attached.")
    mail.add_attachment(b"\x00" * (20 * 1024 * 1024), maintype="video", subtype="mp4", filename="kettle.mp4")
    mail.add_attachment(b"small", maintype="text", subtype="plain", filename="note.txt")
    read = read_mail(mail.as_bytes(), ARRIVED_AT, SETTINGS)
    video, _note = read.message.attachments
    assert read.message.text == "The video is attached."
    assert read.contents == (None, b"small")
    assert video.url is None and video.media_id is None and video.size == 20 * 1024 * 1024
    assert video.meta["dropped"] == (
        "kettle.mp4 (20.0 MB) was not imported: it is larger than the inbox's limit of 10.0 MB."
    )
    assert read.message.metadata["notes"] == [video.meta["dropped"]]


def test_a_mail_over_the_message_limit_is_imported_from_its_headers_with_a_note() -> None:
    headers = fixture_mail("plain_text.eml").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    message = read_mail(headers, ARRIVED_AT, SETTINGS, full_size=90 * 1024 * 1024).message
    assert message.subject == "Where is my order 1042?" and message.text == "Where is my order 1042?"
    assert message.metadata["notes"] == [
        "This mail (90.0 MB) is larger than the inbox's limit of 40.0 MB: only its headers were imported."
    ]


def test_the_same_mail_without_message_id_gets_the_same_key_whatever_the_trace_headers() -> None:
    mail = fixture_mail("no_message_id.eml")
    relayed = (
        b"Received: from relay.example.net by mx.shop.example; Sun, 10 Nov 2024 08:00:00 +0000\r\n" + mail
    )
    assert parse(mail).channel_message_id == parse(relayed).channel_message_id
    assert (
        parse(mail.replace(b"order 512", b"order 513")).channel_message_id != parse(mail).channel_message_id
    )


def test_opening_tickets_follows_the_inbox_setting() -> None:
    quiet = SETTINGS.model_copy(update={"open_ticket_on_new_thread": False})
    assert parse("plain_text.eml").opens_ticket
    assert not parse("plain_text.eml", quiet).opens_ticket


def test_a_sender_with_an_international_domain_is_one_identity_in_its_ascii_form() -> None:
    mail = fixture_mail("plain_text.eml").replace(b"<Li.Wei@Example.COM>", "<Li@例え.JP>".encode())
    assert parse(mail).sender.value == "li@xn--r8jz45g.jp"


def test_adjacent_encoded_words_are_joined_before_decoding() -> None:
    """Clients split a multi-byte character across two encoded words; decoding each alone would garble it."""
    raw = "退款".encode("gbk")
    words = " ".join(f"=?gbk?B?{base64.b64encode(raw[i : i + 1]).decode()}?=" for i in range(len(raw)))
    mail = fixture_mail("plain_text.eml").replace(
        b"Subject: Where is my order 1042?", f"Subject: {words}".encode()
    )
    assert parse(mail).subject == "退款"


@given(st.binary(max_size=2048))
def test_parse_refuses_or_reads_any_bytes_and_never_crashes(data: bytes) -> None:
    with contextlib.suppress(MalformedPayload):
        parse(data)


@given(
    st.text(max_size=300), st.sampled_from(["utf-8", "gbk", "gb2312", "big5", "iso-8859-1", "koi8-r", None])
)
def test_parse_never_crashes_on_any_body_in_any_charset(text: str, charset: str | None) -> None:
    label = f"; charset={charset}" if charset else ""
    body = text.encode(charset or "utf-8", errors="replace")
    data = (
        b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain" + label.encode() + b"\r\n\r\n" + body
    )
    assert parse(data) == parse(data)
