"""WeChat through the running app: signed, encrypted callbacks in; customer service API calls out (respx).

The demo workspace's official account (safe mode) and mini program inboxes are driven the way
WeChat drives them: the callback URL, token and EncodingAESKey come from `omnihub demo --json`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx

from connectors.base import RawRequest
from connectors.wechat import MiniProgramSettings, WeChatSettings
from connectors.wechat.common import WeChatConnector
from connectors.wechat.common.testing import SignedDeliveries
from tests.conftest import bearer, inbox_of, wait_for

API = "https://api.weixin.qq.com"
OA_OPENID = "oLOkR5PG536EbZgd9WcCfGaLfoM8"
MP_OPENID = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
UNIONID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def deliveries(demo: dict[str, Any], kind: str, **changes: Any) -> SignedDeliveries:
    """Deliveries signed now with the demo inbox's console settings and a nonce of their own, as WeChat signs them."""
    inbox = inbox_of(demo, kind)
    model = MiniProgramSettings if kind == "wechat_mp" else WeChatSettings
    settings = model.model_validate(
        {
            "app_id": inbox["app_id"],
            "app_secret": "not-needed-to-sign",
            "token": inbox["token"],
            "mode": inbox["mode"],
            "encoding_aes_key": inbox["encoding_aes_key"],
            **({"data_format": inbox["data_format"]} if kind == "wechat_mp" else {}),
        }
    )
    now = datetime.now(UTC)
    data_format = "json" if kind == "wechat_mp" and inbox["data_format"] == "json" else "xml"
    return SignedDeliveries(
        settings, data_format, **{"signed_at": now, "received_at": now, "nonce": fresh_nonce(), **changes}
    )


def fresh_nonce() -> str:
    return str(secrets.randbelow(10**10))


def oa_text(text: str, msg_id: int, *, sent_at: datetime | None = None, unionid: str | None = None) -> bytes:
    created = int((sent_at or datetime.now(UTC)).timestamp())
    union = f"<UnionId><![CDATA[{unionid}]]></UnionId>" if unionid else ""
    return (
        f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[{OA_OPENID}]]>"
        f"</FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId>{union}</xml>"
    ).encode()


def post(client, demo: dict[str, Any], kind: str, raw: RawRequest) -> httpx.Response:
    path = urlsplit(inbox_of(demo, kind)["callback_url"]).path
    return client.request(raw.method, path, params=dict(raw.query), content=raw.body)


def conversations(client, demo) -> list[dict[str, Any]]:
    return client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"]


def messages(client, demo, conversation_id: str) -> list[dict[str, Any]]:
    return client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(demo["api_token"])
    ).json()["items"]


def calls_to(router: respx.Router, path: str) -> list:
    return [call for call in router.calls if call.request.url.path == path]


@pytest.fixture
def wechat_api():
    """WeChat's API as respx routes: a stable access token, a user profile with a unionid, and sends that succeed."""
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{API}/cgi-bin/stable_token").respond(
            json={"access_token": "ACCESS_TOKEN_1", "expires_in": 7200}
        )
        router.get(f"{API}/cgi-bin/user/info").respond(
            json={"openid": OA_OPENID, "nickname": "小明", "unionid": UNIONID}
        )
        router.post(f"{API}/cgi-bin/message/custom/send").respond(
            json={"errcode": 0, "errmsg": "ok", "msgid": 1001}
        )
        router.post(f"{API}/cgi-bin/message/custom/typing").respond(json={"errcode": 0, "errmsg": "ok"})
        yield router


def test_encrypted_message_in_reply_out_to_the_right_openid(client, demo, wechat_api):
    handshake = post(
        client, demo, "wechat_oa", deliveries(demo, "wechat_oa").handshake("5837397520665436492")
    )
    assert handshake.status_code == 200 and handshake.text == "5837397520665436492"

    answer = post(
        client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("我的订单在哪里？", 880001))
    )
    assert answer.status_code == 200 and answer.text == "success"
    [conversation] = wait_for(lambda: conversations(client, demo))
    [incoming] = wait_for(lambda: messages(client, demo, conversation["id"]))
    assert incoming["text"] == "我的订单在哪里？" and incoming["direction"] == "in"
    detail = client.get(
        f"/api/v1/conversations/{conversation['id']}", headers=bearer(demo["api_token"])
    ).json()
    assert detail["identity"] == {
        "kind": "wechat_openid",
        "value": OA_OPENID,
        "scope": inbox_of(demo, "wechat_oa")["app_id"],
    }
    assert detail["reply_window"]["replies_remaining"] == 5
    assert datetime.fromisoformat(detail["reply_window"]["ends_at"]) > datetime.now(UTC) + timedelta(hours=47)

    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "今天发货。"},
    ).json()
    wait_for(
        lambda: (
            next(m for m in messages(client, demo, conversation["id"]) if m["id"] == reply["id"])["status"]
            == "sent"
        )
    )
    [send] = calls_to(wechat_api, "/cgi-bin/message/custom/send")
    assert send.request.url.params["access_token"] == "ACCESS_TOKEN_1"
    assert json.loads(send.request.content) == {
        "touser": OA_OPENID,
        "msgtype": "text",
        "text": {"content": "今天发货。"},
    }
    window = client.get(
        f"/api/v1/conversations/{conversation['id']}", headers=bearer(demo["api_token"])
    ).json()
    assert window["reply_window"]["replies_remaining"] == 4


