"""Who may call a WeChat inbox: the echostr handshake, query signatures, replay window, and safe/compatible mode."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connectors.base import MalformedPayload, RawRequest, ReplayKey, SignatureInvalid
from connectors.testing import raw_request
from connectors.wechat.common.connector import WeChatConnector
from connectors.wechat.common.crypto import MessageCipher
from connectors.wechat.common.signature import sign
from connectors.wechat.common.testing import FIXTURE_ENCODING_AES_KEY, FIXTURE_SIGNED_AT
from normalizer import ContentType
from tests.connectors.wechat.support import (
    deliver,
    deliveries,
    fixture,
    mini_program,
    official_account,
    receive_one,
)

MODES = ["plain", "safe", "compatible"]
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


def both_channels(mode: str) -> list[tuple[WeChatConnector, bytes]]:
    """The official account (XML) and the mini program (JSON) in `mode`, each with a text message it receives."""
    return [
        (official_account(mode=mode), fixture("oa_text.xml")),
        (mini_program(mode=mode), fixture("mp_text.json")),
    ]


def with_query(raw: RawRequest, **changes: str | None) -> RawRequest:
    query = {**raw.query, **changes}
    return replace(raw, query={name: value for name, value in query.items() if value is not None})


@pytest.mark.parametrize("mode", MODES)
def test_the_server_check_echoes_echostr_in_every_mode(mode: str) -> None:
    for connector, _ in both_channels(mode):
        raw = deliveries(connector).handshake("4375120948345356249")
        connector.verify(raw)
        answer = connector.handshake(raw)
        assert answer is not None and answer.body == b"4375120948345356249" and answer.status_code == 200


def test_a_server_check_with_a_wrong_signature_is_refused() -> None:
    connector = official_account()
    raw = deliveries(connector).handshake("4375120948345356249")
    with pytest.raises(SignatureInvalid):
        connector.verify(with_query(raw, signature="0" * 40))


@pytest.mark.parametrize("mode", MODES)
def test_messages_are_not_handshakes(mode: str) -> None:
    for connector, message in both_channels(mode):
        raw = deliveries(connector).post(message)
        connector.verify(raw)
        assert connector.handshake(raw) is None
        assert connector.ack(raw, connector.parse(raw)).body == b"success"


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
@pytest.mark.parametrize("mode", MODES)
def test_a_delivery_without_its_signature_parts_is_refused(mode: str, missing: str) -> None:
    for connector, message in both_channels(mode):
        raw = deliveries(connector).post(message)
        with pytest.raises(SignatureInvalid):
            connector.verify(with_query(raw, **{missing: None}))


@pytest.mark.parametrize("mode", MODES)
def test_a_delivery_signed_with_another_token_is_refused(mode: str) -> None:
    for connector, message in both_channels(mode):
        impostor = connector.settings.model_copy(update={"token": SecretStr("SomeoneElse1")})
        with pytest.raises(SignatureInvalid, match="signature"):
            connector.verify(deliveries(connector, settings=impostor).post(message))


@pytest.mark.parametrize("mode", MODES)
def test_a_tampered_signature_is_refused(mode: str) -> None:
    for connector, message in both_channels(mode):
        raw = deliveries(connector).post(message)
        flipped = raw.query["signature"][:-1] + ("0" if raw.query["signature"][-1] != "0" else "1")
        with pytest.raises(SignatureInvalid):
            connector.verify(with_query(raw, signature=flipped))


@pytest.mark.parametrize(
    ("signed_before_receipt", "accepted"),
    [
        (timedelta(seconds=300), True),
        (timedelta(seconds=301), False),
        (timedelta(minutes=-6), False),
        (timedelta(days=400), False),
    ],
)
def test_timestamps_far_from_our_clock_are_refused_as_replays(
    signed_before_receipt: timedelta, accepted: bool
) -> None:
    """A correctly signed delivery replayed later (or signed in the future) is refused; 300 s of skew is allowed."""
    for connector, message in both_channels("safe"):
        raw = deliveries(connector, received_at=FIXTURE_SIGNED_AT + signed_before_receipt).post(message)
        if accepted:
            connector.verify(raw)
        else:
            with pytest.raises(SignatureInvalid, match="replay"):
                connector.verify(raw)


def test_the_replay_window_is_a_setting() -> None:
    connector = official_account(max_clock_skew_seconds=30)
    raw = deliveries(connector, received_at=FIXTURE_SIGNED_AT + timedelta(seconds=31)).post(
        fixture("oa_text.xml")
    )
    with pytest.raises(SignatureInvalid, match="replay"):
        connector.verify(raw)


@pytest.mark.parametrize(
    "timestamp", ["yesterday", "", "-1714037059", "1714037059.5", "١٧١٤٠٣٧٠٥٩", "999999999999", "9" * 40]
)
def test_a_timestamp_that_is_no_unix_time_is_refused(timestamp: str) -> None:
    """999999999999 is past year 9999: it once crashed the refusal message instead of being refused."""
    connector = official_account()
    raw = deliveries(connector).post(fixture("oa_text.xml"))
    with pytest.raises(SignatureInvalid):
        connector.verify(with_query(raw, timestamp=timestamp))


def test_a_safe_mode_inbox_refuses_plaintext_deliveries() -> None:
    """Otherwise anyone who learnt the token could skip the encryption the admin asked for."""
    connector = official_account(mode="safe")
    plain = deliveries(official_account(mode="plain")).post(fixture("oa_text.xml"))
    with pytest.raises(SignatureInvalid, match="safe mode"):
        connector.verify(plain)


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_an_encrypted_delivery_needs_its_msg_signature(mode: str) -> None:
    for connector, message in both_channels(mode):
        raw = deliveries(connector).post(message)
        with pytest.raises(SignatureInvalid, match="msg_signature"):
            connector.verify(with_query(raw, msg_signature=None))


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_a_ciphertext_swapped_under_a_valid_query_is_refused(mode: str) -> None:
    """msg_signature covers the ciphertext, so a ciphertext lifted from another delivery does not pass."""
    for connector, message in both_channels(mode):
        signed = deliveries(connector)
        genuine = signed.post(message)
        other = signed.post(message)
        assert other.body != genuine.body, "each encryption draws a fresh random prefix"
        swapped = replace(genuine, body=other.body)
        with pytest.raises(SignatureInvalid, match="msg_signature"):
            connector.verify(swapped)


def _for_another_app(app_id: str, plaintext: bytes) -> str:
    return MessageCipher(FIXTURE_ENCODING_AES_KEY, "wx9999999999999999").encrypt(plaintext)


def _with_another_key(app_id: str, plaintext: bytes) -> str:
    return MessageCipher(OTHER_KEY, app_id).encrypt(plaintext)


def _tampered(app_id: str, plaintext: bytes) -> str:
    return _flip_byte(MessageCipher(FIXTURE_ENCODING_AES_KEY, app_id).encrypt(plaintext), -17)


@pytest.mark.parametrize(
    "encrypt",
    [
        _for_another_app,
        _with_another_key,
        _tampered,
        pytest.param(lambda app_id, plaintext: "bm90IGEgY2lwaGVydGV4dA==", id="not-aes-blocks"),
        pytest.param(lambda app_id, plaintext: "%%% not base64 %%%", id="not-base64"),
    ],
)
@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_a_ciphertext_not_made_for_this_inbox_is_refused(mode: str, encrypt) -> None:
    """Even under a valid msg_signature (the token leaked), only the inbox's key and app id open a delivery."""
    for connector, message in both_channels(mode):
        raw = deliveries(connector).post_ciphertext(encrypt(connector.settings.app_id, message))
        with pytest.raises(SignatureInvalid):
            connector.verify(raw)
        with pytest.raises(MalformedPayload):
            connector.parse(raw)


