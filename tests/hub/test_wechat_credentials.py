"""A WeChat inbox's credentials: proven with WeChat when the inbox is created, and its token its own.

A business that connects a WeChat app id it does not own (another business's, with any secret and an API
host of its own) must never send with, refresh, or block the owner's access token.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import bearer
from tests.hub.wechat_support import (
    API,
    OK,
    SHOP_APP_ID,
    SHOP_APP_SECRET,
    access_tokens_used,
    create_inbox,
    customer_writes,
    inbox_settings,
    other_workspace,
    reply_and_wait,
    signed_by,
    token_answer,
    token_requests,
    wechat_api,
    wechat_error,
)

RIVAL_API = "https://wechat-gateway.rival.example"
RIVAL_SETTINGS = inbox_settings(
    app_secret="whatever-the-rival-typed", api_base_url=RIVAL_API, token="RivalToken99"
)
"""The shop's app id, with a secret, an API host and a callback token of the rival's choosing."""


def listed_inboxes(client, api_token: str) -> list[str]:
    return [inbox["id"] for inbox in client.get("/api/v1/inboxes", headers=bearer(api_token)).json()]


def test_creating_an_inbox_fetches_a_token_with_its_app_id_and_secret_and_keeps_it(client, demo):
    with wechat_api(API) as wechat:
        tokens = wechat.post(f"{API}/cgi-bin/stable_token").mock(
            return_value=token_answer("TOKEN_AT_CREATION")
        )
        sends = wechat.post(f"{API}/cgi-bin/message/custom/send").respond(json=OK)
        created = create_inbox(client, demo["api_token"])
        assert created.status_code == 201, created.text
        assert token_requests(tokens) == [
            {
                "grant_type": "client_credential",
                "appid": SHOP_APP_ID,
                "secret": SHOP_APP_SECRET,
                "force_refresh": False,
            }
        ]
        inbox = created.json()
        conversation = customer_writes(
            client, demo["api_token"], inbox, signed_by(inbox_settings()), "你好", 660001
        )
        assert reply_and_wait(client, demo["api_token"], conversation, "您好！")["status"] == "sent"
    assert access_tokens_used(sends) == ["TOKEN_AT_CREATION"]
    assert tokens.call_count == 1, "the token fetched at creation is the inbox's first"


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (wechat_error(40125, "invalid appsecret"), "settings.app_secret"),
        (
            wechat_error(40001, "invalid credential, access_token is invalid or not latest"),
            "settings.app_secret",
        ),
        (wechat_error(40013, "invalid appid"), "settings.app_id"),
        (httpx.Response(404, text="<html>Not Found</html>"), "settings.api_base_url"),
    ],
    ids=["wrong-secret", "secret-not-of-this-app", "wrong-app-id", "not-wechats-api"],
)
def test_credentials_wechat_refuses_name_the_setting_and_create_nothing(client, demo, answer, field):
    before = listed_inboxes(client, demo["api_token"])
    with wechat_api() as wechat:
        wechat.post(f"{API}/cgi-bin/stable_token").mock(return_value=answer)
        refused = create_inbox(client, demo["api_token"])
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "credentials_refused"
    assert [error["field"] for error in refused.json()["errors"]] == [field]
    assert SHOP_APP_SECRET not in refused.text
    assert listed_inboxes(client, demo["api_token"]) == before


def test_an_ip_address_wechat_does_not_allow_is_explained(client, demo):
    with wechat_api() as wechat:
        wechat.post(f"{API}/cgi-bin/stable_token").mock(
            return_value=wechat_error(
                40164, "invalid ip 203.0.113.9 ipv6 ::ffff:203.0.113.9, not in whitelist"
            )
        )
        refused = create_inbox(client, demo["api_token"])
    assert refused.status_code == 422 and refused.json()["code"] == "credentials_refused"
    assert "IP whitelist" in refused.json()["detail"] and "errors" not in refused.json()


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.Response(503, text="busy"),
        wechat_error(-1, "system error"),
    ],
    ids=["unreachable", "http-503", "wechat-busy"],
)
def test_wechat_unable_to_answer_creates_nothing_and_says_to_try_again(client, demo, failure):
    before = listed_inboxes(client, demo["api_token"])
    with wechat_api() as wechat:
        wechat.post(f"{API}/cgi-bin/stable_token").mock(side_effect=[failure])
        unavailable = create_inbox(client, demo["api_token"])
    assert unavailable.status_code == 502, unavailable.text
    assert unavailable.json()["code"] == "channel_unavailable"
    assert "try again" in unavailable.json()["detail"]
    assert listed_inboxes(client, demo["api_token"]) == before


def converse(
    client, api_token: str, inbox: dict[str, Any], settings: dict[str, Any], msg_id: int
) -> dict[str, Any]:
    """A customer writes to the inbox and an agent of its workspace replies: the reply once settled."""
    conversation = customer_writes(client, api_token, inbox, signed_by(settings), f"问题 {msg_id}", msg_id)
    return reply_and_wait(client, api_token, conversation, f"回复 {msg_id}")


def test_an_inbox_with_another_workspaces_app_id_sends_with_a_token_of_its_own(client, demo, settings):
    rival = other_workspace(client, settings, "Rival Trading")
    with wechat_api(API, RIVAL_API) as wechat:
        shop_tokens = wechat.post(f"{API}/cgi-bin/stable_token").mock(return_value=token_answer("SHOP_TOKEN"))
        rival_tokens = wechat.post(f"{RIVAL_API}/cgi-bin/stable_token").mock(
            return_value=token_answer("RIVAL_TOKEN")
        )
        shop_sends = wechat.post(f"{API}/cgi-bin/message/custom/send").respond(json=OK)
        rival_sends = wechat.post(f"{RIVAL_API}/cgi-bin/message/custom/send").respond(json=OK)
        shop = create_inbox(client, demo["api_token"]).json()
        created = create_inbox(client, rival, **RIVAL_SETTINGS)
        assert created.status_code == 201, created.text
        assert converse(client, demo["api_token"], shop, inbox_settings(), 660101)["status"] == "sent"
        assert converse(client, rival, created.json(), RIVAL_SETTINGS, 660102)["status"] == "sent"
    assert access_tokens_used(rival_sends) == ["RIVAL_TOKEN"]
    assert access_tokens_used(shop_sends) == ["SHOP_TOKEN"]
    assert [request["secret"] for request in token_requests(shop_tokens)] == [SHOP_APP_SECRET]
    assert rival_tokens.call_count == 1


def test_a_refresh_or_a_refusal_in_one_workspace_leaves_the_other_workspaces_token_alone(
    client, demo, settings
):
    """The rival's API rejects its token, its refresh is refused and recorded; the shop's own token is rejected by
    WeChat next: the shop refreshes from WeChat, unblocked by the rival's refusal, and never sees the rival's token."""
    rival = other_workspace(client, settings, "Rival Trading")
    with wechat_api(API, RIVAL_API) as wechat:
        shop_tokens = wechat.post(f"{API}/cgi-bin/stable_token").mock(
            side_effect=[token_answer("SHOP_TOKEN"), token_answer("SHOP_TOKEN_2")]
        )
        rival_tokens = wechat.post(f"{RIVAL_API}/cgi-bin/stable_token").mock(
            side_effect=[token_answer("RIVAL_TOKEN"), wechat_error(40125, "invalid appsecret")]
        )
        token_rejected = wechat_error(40001, "invalid credential, access_token is invalid or not latest")
        shop_sends = wechat.post(f"{API}/cgi-bin/message/custom/send").mock(
            side_effect=[token_rejected, httpx.Response(200, json=OK)]
        )
        rival_sends = wechat.post(f"{RIVAL_API}/cgi-bin/message/custom/send").mock(
            side_effect=[token_rejected]
        )
        shop = create_inbox(client, demo["api_token"]).json()
        rival_inbox = create_inbox(client, rival, **RIVAL_SETTINGS).json()

        failed = converse(client, rival, rival_inbox, RIVAL_SETTINGS, 660201)
        assert failed["status"] == "failed" and "app secret" in failed["error"]
        assert converse(client, demo["api_token"], shop, inbox_settings(), 660202)["status"] == "sent"
    assert access_tokens_used(shop_sends) == ["SHOP_TOKEN", "SHOP_TOKEN_2"]
    assert access_tokens_used(rival_sends) == ["RIVAL_TOKEN"]
    assert shop_tokens.call_count == 2 and rival_tokens.call_count == 2
