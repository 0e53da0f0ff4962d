"""No secret in any log line: the hub runs as real processes at DEBUG with secrets the test knows, is used the
way agents, visitors and WeChat use it (tokens in query strings included), and its whole output is searched.
Message texts are searched for too: bodies are customers' data and never logged either."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from connectors.wechat import WeChatSettings
from connectors.wechat.common.testing import SignedDeliveries
from tests.conftest import bearer, wait_for
from tests.e2e.served_hub import FakeWeChatApi, served_hub, stop_with_sigterm

pytestmark = pytest.mark.e2e

FRAGMENT = 12
"""A secret's first characters are searched for too: a log line that truncates a secret still leaks it."""


def alphanumeric(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


@dataclass
class KnownSecrets:
    """Every credential and message text the run uses, by name; values the hub generates are added as they appear."""

    values: dict[str, str] = field(
        default_factory=lambda: {
            "secret key": "secret-key-" + secrets.token_urlsafe(32),
            "fallback key": "fallback-key-" + secrets.token_urlsafe(32),
            "wrong password guess": "guess-" + secrets.token_urlsafe(12),
            "new password": "new-password-" + secrets.token_urlsafe(12),
            "forged API token": "omh_forged" + secrets.token_urlsafe(24),
            "WeChat app secret": alphanumeric(32),
            "WeChat callback token": alphanumeric(32),
            "WeChat EncodingAESKey": alphanumeric(43),
            "WeChat access token": "ACCESS_" + alphanumeric(40),
            "widget message text": alphanumeric(16) + " where is my parcel",
            "widget socket message text": alphanumeric(16) + " any news?",
            "WeChat message text": alphanumeric(16) + " order 1024",
            "agent reply text": alphanumeric(16) + " shipped today",
        }
    )

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def leaks_in(self, log: str) -> list[str]:
        return [name for name, value in self.values.items() if value in log or value[:FRAGMENT] in log]


def settings_for(known: KnownSecrets) -> dict[str, str]:
    return {
        "OMNIHUB_SECRET_KEY": known["secret key"],
        "OMNIHUB_SECRET_KEY_FALLBACKS": known["fallback key"],
        "OMNIHUB_LOG_LEVEL": "DEBUG",
        "OMNIHUB_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
    }


def ws(url: str, path: str) -> str:
    return f"ws://{urlsplit(url).netloc}{path}"


def use_the_hub(
    web_urls: list[str], demo: dict[str, Any], wechat: FakeWeChatApi, known: KnownSecrets
) -> None:
    """Sign-ins, sockets with tokens in the query, the widget, a WeChat inbox in and out, a password change."""
    first, last = web_urls[0], web_urls[-1]
    known.values.update({"admin password": demo["admin_password"], "API token": demo["api_token"]})
    api = httpx.Client(base_url=first, headers=bearer(demo["api_token"]), timeout=30)

    login = {"email": demo["admin_email"], "password": demo["admin_password"]}
    guess = {**login, "password": known["wrong password guess"]}
    assert httpx.post(f"{first}/api/v1/auth/login", json=guess).status_code == 401
    assert (
        httpx.post(
            f"{first}/api/v1/auth/login", content=json.dumps(login), headers={"Content-Type": "text/plain"}
        ).status_code
        == 415
    )
    session = httpx.post(f"{first}/api/v1/auth/login", json=login).json()["access_token"]
    other_session = httpx.post(f"{last}/api/v1/auth/login", json=login).json()["access_token"]
    known.values.update({"session token": session, "other session token": other_session})

    with (
        connect(ws(last, f"/api/v1/agent/ws?token={session}")) as agent,
        connect(ws(last, f"/api/v1/agent/ws?token={known['forged API token']}")) as forged,
        connect(ws(first, "/api/v1/agent/ws")) as by_frame,
    ):
        assert json.loads(agent.recv(timeout=10))["type"] == "ready"
        assert json.loads(forged.recv(timeout=10))["code"] == "invalid_token"
        by_frame.send(json.dumps({"token": other_session}))
        assert json.loads(by_frame.recv(timeout=10))["type"] == "ready"

        widget = next(inbox["widget_token"] for inbox in demo["inboxes"] if inbox["kind"] == "webchat")
        visitor_token = httpx.post(
            f"{first}/widget/{widget}/messages",
            json={"text": known["widget message text"], "client_id": "h1"},
        ).json()["visitor_token"]
        known.values["visitor token"] = visitor_token
        with connect(ws(last, f"/widget/{widget}/ws?visitor_token={visitor_token}")) as visitor:
            assert json.loads(visitor.recv(timeout=10))["type"] == "ready"
            visitor.send(
                json.dumps(
                    {"type": "message", "text": known["widget socket message text"], "client_id": "h2"}
                )
            )
            wait_for(lambda: json.loads(visitor.recv(timeout=10))["type"] == "ack")
        assert (
            httpx.get(f"{first}/widget/{widget}/messages", headers=bearer(visitor_token)).status_code == 200
        )

        wechat_inbox = api.post(
            "/api/v1/inboxes",
            json={
                "kind": "wechat_oa",
                "name": "Known secrets",
                "settings": {
                    "app_id": "wx" + secrets.token_hex(8),
                    "app_secret": known["WeChat app secret"],
                    "token": known["WeChat callback token"],
                    "mode": "safe",
                    "encoding_aes_key": known["WeChat EncodingAESKey"],
                    "api_base_url": wechat.url,
                },
            },
        )
        assert wechat_inbox.status_code == 201, wechat_inbox.text
        send_wechat_message(api, wechat_inbox.json(), known)
        conversation = wait_for(
            lambda: api.get("/api/v1/conversations", params={"inbox_id": wechat_inbox.json()["id"]}).json()[
                "items"
            ],
            timeout=30,
        )[0]
        reply = api.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"text": known["agent reply text"], "client_id": "r"},
        )
        assert reply.status_code == 201, reply.text
        wait_for(lambda: "/cgi-bin/message/custom/send" in wechat.requests, timeout=30)

        changed = httpx.post(
            f"{first}/api/v1/auth/password",
            headers=bearer(session),
            json={"current_password": demo["admin_password"], "new_password": known["new password"]},
        )
        assert changed.json() == {"revoked_sessions": 1}
        assert ending_frame(by_frame)["code"] == "revoked_token"
        assert httpx.post(f"{first}/api/v1/auth/logout", headers=bearer(session)).status_code == 204
        assert ending_frame(agent)["code"] == "revoked_token"
    api.close()


