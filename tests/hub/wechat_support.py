"""WeChat official account inboxes connected through the API, and WeChat's side of them: signed callbacks and
the API mocked with respx."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import respx
from litestar.testing import TestClient

from connectors.base import RawRequest
from connectors.wechat import WeChatSettings
from connectors.wechat.common.testing import FIXTURE_ENCODING_AES_KEY, SignedDeliveries
from hub.crypto import hash_password
from hub.models import Agent, Workspace
from hub.settings import Settings
from tests.conftest import bearer, run, wait_for

API = "https://api.weixin.qq.com"
OA_OPENID = "oLOkR5PG536EbZgd9WcCfGaLfoM8"
SHOP_APP_ID = "wx5d1c0a9b8e7f6a41"
SHOP_APP_SECRET = "the-shops-own-app-secret-7f3a9c"
OK = {"errcode": 0, "errmsg": "ok"}


def inbox_settings(**overrides: Any) -> dict[str, Any]:
    settings = {
        "app_id": SHOP_APP_ID,
        "app_secret": SHOP_APP_SECRET,
        "token": "ShopCallbackToken2024",
        "mode": "safe",
        "encoding_aes_key": FIXTURE_ENCODING_AES_KEY,
        **overrides,
    }
    if settings["mode"] == "plain":
        settings.pop("encoding_aes_key")
    return settings


def create_inbox(client: TestClient, api_token: str, **overrides: Any) -> httpx.Response:
    return client.post(
        "/api/v1/inboxes",
        headers=bearer(api_token),
        json={"kind": "wechat_oa", "name": "Shop WeChat", "settings": inbox_settings(**overrides)},
    )


def token_answer(access_token: str) -> httpx.Response:
    return httpx.Response(200, json={"access_token": access_token, "expires_in": 7200})


def wechat_error(errcode: int, errmsg: str) -> httpx.Response:
    return httpx.Response(200, json={"errcode": errcode, "errmsg": errmsg})


def wechat_api(*api_base_urls: str) -> respx.MockRouter:
    """WeChat's API at each base URL as respx routes; the official account looks up every new customer's profile."""
    router = respx.mock(assert_all_called=False)
    for base_url in api_base_urls:
        router.get(f"{base_url}/cgi-bin/user/info").respond(json={"openid": OA_OPENID, "nickname": "小明"})
    return router


def connected_inbox(
    client: TestClient, api_token: str, **overrides: Any
) -> tuple[dict[str, Any], SignedDeliveries]:
    """An inbox created through the API (WeChat hands out a token), and WeChat's deliveries to it."""
    with wechat_api() as wechat:
        wechat.post(f"{overrides.get('api_base_url', API)}/cgi-bin/stable_token").mock(
            return_value=token_answer("FIRST")
        )
        created = create_inbox(client, api_token, **overrides)
    assert created.status_code == 201, created.text
    return created.json(), signed_by(inbox_settings(**overrides))


def signed_by(settings: dict[str, Any], **changes: Any) -> SignedDeliveries:
    """Deliveries WeChat signs now for an inbox with these settings, each SignedDeliveries with a nonce of its own."""
    now = datetime.now(UTC)
    return SignedDeliveries(
        WeChatSettings.model_validate(settings),
        **{"signed_at": now, "received_at": now, "nonce": str(secrets.randbelow(10**10)), **changes},
    )


def text_message(text: str, msg_id: int) -> bytes:
    created = int(datetime.now(UTC).timestamp())
    return (
        f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[{OA_OPENID}]]>"
        f"</FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def deliver(client: TestClient, inbox: dict[str, Any], raw: RawRequest) -> httpx.Response:
    """What WeChat does: call the inbox's callback URL with the signed query and the body."""
    return client.request(
        raw.method, urlsplit(inbox["callback_url"]).path, params=dict(raw.query), content=raw.body
    )


def conversations(client: TestClient, api_token: str, inbox: dict[str, Any]) -> list[dict[str, Any]]:
    return client.get(
        "/api/v1/conversations", params={"inbox_id": inbox["id"]}, headers=bearer(api_token)
    ).json()["items"]


def texts(client: TestClient, api_token: str, conversation: dict[str, Any]) -> list[str]:
    answer = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(api_token))
    return [message["text"] for message in answer.json()["items"]]


def reply_and_wait(
    client: TestClient, api_token: str, conversation: dict[str, Any], text: str
) -> dict[str, Any]:
    """An agent's reply, once the worker has sent it or given up."""
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    reply = client.post(path, headers=bearer(api_token), json={"text": text}).json()

    def settled() -> dict[str, Any] | None:
        items = client.get(path, headers=bearer(api_token)).json()["items"]
        message = next(item for item in items if item["id"] == reply["id"])
        return message if message["status"] in ("sent", "failed") else None

    return wait_for(settled)


def customer_writes(
    client: TestClient,
    api_token: str,
    inbox: dict[str, Any],
    signed: SignedDeliveries,
    text: str,
    msg_id: int,
) -> dict[str, Any]:
    """A customer's message reaches the inbox; its conversation once stored."""
    assert deliver(client, inbox, signed.post(text_message(text, msg_id))).text == "success"
    return wait_for(
        lambda: next(
            (
                found
                for found in conversations(client, api_token, inbox)
                if text in texts(client, api_token, found)
            ),
            None,
        )
    )


def access_tokens_used(route: respx.Route) -> list[str]:
    return [call.request.url.params["access_token"] for call in route.calls]


def token_requests(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def other_workspace(client: TestClient, settings: Settings, name: str) -> str:
    """A second business with its own admin: the API token of that admin, logged in through the API."""
    email, password = f"admin@{name.lower().replace(' ', '-')}.example", "a long enough password"

    async def create(hub: Any) -> None:
        async with hub.database.session() as session:
            workspace = Workspace(name=name)
            session.add(workspace)
            await session.flush()
            session.add(
                Agent(
                    workspace_id=workspace.id,
                    email=email,
                    name=name,
                    role="admin",
                    password_hash=hash_password(password),
                )
            )
            await session.commit()

    run(create, settings)
    login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return login.json()["access_token"]
