"""What WeChat pushes, read into the unified model: every documented message and event type, plain and encrypted."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import MalformedPayload
from connectors.wechat import WeChatOfficialAccountConnector
from connectors.wechat.common.identities import WECHAT_OPENID, WECHAT_UNIONID
from connectors.wechat.common.testing import FIXTURE_SIGNED_AT
from normalizer import Attachment, ContentType, IdentityRef, ReplyAllowance
from tests.connectors.wechat.support import (
    MP_APP_ID,
    MP_OPENID,
    OA_APP_ID,
    OA_OPENID,
    deliver,
    deliveries,
    fixture,
    mini_program,
    official_account,
    receive_one,
)

MODES = ["plain", "safe", "compatible"]
SENT_AT = datetime(2024, 4, 25, 9, 24, 19, tzinfo=UTC)
"""CreateTime 1714037059 of every fixture."""

OFFICIAL_ACCOUNT_MESSAGES: dict[str, dict[str, Any]] = {
    "oa_text.xml": {
        "channel_message_id": "24556789012345678",
        "content_type": ContentType.TEXT,
        "text": "你好，我的订单 #A1024 还没到",
        "attachments": (),
        "metadata": {"msg_type": "text"},
    },
    "oa_image.xml": {
        "channel_message_id": "24556789012345681",
        "content_type": ContentType.IMAGE,
        "text": "",
        "attachments": (
            Attachment("image", url="https://mmbiz.qpic.cn/mmbiz_jpg/fixture/0", media_id="media_image_1"),
        ),
        "metadata": {"msg_type": "image"},
    },
    "oa_voice.xml": {
        "channel_message_id": "24556789012345682",
        "content_type": ContentType.VOICE,
        "text": "我想退货",
        "attachments": (
            Attachment("voice", media_id="media_voice_1", mime_type="audio/amr", meta={"format": "amr"}),
        ),
        "metadata": {"msg_type": "voice"},
    },
    "oa_voice_without_recognition.xml": {
        "channel_message_id": "24556789012345692",
        "content_type": ContentType.VOICE,
        "text": "",
        "attachments": (
            Attachment("voice", media_id="media_voice_2", mime_type="audio/speex", meta={"format": "speex"}),
        ),
        "metadata": {"msg_type": "voice"},
    },
    "oa_video.xml": {
        "channel_message_id": "24556789012345683",
        "content_type": ContentType.VIDEO,
        "text": "",
        "attachments": (
            Attachment("video", media_id="media_video_1", meta={"thumb_media_id": "thumb_video_1"}),
        ),
        "metadata": {"msg_type": "video"},
    },
    "oa_shortvideo.xml": {
        "channel_message_id": "24556789012345684",
        "content_type": ContentType.VIDEO,
        "text": "",
        "attachments": (
            Attachment("video", media_id="media_shortvideo_1", meta={"thumb_media_id": "thumb_shortvideo_1"}),
        ),
        "metadata": {"msg_type": "shortvideo"},
    },
    "oa_location.xml": {
        "channel_message_id": "24556789012345685",
        "content_type": ContentType.LOCATION,
        "text": "广州市天河区天河路",
        "attachments": (
            Attachment(
                "location",
                meta={
                    "latitude": 23.134521,
                    "longitude": 113.358803,
                    "scale": 20,
                    "label": "广州市天河区天河路",
                },
            ),
        ),
        "metadata": {"msg_type": "location"},
    },
    "oa_link.xml": {
        "channel_message_id": "24556789012345686",
        "content_type": ContentType.LINK,
        "text": "退货政策",
        "attachments": (
            Attachment(
                "link",
                url="https://shop.example.com/returns",
                name="退货政策",
                meta={"description": "七天无理由退货说明"},
            ),
        ),
        "metadata": {"msg_type": "link"},
    },
    "oa_file.xml": {
        "channel_message_id": "24556789012345687",
        "content_type": ContentType.FILE,
        "text": "发票.pdf",
        "attachments": (
            Attachment(
                "file",
                name="发票.pdf",
                size=12800,
                meta={
                    "description": "12.5 KB",
                    "file_key": "fixture-file-key",
                    "file_md5": "5a53c4b5d1b2a0a3a1f1f1f1f1f1f1f1",
                },
            ),
        ),
        "metadata": {"msg_type": "file"},
    },
}

TICKET = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2tqZmt"
OFFICIAL_ACCOUNT_EVENTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "oa_event_subscribe.xml": ("subscribe", "subscribe", {}),
    "oa_event_subscribe_by_qr_scan.xml": (
        "subscribe",
        "subscribe",
        {"event_key": "qrscene_spring_sale", "scene": "spring_sale", "ticket": TICKET},
    ),
    "oa_event_unsubscribe.xml": ("unsubscribe", "unsubscribe", {}),
    "oa_event_scan.xml": (
        "SCAN",
        "scan",
        {"event_key": "spring_sale", "scene": "spring_sale", "ticket": TICKET},
    ),
    "oa_event_click.xml": ("CLICK", "click", {"event_key": "CONTACT_SUPPORT"}),
    "oa_event_view.xml": (
        "VIEW",
        "view",
        {"event_key": "https://shop.example.com/orders", "menu_id": "208396938"},
    ),
    "oa_event_location.xml": (
        "LOCATION",
        "location",
        {"latitude": "23.137466", "longitude": "113.352425", "precision": "119.385040"},
    ),
    "oa_event_template_send_finished.xml": (
        "TEMPLATESENDJOBFINISH",
        "template_send_finished",
        {"msg_id": "200163836", "status": "success"},
    ),
}
"""fixture -> (WeChat's Event, the unified event name, metadata)"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(OFFICIAL_ACCOUNT_MESSAGES))
def test_official_account_messages(name: str, mode: str) -> None:
    message = receive_one(official_account(mode=mode), fixture(name))
    expected = OFFICIAL_ACCOUNT_MESSAGES[name]
    assert {field: getattr(message, field) for field in expected} == expected
    assert message.sender == IdentityRef(WECHAT_OPENID, OA_OPENID, scope=OA_APP_ID, verified=True)
    assert message.sent_at == SENT_AT
    assert message.opens_reply_window and message.event is None and message.linked_identities == ()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(OFFICIAL_ACCOUNT_EVENTS))
