"""The egress policy through the running hub: refused at configuration time with a 422 naming the field, and at
send time with a reason the agent reads, for channel API base URLs and reply attachments alike."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network
from typing import Any

import pytest
import respx
from litestar.testing import TestClient
from pydantic import ValidationError

from hub.app import create_app
from hub.settings import Settings
from tests.conftest import bearer, inbox_of, wait_for
from tests.hub.stand_ins import Dns, body, stand_in
from tests.hub.test_wechat_channel import (  # noqa: F401  (wechat_api is a fixture)
    API,
    PNG,
    calls_to,
    conversations,
    deliveries,
    messages,
    oa_text,
    post,
    wechat_api,
)

LOOPBACK = ip_network("127.0.0.0/8")
ATTACHMENT_HOST = "files.example.test"
"""Resolves, through the test's Dns, to 127.0.0.1: a name the API cannot judge, refused when the worker connects."""


def test_allowed_private_networks_are_comma_separated_cidrs_and_none_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("OMNIHUB_ALLOWED_PRIVATE_NETWORKS", raising=False)
    assert Settings(data_dir=tmp_path).allowed_private_networks == ()
    monkeypatch.setenv("OMNIHUB_ALLOWED_PRIVATE_NETWORKS", "10.20.0.0/16, fd00:1234::/32,")
    assert Settings(data_dir=tmp_path).allowed_private_networks == (
        ip_network("10.20.0.0/16"),
        ip_network("fd00:1234::/32"),
    )
    monkeypatch.setenv("OMNIHUB_ALLOWED_PRIVATE_NETWORKS", "10.20.0.1/16")
    with pytest.raises(ValidationError, match="allowed_private_networks"):
        Settings(data_dir=tmp_path)


def wechat_inbox(api_base_url: str) -> dict[str, Any]:
    return {
        "kind": "wechat_oa",
        "name": "Regional account",
        "settings": {
            "app_id": "wx0123456789abcdef",
            "app_secret": "app-secret",
            "token": "Token123",
            "mode": "plain",
            "api_base_url": api_base_url,
        },
    }


def inbox_count(client: TestClient, demo: dict[str, Any]) -> int:
    return len(client.get("/api/v1/inboxes", headers=bearer(demo["api_token"])).json())


@pytest.fixture
def channel_hosts() -> Iterator[respx.Router]:
    """Any WeChat-like API host answers a token: creating an inbox may prove its credentials there."""
    with respx.mock(assert_all_called=False) as router:
        router.route(path__regex=r"/cgi-bin/").respond(
            json={"access_token": "ACCESS_TOKEN", "expires_in": 7200}
        )
        yield router


