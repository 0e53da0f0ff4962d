"""Property: whatever reaches a WeChat inbox, verify and parse answer with a refusal (403/400) or messages, never a crash.

Examples are derived deterministically (derandomize) so a run never depends on luck.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import MalformedPayload, RawRequest, SignatureInvalid
from connectors.testing import raw_request
from connectors.wechat.common.connector import WeChatConnector
from connectors.wechat.common.testing import FIXTURE_RECEIVED_AT
from tests.connectors.wechat.support import deliveries, mini_program, official_account

CONNECTORS = {
    "oa-plain": official_account(mode="plain"),
    "oa-safe": official_account(mode="safe"),
    "oa-compatible": official_account(mode="compatible"),
    "mp-json-plain": mini_program(mode="plain", data_format="json"),
    "mp-json-safe": mini_program(mode="safe", data_format="json"),
    "mp-xml-compatible": mini_program(mode="compatible", data_format="xml"),
}
ENCRYPTING = [name for name, connector in CONNECTORS.items() if connector.settings.mode != "plain"]
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)

QUERY_NAMES = ["signature", "timestamp", "nonce", "msg_signature", "encrypt_type", "echostr", "openid"]
query_values = st.one_of(
    st.text(max_size=50),
    st.sampled_from(["aes", "raw", "1714037059", "999999999999", "-1", "0" * 40, ""]),
    st.integers().map(str),
)
queries = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=8)), query_values, max_size=8),
    st.fixed_dictionaries(
        {name: query_values for name in QUERY_NAMES[:3]},
        optional={name: query_values for name in QUERY_NAMES[3:]},
    ),
)
bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(str.encode),
    st.sampled_from([b"<xml>", b"{}", b"<xml><Encrypt>AAAA</Encrypt></xml>", b'{"Encrypt": "AAAA"}']),
)

FIELD_NAMES = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "MsgId",
    "Content",
    "PicUrl",
    "MediaId",
    "Format",
    "Recognition",
    "ThumbMediaId",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "Title",
    "Description",
    "Url",
    "FileTotalLen",
    "Event",
    "EventKey",
    "Ticket",
    "AppId",
    "PagePath",
    "ThumbUrl",
    "SessionFrom",
    "UnionId",
    "Encrypt",
]
field_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "text",
            "image",
            "voice",
            "video",
            "shortvideo",
            "location",
            "link",
            "file",
            "miniprogrampage",
            "event",
            "subscribe",
            "SCAN",
            "CLICK",
            "qrscene_1",
            "1714037059",
            "nan",
            "1e400",
            "-0",
            "90.0001",
        ]
    ),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), field_values),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
documents = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), json_values, max_size=12
)


def _verify_and_parse(connector: WeChatConnector, raw: RawRequest) -> None:
    """The hub's webhook route: anything but a refusal or a malformed-payload error is a crash (500)."""
    try:
        connector.verify(raw)
        if connector.handshake(raw) is None:
            messages = connector.parse(raw)
            assert messages == connector.parse(raw), "parse is deterministic"
            for message in messages:
                message.to_json()
            connector.ack(raw, messages)
            connector.redact(raw)
    except (SignatureInvalid, MalformedPayload):
        pass


@pytest.mark.parametrize("name", sorted(CONNECTORS))
@PROPERTY
@given(method=st.sampled_from(["GET", "POST", "PUT"]), query=queries, body=bodies)
def test_arbitrary_requests(name: str, method: str, query: dict[str, str], body: bytes) -> None:
    _verify_and_parse(
        CONNECTORS[name], raw_request(body, method=method, query=query, received_at=FIXTURE_RECEIVED_AT)
    )


@pytest.mark.parametrize("name", sorted(CONNECTORS))
@PROPERTY
@given(body=bodies, encrypted=st.booleans())
def test_arbitrary_bodies_under_a_valid_signature(name: str, body: bytes, encrypted: bool) -> None:
    """Past the signature check, so parse itself meets the arbitrary bytes."""
    extra = {"encrypt_type": "aes", "msg_signature": "0" * 40} if encrypted else {}
    _verify_and_parse(CONNECTORS[name], deliveries(CONNECTORS[name]).post_body(body, **extra))


@pytest.mark.parametrize("name", sorted(ENCRYPTING))
@PROPERTY
@given(plaintext=bodies)
def test_arbitrary_plaintext_inside_a_genuine_encryption(name: str, plaintext: bytes) -> None:
    """Signed and encrypted with the inbox's own key: only the decrypted document is arbitrary."""
    _verify_and_parse(CONNECTORS[name], deliveries(CONNECTORS[name]).post(plaintext))


@pytest.mark.parametrize("name", sorted(CONNECTORS))
@PROPERTY
@given(document=documents, charset=st.sampled_from(["utf-8", "gbk", "utf-16", "latin-1"]))
def test_arbitrary_fields_in_well_formed_documents(
    name: str, document: dict[str, object], charset: str
) -> None:
    """XML or JSON with WeChat's field names and odd values, in any charset, exercises the mapping to messages."""
    connector = CONNECTORS[name]
    if connector.data_format() == "json":
        text = json.dumps(document, ensure_ascii=False)
    else:
        elements = "".join(
            f"<{tag}>{escape(str(value))}</{tag}>" for tag, value in document.items() if tag.isidentifier()
        )
        text = f"<xml>{elements}</xml>"
    _verify_and_parse(connector, deliveries(connector).post(text.encode(charset, errors="replace")))