def test_official_account_events(name: str, mode: str) -> None:
    """Each event is a conversation event, one per user, second and event."""
    wechat_event, event, metadata = OFFICIAL_ACCOUNT_EVENTS[name]
    message = receive_one(official_account(mode=mode), fixture(name))
    assert (message.content_type, message.event, message.metadata) == (ContentType.EVENT, event, metadata)
    assert message.channel_message_id == f"{OA_OPENID}:1714037059:{wechat_event}"
    assert message.sender.scope == OA_APP_ID and message.sent_at == SENT_AT


GREETING = ReplyAllowance(replies=3, window=timedelta(minutes=1))


@pytest.mark.parametrize(
    ("name", "allowance"),
    [
        ("oa_event_subscribe.xml", GREETING),
        ("oa_event_subscribe_by_qr_scan.xml", GREETING),
        ("oa_event_scan.xml", GREETING),
        ("oa_event_click.xml", GREETING),
        ("oa_event_unsubscribe.xml", None),
        ("oa_event_view.xml", None),
        ("oa_event_location.xml", None),
        ("oa_event_template_send_finished.xml", None),
    ],
)
def test_events_grant_wechats_short_reply_allowance_or_none(
    name: str, allowance: ReplyAllowance | None
) -> None:
    """Following, scanning and clicking a menu let the business send 3 messages within a minute; others nothing."""
    message = receive_one(official_account(mode="plain"), fixture(name))
    assert message.opens_reply_window is (allowance is not None)
    assert message.reply_allowance == allowance


def test_a_customer_message_grants_the_channels_usual_allowance() -> None:
    message = receive_one(official_account(mode="plain"), fixture("oa_text.xml"))
    assert message.opens_reply_window and message.reply_allowance is None
    assert WeChatOfficialAccountConnector.capabilities.reply_allowance == ReplyAllowance(
        5, timedelta(hours=48)
    )