@pytest.mark.parametrize(
    "api_base_url",
    [
        "http://127.0.0.1:9/",
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost:8441",
        "http://10.0.0.1",
        "http://2130706433",
        "https://[fd00:ec2::254]",
        "http://metadata.google.internal",
    ],
)
def test_an_api_base_url_inside_the_network_is_refused_naming_the_field(
    client, demo, channel_hosts, api_base_url
):
    before = inbox_count(client, demo)
    answer = client.post(
        "/api/v1/inboxes", headers=bearer(demo["api_token"]), json=wechat_inbox(api_base_url)
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_settings"
    [error] = answer.json()["errors"]
    assert error["field"] == "settings.api_base_url" and error["message"].endswith(
        "which this hub may not reach"
    )
    assert inbox_count(client, demo) == before
    assert channel_hosts.calls.call_count == 0


def test_a_name_that_does_not_resolve_here_does_not_block_creating_an_inbox(client, demo, channel_hosts):
    answer = client.post(
        "/api/v1/inboxes",
        headers=bearer(demo["api_token"]),
        json=wechat_inbox("https://wechat-proxy.example.test"),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["settings"]["api_base_url"] == "https://wechat-proxy.example.test"


def test_a_name_resolving_to_a_private_address_when_the_inbox_is_created_is_refused_naming_the_field(
    settings, demo
):
    """Creating a WeChat inbox fetches a token at api_base_url, so the name is judged on what it resolves to then."""
    dns = Dns({"wechat.corp.example": [["10.0.0.5"]]})
    with TestClient(app=create_app(settings, resolver=dns), base_url="http://testserver.local") as client:
        before = inbox_count(client, demo)
        answer = client.post(
            "/api/v1/inboxes",
            headers=bearer(demo["api_token"]),
            json=wechat_inbox("https://wechat.corp.example"),
        )
        assert answer.status_code == 422, answer.text
        assert [error["field"] for error in answer.json()["errors"]] == ["settings.api_base_url"]
        assert answer.json()["errors"][0]["message"] == (
            "api_base_url points to a private network address, which this hub may not reach"
        )
        assert inbox_count(client, demo) == before
    # Asked once, at creation (the demo's email inbox's poller asks for its own IMAP host besides).
    assert dns.asked.count("wechat.corp.example") == 1


def test_an_allowed_network_opens_an_on_premises_api_base_url(settings, demo, channel_hosts):
    on_premises = settings.model_copy(update={"allowed_private_networks": (LOOPBACK,)})
    with TestClient(app=create_app(on_premises), base_url="http://testserver.local") as client:
        answer = client.post(
            "/api/v1/inboxes", headers=bearer(demo["api_token"]), json=wechat_inbox("http://127.0.0.1:9")
        )
    assert answer.status_code == 201, answer.text


def webchat_conversation(client: TestClient, demo: dict[str, Any]) -> dict[str, Any]:
    widget = inbox_of(demo, "webchat")["widget_token"]
    client.post(f"/widget/{widget}/messages", json={"text": "can you send the invoice?", "client_id": "c1"})
    return wait_for(
        lambda: client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"]
    )[0]


@pytest.mark.parametrize(
    ("attachments", "field"),
    [
        ([{"kind": "image", "url": "http://127.0.0.1:8441/internal/admin"}], "attachments[0].url"),
        (
            [
                {"kind": "link", "url": "https://shop.example.com/order/1"},
                {"kind": "file", "url": "http://169.254.169.254/latest/meta-data/"},
            ],
            "attachments[1].url",
        ),
    ],
)
def test_a_reply_attachment_on_a_refused_address_is_422_naming_it(client, demo, attachments, field):
    conversation = webchat_conversation(client, demo)
    path = f"/api/v1/conversations/{conversation['id']}"
    reply = client.post(
        f"{path}/messages", headers=bearer(demo["api_token"]), json={"attachments": attachments}
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "destination_refused"
    assert reply.json()["errors"][0]["field"] == field and field in reply.json()["detail"]
    assert [
        m["direction"]
        for m in client.get(f"{path}/messages", headers=bearer(demo["api_token"])).json()["items"]
    ] == ["in"]
    note = client.post(f"{path}/notes", headers=bearer(demo["api_token"]), json={"attachments": attachments})
    assert note.status_code == 201, "a note is never fetched, so an intranet link in it is fine"


def test_the_hubs_own_attachment_urls_pass_though_the_hub_is_on_loopback(settings, demo):
    on_loopback = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    with TestClient(app=create_app(on_loopback), base_url="http://testserver.local") as client:
        stored = client.post(
            "/api/v1/attachments",
            headers=bearer(demo["api_token"]),
            files={"file": ("receipt.png", PNG, "image/png")},
        ).json()
        assert stored["url"].startswith("http://127.0.0.1:8000/attachments/")
        conversation = webchat_conversation(client, demo)
        reply = client.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            headers=bearer(demo["api_token"]),
            json={"attachments": [{"kind": "image", "url": stored["url"]}]},
        )
    assert reply.status_code == 201, reply.text


def send_image_to_a_wechat_customer(
    client: TestClient, demo: dict[str, Any], image_url: str
) -> dict[str, Any]:
    """A customer writes on the official account; an agent replies with an image the worker must fetch and upload."""
    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("发张图", 881001)))
    [conversation] = wait_for(lambda: conversations(client, demo))
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"attachments": [{"kind": "image", "url": image_url}]},
    )
    assert reply.status_code == 201, reply.text
    return wait_for(
        lambda: (
            (
                m := next(
                    m for m in messages(client, demo, conversation["id"]) if m["id"] == reply.json()["id"]
                )
            )["status"]
            in ("sent", "failed")
            and m
        )
    )


def test_a_name_resolving_to_a_private_address_at_send_time_fails_the_message_for_good(
    settings,
    demo,
    wechat_api,  # noqa: F811  (the fixture imported above)
):
    upload = wechat_api.post(f"{API}/cgi-bin/media/upload").respond(
        json={"type": "image", "media_id": "MEDIA_1"}
    )
    wechat_api.route(host=ATTACHMENT_HOST).pass_through()
    dns = Dns({ATTACHMENT_HOST: [["127.0.0.1"]]})
    with (
        stand_in({"/receipt.png": body(PNG, "image/png")}) as internal,
        TestClient(app=create_app(settings, resolver=dns), base_url="http://testserver.local") as client,
    ):
        outcome = send_image_to_a_wechat_customer(
            client, demo, internal.url("/receipt.png", host=ATTACHMENT_HOST)
        )
    assert outcome["status"] == "failed"
    assert outcome["error"] == (
        "The image attachment cannot go to WeChat: The attachment URL points to a loopback "
        "address, which this hub may not reach"
    ), "failed at once, without retries"
    assert internal.asked == [] and upload.call_count == 0
    assert calls_to(wechat_api, "/cgi-bin/message/custom/send") == []


def test_an_allowed_network_lets_the_worker_fetch_the_attachment(settings, demo, wechat_api):  # noqa: F811
    upload = wechat_api.post(f"{API}/cgi-bin/media/upload").respond(
        json={"type": "image", "media_id": "MEDIA_1"}
    )
    wechat_api.route(host=ATTACHMENT_HOST).pass_through()
    on_premises = settings.model_copy(update={"allowed_private_networks": (LOOPBACK,)})
    dns = Dns({ATTACHMENT_HOST: [["127.0.0.1"]]})
    with (
        stand_in({"/receipt.png": body(PNG, "image/png")}) as files,
        TestClient(app=create_app(on_premises, resolver=dns), base_url="http://testserver.local") as client,
    ):
        outcome = send_image_to_a_wechat_customer(
            client, demo, files.url("/receipt.png", host=ATTACHMENT_HOST)
        )
    assert outcome["status"] == "sent", outcome["error"]
    assert files.asked == ["/receipt.png"] and PNG in upload.calls.last.request.content
