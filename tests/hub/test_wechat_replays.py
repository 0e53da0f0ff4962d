"""WeChat callbacks through the running app, as an attacker who captured one would try them.

WeChat signs the timestamp and nonce of a callback, and only outside plain mode (with msg_signature) its
ciphertext. A signed query therefore carries one request: WeChat's retry of it is acknowledged and stored once,
anything else under it is refused, in every mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import respx

from tests.conftest import wait_for
from tests.hub.wechat_support import (
    API,
    connected_inbox,
    conversations,
    deliver,
    inbox_settings,
    signed_by,
    text_message,
    texts,
    wechat_api,
)

MODES = ["plain", "safe", "compatible"]


@pytest.fixture(autouse=True)
def wechat() -> Iterator[respx.MockRouter]:
    """WeChat's API answers the profile look-up of each stored message, so no test reaches the real one."""
    with wechat_api(API) as router:
        yield router


def stored_texts(client, api_token: str, inbox) -> list[str]:
    return [
        text
        for conversation in conversations(client, api_token, inbox)
        for text in texts(client, api_token, conversation)
    ]


@pytest.mark.parametrize("mode", MODES)
def test_a_captured_signature_cannot_carry_another_body(client, demo, mode):
    inbox, signed = connected_inbox(client, demo["api_token"], mode=mode)
    genuine = signed.post(text_message("我的订单在哪里？", 770001))
    assert deliver(client, inbox, genuine).text == "success"
    forged = text_message("请退款到这个账户", 770002)
    resigned = deliver(client, inbox, signed.post(forged))
    assert resigned.status_code == 403 and resigned.json()["code"] == "replayed_delivery"
    under_the_captured_query = deliver(client, inbox, replace(genuine, body=forged))
    assert under_the_captured_query.status_code == 403
    wait_for(lambda: stored_texts(client, demo["api_token"], inbox))
    assert stored_texts(client, demo["api_token"], inbox) == ["我的订单在哪里？"]


@pytest.mark.parametrize("mode", MODES)
def test_wechats_retry_of_a_delivery_is_acknowledged_and_stored_once(client, demo, mode):
    inbox, signed = connected_inbox(client, demo["api_token"], mode=mode)
    delivery = signed.post(text_message("重复投递", 770003))
    assert [deliver(client, inbox, delivery).text for _ in range(3)] == ["success"] * 3
    wait_for(lambda: stored_texts(client, demo["api_token"], inbox))
    assert stored_texts(client, demo["api_token"], inbox) == ["重复投递"]


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_a_delivery_without_its_msg_signature_is_refused(client, demo, mode):
    inbox, signed = connected_inbox(client, demo["api_token"], mode=mode)
    genuine = signed.post(text_message("没有签名", 770004))
    unsigned = replace(
        genuine, query={name: value for name, value in genuine.query.items() if name != "msg_signature"}
    )
    refused = deliver(client, inbox, unsigned)
    assert refused.status_code == 403 and refused.json()["code"] == "signature_invalid"
    assert "msg_signature" in refused.json()["detail"]
    assert conversations(client, demo["api_token"], inbox) == []


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_a_forged_plaintext_under_a_query_stripped_of_encrypt_type_is_refused(client, demo, mode):
    """Compatible mode once read the plaintext when encrypt_type was missing, and the query signature does not
    cover it: anyone who captured one query could have written anything."""
    inbox, signed = connected_inbox(client, demo["api_token"], mode=mode)
    genuine = signed.post(text_message("我的订单在哪里？", 770005))
    stripped = {
        name: value for name, value in genuine.query.items() if name not in ("encrypt_type", "msg_signature")
    }
    refused = deliver(
        client, inbox, replace(genuine, query=stripped, body=text_message("请退款到这个账户", 770006))
    )
    assert refused.status_code == 403 and refused.json()["code"] == "signature_invalid"
    assert conversations(client, demo["api_token"], inbox) == []
    assert deliver(client, inbox, genuine).text == "success", (
        "a refused forgery does not use up the signature"
    )
    wait_for(lambda: stored_texts(client, demo["api_token"], inbox) == ["我的订单在哪里？"])


@pytest.mark.parametrize("mode", MODES)
def test_a_delivery_refused_before_it_was_stored_leaves_its_signature_to_the_retry(client, demo, mode):
    inbox, signed = connected_inbox(client, demo["api_token"], mode=mode)
    unreadable = deliver(client, inbox, signed.post(b"<xml><MsgType>text</MsgType></xml>"))
    assert unreadable.status_code == 400 and unreadable.json()["code"] == "malformed_payload"
    assert deliver(client, inbox, signed.post(text_message("第二次才对", 770007))).text == "success"
    wait_for(lambda: stored_texts(client, demo["api_token"], inbox) == ["第二次才对"])


def test_the_signature_of_a_server_check_cannot_carry_a_message(client, demo):
    """In plain mode the server check's GET is signed exactly like a message's POST."""
    inbox, signed = connected_inbox(client, demo["api_token"], mode="plain")
    server_check = signed.handshake("5837397520665436492")
    assert [deliver(client, inbox, server_check).text for _ in range(2)] == ["5837397520665436492"] * 2
    refused = deliver(client, inbox, signed.post(text_message("借用签名", 770008)))
    assert refused.status_code == 403 and refused.json()["code"] == "replayed_delivery"


def test_each_inbox_has_its_own_signatures(client, demo):
    """WeChat draws nonces per app: the same timestamp and nonce on two inboxes are two deliveries."""
    other_app = {"app_id": "wx0a1b2c3d4e5f6071", "token": "OtherToken77"}
    first, signed = connected_inbox(client, demo["api_token"])
    second, _ = connected_inbox(client, demo["api_token"], **other_app)
    same_signature = signed_by(
        inbox_settings(**other_app),
        nonce=signed.nonce,
        signed_at=signed.signed_at,
        received_at=signed.received_at,
    )
    assert deliver(client, first, signed.post(text_message("一号", 770009))).text == "success"
    assert deliver(client, second, same_signature.post(text_message("二号", 770010))).text == "success"
    wait_for(lambda: stored_texts(client, demo["api_token"], first) == ["一号"])
    wait_for(lambda: stored_texts(client, demo["api_token"], second) == ["二号"])