def ending_frame(agent_socket: ClientConnection) -> dict[str, Any]:
    """The error frame that ends a session, past the workspace's events."""
    while (frame := json.loads(agent_socket.recv(timeout=10)))["type"] != "error":
        pass
    return frame


def send_wechat_message(api: httpx.Client, inbox: dict[str, Any], known: KnownSecrets) -> None:
    """A handshake and a message, signed (each with a nonce of its own) and encrypted as WeChat does in safe mode."""
    settings = WeChatSettings.model_validate(
        {
            "app_id": inbox["app_id"],
            "app_secret": known["WeChat app secret"],
            "token": known["WeChat callback token"],
            "mode": "safe",
            "encoding_aes_key": known["WeChat EncodingAESKey"],
        }
    )
    now = datetime.now(UTC)

    def signed_now() -> SignedDeliveries:
        return SignedDeliveries(settings, "xml", signed_at=now, received_at=now, nonce=secrets.token_hex(5))

    path = urlsplit(inbox["callback_url"]).path
    handshake = signed_now().handshake("5837397520665436492")
    assert api.get(path, params=dict(handshake.query)).text == "5837397520665436492"
    message = (
        f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[o-known-visitor]]>"
        f"</FromUserName><CreateTime>{int(now.timestamp())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{known['WeChat message text']}]]></Content><MsgId>77001</MsgId></xml>"
    ).encode()
    delivered = signed_now().post(message)
    answer = api.post(path, params=dict(delivered.query), content=delivered.body)
    assert answer.status_code == 200 and answer.text == "success", answer.text


def assert_no_leak(known: KnownSecrets, logs: dict[str, str]) -> None:
    assert all(logs.values()), "every process logged"
    leaks = {name: known.leaks_in(log) for name, log in logs.items()}
    assert not any(leaks.values()), f"secrets in logs: {leaks}"


def test_embedded_serve_logs_no_secret_at_debug(tmp_path: Path) -> None:
    known = KnownSecrets()
    with (
        FakeWeChatApi(access_token=known["WeChat access token"]) as wechat,
        served_hub(tmp_path, **settings_for(known)) as hub,
    ):
        use_the_hub([hub.url], hub.demo, wechat, known)
        stop_with_sigterm(hub.process)
        log = hub.log_text()
    assert_no_leak(known, {"serve": log})
    assert "/cgi-bin/stable_token" in wechat.requests, "the access token was fetched with the app secret"
    assert "?token=[redacted]" in log and "?visitor_token=[redacted]" in log, (
        "uvicorn's handshake lines are logged, redacted"
    )


def test_production_processes_log_no_secret_at_debug(production_services: None, tmp_path: Path) -> None:
    from tests.production.test_multi_process import cluster

    known = KnownSecrets()
    with (
        FakeWeChatApi(access_token=known["WeChat access token"]) as wechat,
        cluster(2, 1, **settings_for(known)) as running,
    ):
        use_the_hub([web.url for web in running.web], running.demo, wechat, known)
        running.stop_all()
        logs = {
            process.log_path.name: process.log_path.read_text(errors="replace")
            for process in [*running.web, *running.workers]
        }
    assert_no_leak(known, logs)
