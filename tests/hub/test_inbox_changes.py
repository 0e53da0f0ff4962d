"""Changing a connected inbox through the API: rename it, change some settings, keep the secrets left out, prove new
credentials with the channel before storing them, and never reach another workspace's inbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import assert_error_shape, bearer, inbox_of
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401
from tests.hub.wechat_support import (
    API,
    SHOP_APP_SECRET,
    connected_inbox,
    deliver,
    text_message,
    token_answer,
    wechat_api,
    wechat_error,
)


def change(client, token: str, inbox_id: str, body: dict[str, Any]) -> httpx.Response:
    return client.patch(f"/api/v1/inboxes/{inbox_id}", json=body, headers=bearer(token))


def test_a_web_chat_inbox_is_renamed_and_its_widget_retitled_at_once(client, demo):
    inbox = inbox_of(demo, "webchat")
    changed = change(
        client, demo["api_token"], inbox["id"], {"name": "  Shop chat ", "settings": {"title": "Ask us"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Shop chat"
    assert changed.json()["settings"]["title"] == "Ask us"
    assert changed.json()["settings"]["greeting"] == "Hi! How can we help?", "settings left out are kept"
    config = client.get(f"/widget/{inbox['widget_token']}/config").json()
    assert config["title"] == "Ask us" and config["inbox"] == "Shop chat"


def test_a_rotated_wechat_secret_is_proved_then_used_and_the_others_are_kept(client, demo):
    inbox, signed = connected_inbox(client, demo["api_token"])
    with wechat_api(API) as wechat:
        token_route = wechat.post(f"{API}/cgi-bin/stable_token").mock(return_value=token_answer("SECOND"))
        changed = change(
            client, demo["api_token"], inbox["id"], {"settings": {"app_secret": "a-new-app-secret-0123"}}
        )
        assert changed.status_code == 200, changed.text
        assert token_route.calls.last.request.content.find(b"a-new-app-secret-0123") >= 0
        assert changed.json()["settings"]["app_secret"] == "********"
        assert changed.json()["settings"]["token"] == "********"
        accepted = deliver(client, changed.json(), signed.post(text_message("还在吗", 880001)))
        assert accepted.text == "success", (
            "the callback token and AES key left out still verify WeChat's deliveries"
        )


def test_a_masked_secret_sent_back_changes_nothing_and_proves_nothing(client, demo):
    inbox, _signed = connected_inbox(client, demo["api_token"])
    shown = client.get(f"/api/v1/inboxes/{inbox['id']}", headers=bearer(demo["api_token"])).json()
    with wechat_api(API) as wechat:
        token_route = wechat.post(f"{API}/cgi-bin/stable_token").mock(return_value=token_answer("UNUSED"))
        echoed = change(client, demo["api_token"], inbox["id"], {"settings": shown["settings"]})
        assert echoed.status_code == 200, echoed.text
        assert not token_route.called


def test_credentials_the_channel_refuses_are_not_stored(client, demo):
    inbox, signed = connected_inbox(client, demo["api_token"])
    with wechat_api(API) as wechat:
        wechat.post(f"{API}/cgi-bin/stable_token").mock(return_value=wechat_error(40125, "invalid appsecret"))
        refused = change(
            client,
            demo["api_token"],
            inbox["id"],
            {"name": "Renamed", "settings": {"app_secret": "wrong-secret-012345"}},
        )
    assert refused.status_code == 422
    assert_error_shape(refused)
    assert refused.json()["code"] == "credentials_refused"
    after = client.get(f"/api/v1/inboxes/{inbox['id']}", headers=bearer(demo["api_token"])).json()
    assert after["name"] == inbox["name"], "nothing of a refused change is stored"
    assert deliver(client, after, signed.post(text_message("你好", 880002))).text == "success"
    assert SHOP_APP_SECRET not in refused.text


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "   "}, 422, "name"),
        ({"settings": {"color": "red"}}, 422, "settings.color"),
        ({"settings": {"visitor_token_days": 0}}, 422, "settings.visitor_token_days"),
        ({"kind": "email"}, 400, None),
        ({"name": 7}, 400, None),
    ],
)
def test_bad_changes_are_refused_naming_the_field(client, demo, body, status, field):
    inbox = inbox_of(demo, "webchat")
    refused = change(client, demo["api_token"], inbox["id"], body)
    assert refused.status_code == status, refused.text
    assert_error_shape(refused)
    if field:
        assert field in [error["field"] for error in refused.json().get("errors", [])]
    assert client.get(f"/widget/{inbox['widget_token']}/config").json()["title"] == "Chat with us"


def test_another_workspaces_inbox_cannot_be_changed(client, demo, other_token):  # noqa: F811
    inbox = inbox_of(demo, "webchat")
    refused = change(client, other_token, inbox["id"], {"name": "Hijacked", "settings": {"title": "Pwned"}})
    assert refused.status_code == 404
    assert client.get(f"/widget/{inbox['widget_token']}/config").json()["title"] == "Chat with us"
    assert change(client, demo["api_token"], "no-such-inbox", {"name": "x"}).status_code == 404
