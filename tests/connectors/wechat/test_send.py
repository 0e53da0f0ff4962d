"""Replies through WeChat's customer service API (mocked with respx): messages, splitting, media, tokens, errors."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from connectors.base import (
    ConnectorContext,
    DeferredSendError,
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from connectors.testing import MemorySharedStore
from connectors.wechat.common.access_token import FETCH_AGAIN_AFTER, access_token_key
from connectors.wechat.common.connector import WeChatConnector
from connectors.wechat.common.identities import WECHAT_UNIONID
from connectors.wechat.common.testing import FIXTURE_RECEIVED_AT
from normalizer import Attachment, IdentityKind, IdentityRef
from tests.connectors.wechat.conftest import ACCESS_TOKEN
from tests.connectors.wechat.support import (
    MP_APP_ID,
    MP_OPENID,
    OA_APP_ID,
    OA_OPENID,
    InterleavingStore,
    connector_context,
    mini_program,
    official_account,
    openid_of,
    outbound,
)

OA_CUSTOMER = openid_of(OA_APP_ID, OA_OPENID)
MP_CUSTOMER = openid_of(MP_APP_ID, MP_OPENID)
OK = {"errcode": 0, "errmsg": "ok"}
PNG = b"\x89PNG\r\n\x1a\n fixture png"


def wechat_error(errcode: int, errmsg: str) -> httpx.Response:
    """WeChat refuses with HTTP 200 and an errcode."""
    return httpx.Response(200, json={"errcode": errcode, "errmsg": errmsg})


def mock_send(wechat_api: respx.Router, *answers: httpx.Response | Exception) -> respx.Route:
    route = wechat_api.post("/cgi-bin/message/custom/send", name="send")
    if answers:
        route.side_effect = list(answers)
    else:
        route.respond(json=OK)
    return route


def sent_bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def sent_texts(route: respx.Route) -> list[str]:
    return [body["text"]["content"] for body in sent_bodies(route)]


def both_channels() -> list[tuple[WeChatConnector, IdentityRef]]:
    return [(official_account(), OA_CUSTOMER), (mini_program(), MP_CUSTOMER)]


async def test_a_text_reply_is_one_customer_service_message(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    send = mock_send(wechat_api)
    for connector, customer in both_channels():
        result = await connector.send(outbound(customer, "您好，您的订单已发货。"), context)
        assert result == SendResult(channel_message_ids=("msg-1:0",))
        assert sent_bodies(send)[-1] == {
            "touser": customer.value,
            "msgtype": "text",
            "text": {"content": "您好，您的订单已发货。"},
        }
        assert send.calls.last.request.url.params["access_token"] == ACCESS_TOKEN


async def test_the_access_token_is_fetched_once_and_shared_by_every_process(
    wechat_api: respx.Router, http: httpx.AsyncClient, store: MemorySharedStore
) -> None:
    mock_send(wechat_api)
    for process in range(3):
        connector = official_account()
        await connector.send(outbound(OA_CUSTOMER, f"reply {process}"), connector_context(http, store))
    token = wechat_api.routes["token"]
    assert token.call_count == 1
    assert json.loads(token.calls.last.request.content) == {
        "grant_type": "client_credential",
        "appid": OA_APP_ID,
        "secret": "fixture-app-secret-0123456789abcdef",
        "force_refresh": False,
    }


async def test_each_app_has_its_own_access_token(wechat_api: respx.Router, context: ConnectorContext) -> None:
    mock_send(wechat_api)
    for connector, customer in both_channels():
        await connector.send(outbound(customer, "hi"), context)
    fetched_for = [json.loads(call.request.content)["appid"] for call in wechat_api.routes["token"].calls]
    assert fetched_for == [OA_APP_ID, MP_APP_ID]


async def test_a_token_about_to_expire_is_replaced_before_use(
    wechat_api: respx.Router, http: httpx.AsyncClient, store: MemorySharedStore
) -> None:
    """WeChat tokens live 7200 s; one with less than five minutes left is not used."""
    mock_send(wechat_api)
    connector = official_account()
    await connector.send(outbound(OA_CUSTOMER, "first"), connector_context(http, store))
    later = connector_context(http, store)
    later.now = lambda: FIXTURE_RECEIVED_AT + timedelta(seconds=7200 - 299)
    await connector.send(outbound(OA_CUSTOMER, "second"), later)
    assert wechat_api.routes["token"].call_count == 2


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [
        (40001, "invalid credential, access_token is invalid or not latest"),
        (42001, "access_token expired"),
        (40014, "invalid access_token"),
    ],
)
async def test_a_token_rejected_mid_send_is_refreshed_once_and_the_call_retried(
    wechat_api: respx.Router, context: ConnectorContext, errcode: int, errmsg: str
) -> None:
    wechat_api.routes["token"].side_effect = [
        httpx.Response(200, json={"access_token": "TOKEN_WECHAT_DROPPED", "expires_in": 7200}),
        httpx.Response(200, json={"access_token": ACCESS_TOKEN, "expires_in": 7200}),
    ]
    send = mock_send(
        wechat_api, httpx.Response(200, json=OK), wechat_error(errcode, errmsg), httpx.Response(200, json=OK)
    )
    connector = official_account()
    await connector.send(outbound(OA_CUSTOMER, "first", message_id="msg-1"), context)
    fetched_before = wechat_api.routes["token"].call_count
    result = await connector.send(outbound(OA_CUSTOMER, "second", message_id="msg-2"), context)
    assert result.channel_message_ids == ("msg-2:0",)
    assert wechat_api.routes["token"].call_count - fetched_before == 1
    used_tokens = [call.request.url.params["access_token"] for call in send.calls]
    assert used_tokens == ["TOKEN_WECHAT_DROPPED", "TOKEN_WECHAT_DROPPED", ACCESS_TOKEN]
    assert sent_texts(send) == ["first", "second", "second"]


async def test_a_fresh_token_rejected_again_is_not_retried_forever(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    send = mock_send(
        wechat_api, wechat_error(40001, "invalid credential"), wechat_error(40001, "invalid credential")
    )
    with pytest.raises(TransientSendError) as refused:
        await official_account().send(outbound(OA_CUSTOMER, "hi"), context)
    assert "freshly fetched" in refused.value.reason and "40001" in refused.value.reason
    assert send.call_count == 2 and wechat_api.routes["token"].call_count == 2


@pytest.mark.parametrize(
    ("answer", "expected", "reason"),
    [
        (
            wechat_error(40001, "invalid credential"),
            PermanentSendError,
            "refused this inbox's app secret (WeChat errcode 40001",
        ),
        (
            wechat_error(40013, "invalid appid"),
            PermanentSendError,
            "refused this inbox's app id (WeChat errcode 40013: invalid appid)",
        ),
        (
            wechat_error(40125, "invalid appsecret"),
            PermanentSendError,
            "app secret (WeChat errcode 40125: invalid appsecret)",
        ),
        (
            wechat_error(40014, "invalid access_token"),
            PermanentSendError,
            "refused this inbox's app id and app secret",
        ),
        (
            wechat_error(40164, "invalid ip 203.0.113.9, not in whitelist"),
            PermanentSendError,
            "not in whitelist",
        ),
        (wechat_error(-1, "system error"), TransientSendError, "busy"),
        (httpx.Response(200, json={"expires_in": 7200}), TransientSendError, "without a token"),
        (httpx.Response(502, text="Bad Gateway"), TransientSendError, "HTTP 502"),
    ],
)
async def test_a_refused_token_request_says_why(
    wechat_api: respx.Router,
    context: ConnectorContext,
    answer: httpx.Response,
    expected: type[Exception],
    reason: str,
) -> None:
    wechat_api.routes["token"].side_effect = [answer]
    send = mock_send(wechat_api)
    with pytest.raises(expected) as refused:
        await official_account().send(outbound(OA_CUSTOMER, "hi"), context)
    assert reason in refused.value.reason
    assert "fixture-app-secret" not in refused.value.reason
    assert send.call_count == 0


async def test_a_failed_token_request_is_remembered_by_every_process_until_the_pause_ends(
    wechat_api: respx.Router, http: httpx.AsyncClient
) -> None:
    """WeChat is busy: the next send (another process, same store) fails with the same reason without asking."""
    wechat_api.routes["token"].side_effect = [
        wechat_error(-1, "system error"),
        httpx.Response(200, json={"access_token": ACCESS_TOKEN, "expires_in": 7200}),
    ]
    send = mock_send(wechat_api)
    store, clock = MemorySharedStore(), [FIXTURE_RECEIVED_AT]
    context = replace(connector_context(http, store), now=lambda: clock[0])
    with pytest.raises(TransientSendError):
        await official_account().send(outbound(OA_CUSTOMER, "first"), context)
    clock[0] += FETCH_AGAIN_AFTER["transient"] - timedelta(seconds=1)
    with pytest.raises(TransientSendError) as remembered:
        await official_account().send(outbound(OA_CUSTOMER, "second", message_id="msg-2"), context)
    assert (
        "busy" in remembered.value.reason and "asks WeChat for a token again after" in remembered.value.reason
    )
    assert remembered.value.retry_after == 1
    assert wechat_api.routes["token"].call_count == 1 and send.call_count == 0
    clock[0] += timedelta(seconds=1)
    await official_account().send(outbound(OA_CUSTOMER, "third", message_id="msg-3"), context)
    assert wechat_api.routes["token"].call_count == 2 and sent_texts(send) == ["third"]


@pytest.mark.parametrize(
    ("answer", "expected", "pause"),
    [
        (wechat_error(40125, "invalid appsecret"), PermanentSendError, FETCH_AGAIN_AFTER["permanent"]),
        (wechat_error(45009, "reach max api daily quota limit"), DeferredSendError, None),
        (httpx.Response(429, headers={"Retry-After": "30"}), TransientSendError, timedelta(seconds=30)),
    ],
)
async def test_a_remembered_token_refusal_keeps_its_kind_and_pause(
    wechat_api: respx.Router,
    http: httpx.AsyncClient,
    answer: httpx.Response,
    expected: type[Exception],
    pause: timedelta | None,
) -> None:
    """Wrong credentials stay a permanent failure, the daily quota stays deferred, WeChat's Retry-After is kept."""
    wechat_api.routes["token"].side_effect = [answer]
    context = connector_context(http, MemorySharedStore())
    with pytest.raises(expected) as first:
        await official_account().send(outbound(OA_CUSTOMER, "hi"), context)
    with pytest.raises(expected) as again:
        await official_account().send(outbound(OA_CUSTOMER, "hi", message_id="msg-2"), context)
    assert again.value.reason.startswith(first.value.reason)
    assert isinstance(first.value, expected) and type(again.value) is expected
    if pause is not None:
        retry_at = FIXTURE_RECEIVED_AT + pause
        assert f"again after {retry_at:%H:%M:%S} UTC" in again.value.reason
    assert wechat_api.routes["token"].call_count == 1