def _flip_byte(encrypted: str, position: int) -> str:
    """CBC: a byte flipped in the next-to-last block garbles the last plaintext block (app id and padding)."""
    ciphertext = bytearray(base64.b64decode(encrypted))
    ciphertext[position] ^= 0x5A
    return base64.b64encode(bytes(ciphertext)).decode()


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_a_ciphertext_tampered_in_transit_is_refused(mode: str) -> None:
    for connector, message in both_channels(mode):
        encrypted = MessageCipher(FIXTURE_ENCODING_AES_KEY, connector.settings.app_id).encrypt(message)
        genuine = deliveries(connector).post_ciphertext(encrypted)
        tampered = replace(
            genuine, body=genuine.body.replace(encrypted.encode(), _flip_byte(encrypted, 5).encode())
        )
        assert tampered.body != genuine.body
        with pytest.raises(SignatureInvalid, match="msg_signature"):
            connector.verify(tampered)


def test_wechats_own_compatible_mode_sample_opens() -> None:
    """The sample delivery from WeChat's encryption guide (token spamtest, its app id and key) decrypts and parses."""
    connector = official_account(app_id="wx2c2769f8efd9abc2", token="spamtest", mode="compatible")
    query = {
        "signature": sign("spamtest", "1409735669", "1320562132"),
        "timestamp": "1409735669",
        "nonce": "1320562132",
        "encrypt_type": "aes",
        "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    }
    raw = raw_request(
        fixture("oa_text_compatible_mode_wechat_sample.xml"),
        query=query,
        received_at=datetime.fromtimestamp(1409735669 + 2, UTC),
    )
    [message] = deliver(connector, raw)
    assert (message.content_type, message.text, message.channel_message_id) == (
        ContentType.TEXT,
        "abcdteT",
        "6054768590064713728",
    )
    assert message.sender.value == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


def test_compatible_mode_reads_the_ciphertext_when_encrypt_type_is_aes() -> None:
    """Both forms travel side by side; the signed ciphertext is the one that counts."""
    connector = official_account(mode="compatible")
    genuine = fixture("oa_text.xml")
    forged_plaintext = genuine.replace("你好，我的订单 #A1024 还没到".encode(), "请退款到这个账户".encode())
    encrypted = MessageCipher(FIXTURE_ENCODING_AES_KEY, connector.settings.app_id).encrypt(genuine)
    raw = deliveries(connector).post_ciphertext(encrypted, beside=forged_plaintext)
    [message] = deliver(connector, raw)
    assert message.text == "你好，我的订单 #A1024 还没到"


def test_compatible_mode_refuses_a_plaintext_delivery() -> None:
    """WeChat sends the ciphertext in compatible mode too; the query signature alone does not cover the plaintext."""
    connector = official_account(mode="compatible")
    with pytest.raises(SignatureInvalid, match="compatible mode"):
        connector.verify(deliveries(connector).post_body(fixture("oa_text.xml")))


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_a_captured_query_without_encrypt_type_cannot_carry_a_forged_plaintext(mode: str) -> None:
    """An attacker who saw one genuine query posts a plaintext of their own under it, stripped of encrypt_type
    (which told compatible mode to read the ciphertext) and msg_signature, or not."""
    for connector, message in both_channels(mode):
        genuine = deliveries(connector).post(message)
        forged = replace(genuine, body=message)
        for query in (
            {**genuine.query},
            with_query(genuine, encrypt_type=None).query,
            with_query(genuine, encrypt_type=None, msg_signature=None).query,
        ):
            with pytest.raises(SignatureInvalid):
                connector.verify(replace(forged, query=query))


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_an_encrypted_delivery_needs_its_encrypt_part(mode: str) -> None:
    for connector, message in both_channels(mode):
        genuine = deliveries(connector).post(message)
        without_ciphertext = deliveries(connector).post_body(
            message, encrypt_type="aes", msg_signature=genuine.query["msg_signature"]
        )
        with pytest.raises(SignatureInvalid, match="Encrypt"):
            connector.verify(without_ciphertext)


@pytest.mark.parametrize("mode", MODES)
def test_the_replay_key_is_the_timestamp_and_nonce_until_the_skew_runs_out(mode: str) -> None:
    for connector, message in both_channels(mode):
        signed = deliveries(connector, received_at=FIXTURE_SIGNED_AT + timedelta(seconds=100))
        key = connector.replay_key(signed.post(message))
        assert key == ReplayKey(
            f"{int(FIXTURE_SIGNED_AT.timestamp())}:{signed.nonce}", timedelta(seconds=200)
        )
        assert connector.replay_key(signed.post(message + b"  ")) == key
        assert connector.replay_key(replace(signed, nonce="42").post(message)).value != key.value


def test_a_plain_mode_inbox_names_the_setting_to_fix_for_an_encrypted_delivery() -> None:
    encrypted = deliveries(official_account(mode="safe")).post(fixture("oa_text.xml"))
    connector = official_account(mode="plain")
    connector.verify(encrypted)
    with pytest.raises(MalformedPayload, match="plain mode"):
        connector.parse(encrypted)


@pytest.mark.parametrize("mode", MODES)
def test_the_same_message_reads_the_same_in_every_mode(mode: str) -> None:
    for connector, message in both_channels(mode):
        plain = (
            mini_program(mode="plain") if connector.kind == "wechat_mp" else official_account(mode="plain")
        )
        assert receive_one(connector, message) == receive_one(plain, message)


def test_the_audit_copy_keeps_the_ciphertext_and_no_credentials() -> None:
    connector = official_account(mode="safe")
    raw = deliveries(connector).post(fixture("oa_text.xml"))
    kept = connector.redact(raw)
    assert "<Encrypt>" in kept and "订单" not in kept
    for secret in (
        "FixtureToken2024",
        FIXTURE_ENCODING_AES_KEY,
        "fixture-app-secret",
        raw.query["msg_signature"],
    ):
        assert secret not in kept


def test_the_audit_copy_of_a_gbk_delivery_is_readable_text() -> None:
    connector = official_account(mode="plain")
    assert "您好，请问发票怎么开？" in connector.redact(
        deliveries(connector).post(fixture("oa_text_gbk.xml"))
    )