MINI_PROGRAM_MESSAGES: dict[str, dict[str, Any]] = {
    "mp_text": {
        "channel_message_id": "1234567890123456",
        "content_type": ContentType.TEXT,
        "text": "请问怎么退货？",
        "attachments": (),
        "metadata": {"msg_type": "text"},
    },
    "mp_image": {
        "channel_message_id": "1234567890123457",
        "content_type": ContentType.IMAGE,
        "text": "",
        "attachments": (
            Attachment("image", url="https://mmbiz.qpic.cn/mmbiz_jpg/fixture/1", media_id="media_mp_image_1"),
        ),
        "metadata": {"msg_type": "image"},
    },
    "mp_miniprogrampage": {
        "channel_message_id": "1234567890123458",
        "content_type": ContentType.CARD,
        "text": "订单详情",
        "attachments": (
            Attachment(
                "card",
                url="https://mmbiz.qpic.cn/mmbiz_jpg/fixture/thumb",
                media_id="thumb_mp_1",
                name="订单详情",
                meta={"app_id": MP_APP_ID, "page_path": "pages/order/detail?id=42"},
            ),
        ),
        "metadata": {"msg_type": "miniprogrampage"},
    },
    "mp_user_enter_tempsession": {
        "channel_message_id": f"{MP_OPENID}:1714037059:user_enter_tempsession",
        "content_type": ContentType.EVENT,
        "event": "session_entered",
        "text": "",
        "metadata": {"session_from": "order-page"},
        "opens_reply_window": True,
        "reply_allowance": ReplyAllowance(replies=2, window=timedelta(minutes=1)),
    },
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data_format", ["json", "xml"])
@pytest.mark.parametrize("name", sorted(MINI_PROGRAM_MESSAGES))
def test_mini_program_pushes(name: str, data_format: str, mode: str) -> None:
    message = receive_one(mini_program(mode=mode, data_format=data_format), fixture(f"{name}.{data_format}"))
    expected = MINI_PROGRAM_MESSAGES[name]
    assert {field: getattr(message, field) for field in expected} == expected
    assert message.sender == IdentityRef(WECHAT_OPENID, MP_OPENID, scope=MP_APP_ID, verified=True)
    assert message.sent_at == SENT_AT


def test_a_mini_program_inbox_refuses_the_other_data_format() -> None:
    """The console chooses one format; a JSON inbox cannot read XML (and the reverse)."""
    for inbox_format, pushed in (("json", "mp_text.xml"), ("xml", "mp_text.json")):
        connector = mini_program(mode="plain", data_format=inbox_format)
        with pytest.raises(MalformedPayload):
            deliver(connector, deliveries(connector).post(fixture(pushed)))


def test_a_redelivered_message_keeps_its_msgid() -> None:
    """WeChat retries a push three times with new signatures: one MsgId, one message, whatever the encryption."""
    connector = official_account(mode="safe")
    first = receive_one(connector, fixture("oa_text.xml"))
    resigned = deliveries(connector, nonce="998877", received_at=FIXTURE_SIGNED_AT)
    retried = deliver(connector, resigned.post(fixture("oa_text.xml")))
    assert (
        [message.channel_message_id for message in retried]
        == [first.channel_message_id]
        == ["24556789012345678"]
    )


def test_different_events_of_one_user_in_one_second_stay_apart() -> None:
    connector = official_account(mode="plain")
    subscribe = receive_one(connector, fixture("oa_event_subscribe.xml"))
    click = receive_one(connector, fixture("oa_event_click.xml"))
    assert subscribe.channel_message_id != click.channel_message_id


def test_a_unionid_in_the_message_is_a_verified_linked_identity() -> None:
    message = receive_one(official_account(mode="plain"), fixture("oa_text_with_unionid.xml"))
    assert message.linked_identities == (
        IdentityRef(WECHAT_UNIONID, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", verified=True),
    )
    assert "union_id" not in message.metadata


def test_one_person_on_both_channels_shares_the_unionid_but_not_the_openid() -> None:
    """Openids are per app, so they never match across apps; the unionid is what links the two contacts."""
    push = json.loads(fixture("mp_text.json"))
    from_mini_program = receive_one(
        mini_program(mode="plain"), json.dumps({**push, "UnionId": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}).encode()
    )
    from_official_account = receive_one(official_account(mode="plain"), fixture("oa_text_with_unionid.xml"))
    assert from_mini_program.linked_identities == from_official_account.linked_identities
    assert from_mini_program.sender.scope != from_official_account.sender.scope


def test_an_unknown_message_type_is_kept_as_unsupported_content() -> None:
    message = receive_one(official_account(mode="plain"), fixture("oa_unknown_msgtype.xml"))
    assert (message.content_type, message.channel_message_id) == (
        ContentType.UNSUPPORTED,
        "24556789012345688",
    )
    assert message.metadata == {"msg_type": "hologram", "projection": "3d"}


def test_a_mini_program_keeps_message_types_it_does_not_read_as_unsupported() -> None:
    """Voice is an official account type; should a mini program push one, it is kept, not dropped or a crash."""
    push = {**json.loads(fixture("mp_text.json")), "MsgType": "voice", "MediaId": "m1", "Content": None}
    message = receive_one(mini_program(mode="plain"), json.dumps(push).encode())
    assert message.content_type == ContentType.UNSUPPORTED
    assert message.metadata == {"msg_type": "voice", "media_id": "m1"}


QUESTION = "您好，请问发票怎么开？"


def _declared(charset: str, text: str = QUESTION) -> bytes:
    """A text message declared and encoded in `charset`."""
    body = fixture("oa_text.xml").decode().replace("你好，我的订单 #A1024 还没到", text)
    return f'<?xml version="1.0" encoding="{charset}"?>\n{body}'.encode(charset)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        pytest.param(fixture("oa_text_gbk.xml"), QUESTION, id="gbk-fixture"),
        pytest.param(_declared("GB18030"), QUESTION, id="gb18030"),
        pytest.param(_declared("gb2312"), QUESTION, id="gb2312"),
        pytest.param(_declared("Big5", "您好，請問發票怎麼開？"), "您好，請問發票怎麼開？", id="big5"),
        pytest.param(b"\xef\xbb\xbf" + _declared("UTF-8"), QUESTION, id="utf-8-with-bom"),
    ],
)
def test_declared_chinese_charsets_are_decoded(body: bytes, text: str) -> None:
    assert receive_one(official_account(mode="plain"), body).text == text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            _declared("GBK").replace(b'encoding="GBK"', b'encoding="x-klingon"'), id="unknown-charset"
        ),
        pytest.param(_declared("UTF-16"), id="utf-16"),
        pytest.param(_declared("cp037", "invoice please"), id="ebcdic"),
        pytest.param(
            _declared("GBK").replace(b'encoding="GBK"', b'encoding="UTF-8"'), id="gbk-bytes-declared-utf-8"
        ),
        pytest.param(_declared("GBK").split(b"?>", 1)[1], id="gbk-bytes-undeclared"),
        pytest.param(_declared("GBK").replace(b"]]></Content>", b"\x81]]></Content>"), id="invalid-gbk"),
    ],
)
def test_undecodable_or_unsupported_charsets_are_refused(body: bytes) -> None:
    connector = official_account(mode="plain")
    with pytest.raises(MalformedPayload):
        deliver(connector, deliveries(connector).post(body))