async def test_a_process_reuses_the_token_it_knows_and_follows_one_replaced_elsewhere(
    wechat_api: respx.Router, http: httpx.AsyncClient
) -> None:
    """Sends read the shared store only when this process's copy is stale or WeChat rejected it."""
    reads: list[str] = []

    class CountingStore(MemorySharedStore):
        async def get(self, key: str) -> str | None:
            reads.append(key)
            return await super().get(key)

    store = CountingStore()
    context = connector_context(http, store)
    send = mock_send(
        wechat_api,
        httpx.Response(200, json=OK),
        httpx.Response(200, json=OK),
        wechat_error(40001, "invalid credential"),
        httpx.Response(200, json=OK),
    )
    this_process = official_account()
    await this_process.send(outbound(OA_CUSTOMER, "first"), context)
    reads_to_fetch = len(reads)
    await this_process.send(outbound(OA_CUSTOMER, "second", message_id="msg-2"), context)
    assert len(reads) == reads_to_fetch
    store.values[access_token_key(OA_APP_ID)] = json.dumps(
        {
            "access_token": "TOKEN_FROM_ANOTHER_PROCESS",
            "expires_at": (FIXTURE_RECEIVED_AT + timedelta(hours=2)).isoformat(),
        }
    )
    await this_process.send(outbound(OA_CUSTOMER, "third", message_id="msg-3"), context)
    used_tokens = [call.request.url.params["access_token"] for call in send.calls]
    assert used_tokens == [ACCESS_TOKEN, ACCESS_TOKEN, ACCESS_TOKEN, "TOKEN_FROM_ANOTHER_PROCESS"]
    assert wechat_api.routes["token"].call_count == 1