def test_wechat_retries_store_one_message(client, demo, wechat_api):
    delivery = deliveries(demo, "wechat_oa").post(oa_text("重复投递", 880002))
    answers = [post(client, demo, "wechat_oa", delivery) for _ in range(3)]
    assert [answer.text for answer in answers] == ["success"] * 3
    [conversation] = wait_for(lambda: conversations(client, demo))
    wait_for(lambda: messages(client, demo, conversation["id"]))
    assert [m["text"] for m in messages(client, demo, conversation["id"])] == ["重复投递"]


@pytest.mark.parametrize("forgery", ["wrong_token", "stale", "tampered_signature"])
def test_forged_or_replayed_callbacks_are_refused_and_store_nothing(client, demo, wechat_api, forgery):
    genuine = deliveries(demo, "wechat_oa")
    if forgery == "wrong_token":
        other = genuine.settings.model_copy(update={"token": type(genuine.settings.token)("SomebodyElse99")})
        raw = replace(genuine, settings=other).post(oa_text("伪造", 880003))
    elif forgery == "stale":
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        raw = replace(genuine, signed_at=long_ago).post(oa_text("重放", 880003))
    else:
        raw = genuine.post(oa_text("篡改", 880003))
        raw = replace(raw, query={**raw.query, "msg_signature": "0" * 40})
    answer = post(client, demo, "wechat_oa", raw)
    assert answer.status_code == 403 and answer.json()["code"] == "signature_invalid"
    assert conversations(client, demo) == []


def test_xml_bombs_are_refused_with_400_and_store_nothing(client, demo, wechat_api):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<xml><ToUserName>x</ToUserName><Content>&b;</Content></xml>"
    )
    answer = post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(bomb))
    assert answer.status_code == 400 and answer.json()["code"] == "malformed_payload"
    assert conversations(client, demo) == []


def test_a_reply_after_the_48_hour_window_fails_at_once_without_calling_wechat(client, demo, wechat_api):
    written_long_ago = datetime.now(UTC) - timedelta(hours=49)
    post(
        client,
        demo,
        "wechat_oa",
        deliveries(demo, "wechat_oa").post(oa_text("还在吗", 880004, sent_at=written_long_ago)),
    )
    [conversation] = wait_for(lambda: conversations(client, demo))
    detail = client.get(
        f"/api/v1/conversations/{conversation['id']}", headers=bearer(demo["api_token"])
    ).json()
    assert datetime.fromisoformat(detail["reply_window"]["ends_at"]) < datetime.now(UTC)
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "抱歉回复晚了"},
    ).json()
    failed = wait_for(
        lambda: (
            (m := next(m for m in messages(client, demo, conversation["id"]) if m["id"] == reply["id"]))[
                "status"
            ]
            == "failed"
            and m
        )
    )
    assert "reply window closed" in failed["error"]
    assert calls_to(wechat_api, "/cgi-bin/message/custom/send") == []


def test_the_same_person_on_the_official_account_and_the_mini_program_is_one_contact(
    client, demo, wechat_api
):
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("公众号来的", 880005)))
    mini_program_push = json.dumps(
        {
            "ToUserName": "gh_97417a04a28d",
            "FromUserName": MP_OPENID,
            "CreateTime": int(datetime.now(UTC).timestamp()),
            "MsgType": "text",
            "Content": "小程序来的",
            "MsgId": 990001,
            "UnionId": UNIONID,
        },
        ensure_ascii=False,
    ).encode()
    assert (
        post(client, demo, "wechat_mp", deliveries(demo, "wechat_mp").post(mini_program_push)).text
        == "success"
    )
    both = wait_for(lambda: len(found := conversations(client, demo)) == 2 and found)
    assert {conversation["inbox_id"] for conversation in both} == {
        inbox_of(demo, "wechat_oa")["id"],
        inbox_of(demo, "wechat_mp")["id"],
    }
    assert len({conversation["contact_id"] for conversation in both}) == 1


def test_the_agent_typing_reaches_wechat(client, demo, wechat_api):
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("在吗", 880006)))
    [conversation] = wait_for(lambda: conversations(client, demo))
    typing = client.post(
        f"/api/v1/conversations/{conversation['id']}/typing",
        headers=bearer(demo["api_token"]),
        json={"typing": True},
    )
    assert typing.status_code == 202
    [call] = wait_for(lambda: calls_to(wechat_api, "/cgi-bin/message/custom/typing"))
    assert json.loads(call.request.content) == {"touser": OA_OPENID, "command": "Typing"}