def test_json_pushes_must_be_utf_8() -> None:
    """msgspec raises UnicodeDecodeError on GBK strings; it once escaped parse as a crash instead of a 400."""
    connector = mini_program(mode="plain")
    with pytest.raises(MalformedPayload, match="UTF-8"):
        deliver(connector, deliveries(connector).post(fixture("mp_text.json").decode().encode("gbk")))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml", "truncated.xml"])
def test_unsafe_and_broken_xml_is_refused(name: str, mode: str) -> None:
    """No DTD is ever processed: entity bombs and external entities are refused before any expansion."""
    connector = official_account(mode=mode)
    with pytest.raises(MalformedPayload):
        deliver(connector, deliveries(connector).post(fixture(name)))


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_an_encrypted_envelope_with_a_dtd_is_refused(name: str) -> None:
    connector = official_account(mode="safe")
    doctype = fixture(name).split(b"<xml>")[0]
    raw = deliveries(connector).post(fixture("oa_text.xml"))
    with pytest.raises(MalformedPayload, match="DOCTYPE"):
        deliver(connector, replace(raw, body=doctype + raw.body))


@pytest.mark.parametrize("mode", MODES)
def test_oversized_bodies_are_refused(mode: str) -> None:
    connector = official_account(mode=mode, max_body_bytes=4096)
    padded = fixture("oa_text.xml").replace(
        b"</Content>", b"</Content><Padding>" + b"x" * 5000 + b"</Padding>"
    )
    with pytest.raises(MalformedPayload, match="limit"):
        deliver(connector, deliveries(connector).post(padded))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<root><MsgType>text</MsgType></root>", "root element"),
        (b"<xml></xml>", "no fields"),
        (fixture("oa_text.xml").replace(b"FromUserName>", b"Sender>"), "FromUserName"),
        (fixture("oa_text.xml").replace(b"1714037059", b"yesterday"), "CreateTime"),
        (fixture("oa_text.xml").replace(b"1714037059", b"99999999999999999999"), "CreateTime"),
        (fixture("oa_location.xml").replace(b"23.134521", b"123.4"), "Location_X"),
        (fixture("oa_location.xml").replace(b"113.358803", b"nan"), "Location_Y"),
        (fixture("oa_file.xml").replace(b"12800", b"12.8K"), "FileTotalLen"),
        (fixture("oa_event_click.xml").replace(b"<Event><![CDATA[CLICK]]></Event>", b""), "Event"),
    ],
)
def test_deliveries_missing_what_wechat_always_sends_are_refused(body: bytes, reason: str) -> None:
    connector = official_account(mode="plain")
    with pytest.raises(MalformedPayload, match=reason):
        deliver(connector, deliveries(connector).post(body))


@pytest.mark.parametrize("body", [b"[]", b"null", b"{}", b'{"MsgType": "text"', b'"text"'])
def test_json_that_is_no_push_is_refused(body: bytes) -> None:
    connector = mini_program(mode="plain")
    with pytest.raises(MalformedPayload):
        deliver(connector, deliveries(connector).post(body))