async def test_concurrent_sends_without_a_cached_token_fetch_it_once(
    wechat_api: respx.Router, http: httpx.AsyncClient
) -> None:
    """Two workers (two connector instances) share the store; only one of them asks WeChat for the token."""
    send = mock_send(wechat_api)
    store = InterleavingStore()

    async def send_from_worker(index: int) -> SendResult:
        message = outbound(OA_CUSTOMER, f"from worker {index}", message_id=f"msg-{index}")
        return await official_account().send(message, connector_context(http, store))

    await asyncio.gather(send_from_worker(0), send_from_worker(1))
    assert wechat_api.routes["token"].call_count == 1
    assert sorted(sent_texts(send)) == ["from worker 0", "from worker 1"]


async def test_a_long_chinese_text_is_split_on_utf8_bytes(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    """WeChat counts 2048 bytes, not characters: 3-byte Chinese characters fit 682 to a part, none is cut."""
    text = "您好！" + "这是一段很长的客服回复内容" * 200
    assert len(text.encode()) > 3 * 2048
    send = mock_send(wechat_api)
    connector = official_account()
    result = await connector.send(outbound(OA_CUSTOMER, text), context)
    parts = sent_texts(send)
    assert (
        len(parts)
        == len(result.channel_message_ids)
        == connector.parts_needed(outbound(OA_CUSTOMER, text))
        == 4
    )
    assert all(len(part.encode()) <= 2048 for part in parts)
    assert max(len(part.encode()) for part in parts) > 2048 - 3, "parts are filled, not cut short"
    assert "".join(parts) == text


async def test_four_byte_characters_are_never_cut(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    text = "a" + "𠮷" * 1500
    send = mock_send(wechat_api)
    await mini_program().send(outbound(MP_CUSTOMER, text), context)
    parts = sent_texts(send)
    assert [len(part.encode()) for part in parts] == [1 + 4 * 511, 4 * 512, 4 * (1500 - 511 - 512)]
    assert "".join(parts) == text


async def test_text_at_the_limit_is_one_message(wechat_api: respx.Router, context: ConnectorContext) -> None:
    text = "订" * 682 + "ab"
    assert len(text.encode()) == 2048
    send = mock_send(wechat_api)
    await official_account().send(outbound(OA_CUSTOMER, text), context)
    assert sent_texts(send) == [text]


async def test_a_retried_split_message_skips_the_parts_already_sent(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    text = "第一部分。" * 130 + "\n" + "第二部分。" * 130 + "\n" + "第三部分。" * 30
    send = mock_send(
        wechat_api,
        httpx.Response(200, json=OK),
        httpx.Response(200, json=OK),
        wechat_error(-1, "system error"),
        httpx.Response(200, json=OK),
    )
    connector = official_account()
    with pytest.raises(TransientSendError):
        await connector.send(outbound(OA_CUSTOMER, text), context)
    result = await official_account().send(outbound(OA_CUSTOMER, text), context)
    first, second, third, third_again = sent_texts(send)
    assert third == third_again and len({first, second, third}) == 3
    assert "".join((first, second, third)).replace("\n", "") == text.replace("\n", "")
    assert result.channel_message_ids == ("msg-1:0", "msg-1:1", "msg-1:2")


async def test_an_image_is_uploaded_before_it_is_sent(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    stored_copy = wechat_api.get("https://hub.example.test/attachments/7/receipt.png").respond(
        content=PNG, headers={"content-type": "image/png"}
    )
    upload = wechat_api.post("/cgi-bin/media/upload", params={"type": "image"}).respond(
        json={"type": "image", "media_id": "UPLOADED_MEDIA_1", "created_at": 1714037062}
    )
    send = mock_send(wechat_api)
    image = Attachment(
        "image", url="https://hub.example.test/attachments/7/receipt.png", mime_type="image/png"
    )
    connector = official_account()
    message = outbound(OA_CUSTOMER, "这是您的收据", attachments=(image,))
    result = await connector.send(message, context)
    assert connector.parts_needed(message) == len(result.channel_message_ids) == 2
    calls = [(call.request.method, call.request.url.path) for call in wechat_api.calls]
    assert calls.index(("POST", "/cgi-bin/media/upload")) < calls.index(
        ("POST", "/cgi-bin/message/custom/send"), 2
    )
    assert stored_copy.call_count == 1 and upload.call_count == 1
    uploaded = upload.calls.last.request
    assert uploaded.url.params["access_token"] == ACCESS_TOKEN
    assert b'name="media"; filename="receipt.png"' in uploaded.content and PNG in uploaded.content
    assert sent_bodies(send) == [
        {"touser": OA_OPENID, "msgtype": "text", "text": {"content": "这是您的收据"}},
        {"touser": OA_OPENID, "msgtype": "image", "image": {"media_id": "UPLOADED_MEDIA_1"}},
    ]


async def test_media_already_on_wechat_is_not_uploaded_again(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    upload = wechat_api.post("/cgi-bin/media/upload").respond(json={"media_id": "unused"})
    send = mock_send(wechat_api)
    await mini_program().send(
        outbound(MP_CUSTOMER, attachments=(Attachment("image", media_id="MEDIA_ON_WECHAT"),)), context
    )
    assert upload.call_count == 0
    assert sent_bodies(send) == [
        {"touser": MP_OPENID, "msgtype": "image", "image": {"media_id": "MEDIA_ON_WECHAT"}}
    ]


async def test_an_image_over_wechats_size_limit_fails_before_uploading(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    wechat_api.get("https://hub.example.test/attachments/8/huge.png").respond(
        content=b"\0" * (10 * 1024 * 1024 + 1)
    )
    upload = wechat_api.post("/cgi-bin/media/upload").respond(json={"media_id": "unused"})
    with pytest.raises(PermanentSendError, match="larger than 10485760 bytes"):
        await official_account().send(
            outbound(
                OA_CUSTOMER,
                attachments=(Attachment("image", url="https://hub.example.test/attachments/8/huge.png"),),
            ),
            context,
        )
    assert upload.call_count == 0


LINK = Attachment(
    "link",
    url="https://shop.example.com/returns",
    name="退货政策",
    meta={"description": "七天无理由退货", "thumb_url": "https://shop.example.com/t.png"},
)
CARD = Attachment(
    "card",
    media_id="THUMB_1",
    name="订单详情",
    meta={"page_path": "pages/order/detail?id=42", "app_id": MP_APP_ID},
)


@pytest.mark.parametrize(
    ("channel", "attachment", "expected"),
    [
        (
            "oa",
            Attachment("voice", media_id="VOICE_1"),
            {"msgtype": "voice", "voice": {"media_id": "VOICE_1"}},
        ),
        (
            "oa",
            Attachment(
                "video",
                media_id="VIDEO_1",
                name="安装视频",
                meta={"thumb_media_id": "THUMB_9", "description": "三步安装"},
            ),
            {
                "msgtype": "video",
                "video": {
                    "media_id": "VIDEO_1",
                    "title": "安装视频",
                    "thumb_media_id": "THUMB_9",
                    "description": "三步安装",
                },
            },
        ),
        (
            "oa",
            LINK,
            {
                "msgtype": "news",
                "news": {
                    "articles": [
                        {
                            "title": "退货政策",
                            "description": "七天无理由退货",
                            "url": "https://shop.example.com/returns",
                            "picurl": "https://shop.example.com/t.png",
                        }
                    ]
                },
            },
        ),
        (
            "oa",
            CARD,
            {
                "msgtype": "miniprogrampage",
                "miniprogrampage": {
                    "title": "订单详情",
                    "appid": MP_APP_ID,
                    "pagepath": "pages/order/detail?id=42",
                    "thumb_media_id": "THUMB_1",
                },
            },
        ),
        (
            "mp",
            LINK,
            {
                "msgtype": "link",
                "link": {
                    "title": "退货政策",
                    "description": "七天无理由退货",
                    "url": "https://shop.example.com/returns",
                    "thumb_url": "https://shop.example.com/t.png",
                },
            },
        ),
        (
            "mp",
            CARD,
            {
                "msgtype": "miniprogrampage",
                "miniprogrampage": {
                    "title": "订单详情",
                    "pagepath": "pages/order/detail?id=42",
                    "thumb_media_id": "THUMB_1",
                },
            },
        ),
    ],
)
async def test_attachments_become_wechats_message_types(
    wechat_api: respx.Router,
    context: ConnectorContext,
    channel: str,
    attachment: Attachment,
    expected: dict[str, Any],
) -> None:
    connector, customer = both_channels()[0 if channel == "oa" else 1]
    send = mock_send(wechat_api)
    await connector.send(outbound(customer, attachments=(attachment,)), context)
    assert sent_bodies(send) == [{"touser": customer.value, **expected}]


@pytest.mark.parametrize(
    ("channel", "attachment", "reason"),
    [
        ("oa", Attachment("file", url="https://hub.example.test/attachments/1/a.pdf"), "cannot send file"),
        ("mp", Attachment("voice", media_id="VOICE_1"), "cannot send voice"),
        ("mp", Attachment("video", media_id="VIDEO_1"), "cannot send video"),
        ("oa", Attachment("card", media_id="THUMB_1", meta={"page_path": "pages/index"}), "meta app_id"),
        ("mp", Attachment("card", media_id="THUMB_1"), "page_path"),
        ("oa", Attachment("link"), "needs a url"),
        ("oa", Attachment("image"), "neither a media_id nor a url"),
    ],
)
async def test_an_attachment_the_channel_cannot_send_fails_with_a_reason(
    wechat_api: respx.Router, context: ConnectorContext, channel: str, attachment: Attachment, reason: str
) -> None:
    connector, customer = both_channels()[0 if channel == "oa" else 1]
    send = mock_send(wechat_api)
    with pytest.raises(PermanentSendError, match=reason):
        await connector.send(outbound(customer, attachments=(attachment,)), context)
    assert send.call_count == 0


async def test_an_unsendable_attachment_fails_the_message_before_its_text_goes_out(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    """Otherwise the customer would get half a message that the agent sees as failed."""
    send = mock_send(wechat_api)
    message = outbound(
        OA_CUSTOMER, "见附件", attachments=(Attachment("file", url="https://hub.example.test/a.pdf"),)
    )
    with pytest.raises(PermanentSendError, match="cannot send file"):
        await official_account().send(message, context)
    assert send.call_count == 0


@pytest.mark.parametrize(
    "recipient",
    [
        openid_of(MP_APP_ID, OA_OPENID),
        IdentityRef(WECHAT_UNIONID, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", verified=True),
        IdentityRef(IdentityKind.EMAIL, "customer@example.com"),
    ],
)
async def test_only_an_openid_of_the_inboxs_own_app_can_be_reached(
    wechat_api: respx.Router, context: ConnectorContext, recipient: IdentityRef
) -> None:
    send = mock_send(wechat_api)
    with pytest.raises(PermanentSendError, match=f"not a WeChat user of app {OA_APP_ID}"):
        await official_account().send(outbound(recipient, "hi"), context)
    assert send.call_count == 0


async def test_an_empty_message_needs_no_part_and_is_refused(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    empty = outbound(OA_CUSTOMER, "  \n ")
    connector = official_account()
    assert connector.parts_needed(empty) == 0
    with pytest.raises(PermanentSendError, match="neither text nor attachments"):
        await connector.send(empty, context)


@pytest.mark.parametrize(
    ("errcode", "errmsg", "expected", "reason"),
    [
        (
            45047,
            "out of response count limit",
            PermanentSendError,
            "no more replies to this customer until they write again",
        ),
        (
            45015,
            "response out of time limit or subscription is canceled",
            PermanentSendError,
            "more than 48 hours ago",
        ),
        (-1, "system error", TransientSendError, "WeChat was busy"),
        (40003, "invalid openid", PermanentSendError, "refused the customer service message"),
        (48001, "api unauthorized", PermanentSendError, "refused the customer service message"),
    ],
)
async def test_wechat_errcodes_become_readable_reasons(
    wechat_api: respx.Router,
    context: ConnectorContext,
    errcode: int,
    errmsg: str,
    expected: type[Exception],
    reason: str,
) -> None:
    mock_send(wechat_api, wechat_error(errcode, errmsg))
    with pytest.raises(expected) as refused:
        await official_account().send(outbound(OA_CUSTOMER, "hi"), context)
    assert type(refused.value) is expected
    assert reason in refused.value.reason
    assert f"WeChat errcode {errcode}: {errmsg}" in refused.value.reason


async def test_the_daily_api_quota_defers_until_midnight_beijing_time(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    """Received at 09:24:22 UTC = 17:24:22 in Beijing: the quota resets in 6 h 35 min 38 s."""
    mock_send(wechat_api, wechat_error(45009, "reach max api daily quota limit"))
    with pytest.raises(DeferredSendError) as deferred:
        await official_account().send(outbound(OA_CUSTOMER, "hi"), context)
    assert deferred.value.retry_after == 6 * 3600 + 35 * 60 + 38
    assert "daily API quota" in deferred.value.reason and "45009" in deferred.value.reason


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("peer closed")],
)
async def test_transport_errors_are_transient_and_hide_the_token(
    wechat_api: respx.Router, context: ConnectorContext, failure: Exception
) -> None:
    mock_send(wechat_api, failure)
    with pytest.raises(TransientSendError) as refused:
        await official_account().send(outbound(OA_CUSTOMER, "hi"), context)
    assert type(refused.value) is TransientSendError
    assert "could not reach" in refused.value.reason and ACCESS_TOKEN not in refused.value.reason


async def test_a_rate_limited_call_is_retried_after_wechats_delay(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    mock_send(wechat_api, httpx.Response(429, headers={"retry-after": "30"}))
    with pytest.raises(TransientSendError) as limited:
        await official_account().send(outbound(OA_CUSTOMER, "hi"), context)
    assert limited.value.retry_after == 30


@pytest.mark.parametrize(("typing", "command"), [(True, "Typing"), (False, "CancelTyping")])
async def test_the_typing_indicator(
    wechat_api: respx.Router, context: ConnectorContext, typing: bool, command: str
) -> None:
    indicator = wechat_api.post("/cgi-bin/message/custom/typing").respond(json=OK)
    for connector, customer in both_channels():
        await connector.send_typing(customer, typing, context)
        assert json.loads(indicator.calls.last.request.content) == {
            "touser": customer.value,
            "command": command,
        }
    assert indicator.call_count == 2


async def test_a_refused_typing_indicator_says_why(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    wechat_api.post("/cgi-bin/message/custom/typing").respond(
        json={"errcode": 45015, "errmsg": "response out of time limit"}
    )
    with pytest.raises(PermanentSendError, match="48 hours"):
        await official_account().send_typing(OA_CUSTOMER, True, context)


async def test_the_api_base_url_is_a_per_inbox_setting(http: httpx.AsyncClient) -> None:
    """A regional host or proxy: token and messages go there, and nothing goes to api.weixin.qq.com."""
    connector = official_account(api_base_url="https://wechat-proxy.example.test/v1/")
    with respx.mock(base_url="https://wechat-proxy.example.test/v1") as proxy:
        token = proxy.post("/cgi-bin/stable_token").respond(
            json={"access_token": ACCESS_TOKEN, "expires_in": 7200}
        )
        send = proxy.post("/cgi-bin/message/custom/send").respond(json=OK)
        await connector.send(outbound(OA_CUSTOMER, "hi"), connector_context(http))
    assert token.call_count == 1 and send.call_count == 1