def test_an_agent_sends_an_image_uploaded_to_wechat_first(client, demo, wechat_api):
    upload = wechat_api.post(f"{API}/cgi-bin/media/upload").respond(
        json={"type": "image", "media_id": "MEDIA_1"}
    )
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("发张图", 880007)))
    [conversation] = wait_for(lambda: conversations(client, demo))
    stored = client.post(
        "/api/v1/attachments",
        headers=bearer(demo["api_token"]),
        files={"file": ("receipt.png", PNG, "image/png")},
    ).json()
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "这是收据", "attachments": [{"kind": "image", "url": stored["url"]}]},
    ).json()
    wait_for(
        lambda: (
            next(m for m in messages(client, demo, conversation["id"]) if m["id"] == reply["id"])["status"]
            == "sent"
        )
    )
    assert upload.call_count == 1 and PNG in upload.calls.last.request.content
    sent = [json.loads(call.request.content) for call in calls_to(wechat_api, "/cgi-bin/message/custom/send")]
    assert sent == [
        {"touser": OA_OPENID, "msgtype": "text", "text": {"content": "这是收据"}},
        {"touser": OA_OPENID, "msgtype": "image", "image": {"media_id": "MEDIA_1"}},
    ]
    detail = client.get(
        f"/api/v1/conversations/{conversation['id']}", headers=bearer(demo["api_token"])
    ).json()
    assert detail["reply_window"]["replies_remaining"] == 3


def test_a_customers_image_is_copied_into_attachment_storage(client, demo, wechat_api):
    wechat_api.get(f"{API}/cgi-bin/media/get").respond(content=PNG, headers={"content-type": "image/png"})
    created = int(datetime.now(UTC).timestamp())
    image = (
        f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[{OA_OPENID}]]>"
        f"</FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[https://mmbiz.qpic.cn/mmbiz/x.jpg]]></PicUrl><MediaId><![CDATA[MEDIA_FROM_CUSTOMER]]>"
        "</MediaId><MsgId>880008</MsgId></xml>"
    ).encode()
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(image))
    [conversation] = wait_for(lambda: conversations(client, demo))
    [message] = wait_for(lambda: messages(client, demo, conversation["id"]))
    [attachment] = message["attachments"]
    assert attachment["kind"] == "image" and attachment["mime_type"] == "image/png"
    served = client.get(urlsplit(attachment["url"]).path)
    assert served.status_code == 200 and served.content == PNG


def oa_subscribe(subscribed_at: datetime) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[{OA_OPENID}]]>"
        f"</FromUserName><CreateTime>{int(subscribed_at.timestamp())}</CreateTime><MsgType><![CDATA[event]]>"
        "</MsgType><Event><![CDATA[subscribe]]></Event></xml>"
    ).encode()


def reply_and_wait(client, demo, conversation_id: str, text: str) -> dict[str, Any]:
    reply = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": text},
    ).json()
    return wait_for(
        lambda: (
            (m := next(m for m in messages(client, demo, conversation_id) if m["id"] == reply["id"]))[
                "status"
            ]
            in ("sent", "failed")
            and m
        )
    )


def test_a_new_follower_can_be_greeted_three_times_within_a_minute(client, demo, wechat_api):
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_subscribe(datetime.now(UTC))))
    [conversation] = wait_for(lambda: conversations(client, demo))
    window = client.get(
        f"/api/v1/conversations/{conversation['id']}", headers=bearer(demo["api_token"])
    ).json()["reply_window"]
    assert window["replies_remaining"] == 3
    assert datetime.fromisoformat(window["ends_at"]) <= datetime.now(UTC) + timedelta(minutes=1)
    outcomes = [
        reply_and_wait(client, demo, conversation["id"], text)
        for text in ("欢迎关注！", "有问题随时问我们。", "祝您购物愉快。", "还有一条")
    ]
    assert [outcome["status"] for outcome in outcomes] == ["sent", "sent", "sent", "failed"]
    assert outcomes[3]["error"] == "The channel allows no more replies until the customer writes again."
    assert len(calls_to(wechat_api, "/cgi-bin/message/custom/send")) == 3


def test_a_greeting_after_the_minute_is_refused_until_the_customer_writes(client, demo, wechat_api):
    followed = datetime.now(UTC) - timedelta(minutes=2)
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_subscribe(followed)))
    [conversation] = wait_for(lambda: conversations(client, demo))
    assert "window closed" in reply_and_wait(client, demo, conversation["id"], "欢迎！")["error"]
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("你好", 880009)))
    wait_for(lambda: len(messages(client, demo, conversation["id"])) == 3)
    assert reply_and_wait(client, demo, conversation["id"], "您好！")["status"] == "sent"


def test_a_message_naming_an_identity_kind_no_connector_declares_is_refused(
    client, demo, wechat_api, monkeypatch
):
    """The hub checks a connector's messages against the identity kinds the registry knows before storing them."""
    monkeypatch.setattr(WeChatConnector, "identity_kinds", frozenset())
    answer = post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("你好", 880077)))
    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_payload" and "wechat_openid" in answer.json()["detail"]
    assert conversations(client, demo) == []
