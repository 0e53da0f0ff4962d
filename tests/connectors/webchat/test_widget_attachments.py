"""Files from visitors: uploaded through the widget, attached to their message by the URL the upload answered, and
seen by the agent and the visitor; anything else offered as an attachment is refused."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from hub.app import create_app
from tests.conftest import assert_error_shape, bearer, inbox_of, wait_for
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def widget(demo: dict[str, Any]) -> str:
    return inbox_of(demo, "webchat")["widget_token"]


def upload(
    client: TestClient, widget: str, content: bytes, name: str, mime_type: str, token: str | None = None
):
    return client.post(
        f"/widget/{widget}/attachments",
        files={"file": (name, content, mime_type)},
        headers=bearer(token) if token else {},
    )


def agent_view(client: TestClient, demo: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of the one conversation, as the agent's API shows them."""
    headers = bearer(demo["api_token"])
    conversations = client.get("/api/v1/conversations", headers=headers).json()["items"]
    if not conversations:
        return []
    return client.get(f"/api/v1/conversations/{conversations[0]['id']}/messages", headers=headers).json()[
        "items"
    ]


def test_a_visitor_sends_an_image_the_agent_and_the_visitor_see(client, demo, widget):
    uploaded = upload(client, widget, PNG, "../../receipt <b>.png", "image/png")
    assert uploaded.status_code == 201, uploaded.text
    file = uploaded.json()
    token = file["visitor_token"]
    assert file["kind"] == "image" and file["mime_type"] == "image/png" and file["size"] == len(PNG)
    assert file["name"] == "receiptb.png", "path parts and markup are dropped from the name"

    posted = client.post(
        f"/widget/{widget}/messages",
        json={"text": "", "client_id": "photo-1", "attachments": [{"url": file["url"]}]},
        headers=bearer(token),
    )
    assert posted.status_code == 201, posted.text

    [message] = wait_for(lambda: agent_view(client, demo))
    assert message["content_type"] == "image"
    [attachment] = message["attachments"]
    assert {key: attachment[key] for key in ("kind", "url", "mime_type", "name", "size")} == {
        "kind": "image",
        "url": file["url"],
        "mime_type": "image/png",
        "name": "receiptb.png",
        "size": len(PNG),
    }
    downloaded = client.get(file["url"].removeprefix("http://testserver.local"))
    assert downloaded.status_code == 200 and downloaded.content == PNG
    assert downloaded.headers["content-disposition"].startswith("attachment")

    [seen] = client.get(f"/widget/{widget}/messages", headers=bearer(token)).json()["items"]
    assert seen["attachments"] == [
        {
            "kind": "image",
            "url": file["url"],
            "mime_type": "image/png",
            "name": "receiptb.png",
            "size": len(PNG),
        }
    ]


def test_a_file_with_text_keeps_the_text_and_the_upload_continues_the_visitors_chat(client, demo, widget):
    first = client.post(f"/widget/{widget}/messages", json={"text": "my invoice", "client_id": "a"})
    token = first.json()["visitor_token"]
    uploaded = upload(client, widget, b"%PDF-1.4 invoice", "invoice.pdf", "application/pdf", token)
    assert uploaded.status_code == 201 and "visitor_token" not in uploaded.json()
    client.post(
        f"/widget/{widget}/messages",
        json={"text": "attached", "client_id": "b", "attachments": [{"url": uploaded.json()["url"]}]},
        headers=bearer(token),
    )
    messages = wait_for(lambda: len(found := agent_view(client, demo)) == 2 and found)
    assert [(message["text"], message["content_type"]) for message in messages] == [
        ("my invoice", "text"),
        ("attached", "text"),
    ]
    assert [attachment["kind"] for attachment in messages[1]["attachments"]] == ["file"]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/payload.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://testserver.local/attachments/not-a-stored-file/x.png",
        "javascript:alert(1)",
    ],
)
def test_an_attachment_that_was_not_uploaded_here_is_refused_and_nothing_is_stored(client, demo, widget, url):
    refused = client.post(
        f"/widget/{widget}/messages",
        json={"text": "look", "client_id": "x", "attachments": [{"url": url}]},
    )
    assert refused.status_code == 422
    assert_error_shape(refused)
    assert refused.json()["code"] == "unknown_attachment"
    assert "attachments[0].url" in refused.json()["detail"]
    assert agent_view(client, demo) == []


def test_another_workspaces_file_cannot_be_attached(client, demo, widget, other_token):  # noqa: F811
    other_workspace_file = client.post(
        "/api/v1/attachments", files={"file": ("secret.png", PNG, "image/png")}, headers=bearer(other_token)
    ).json()["url"]
    refused = client.post(
        f"/widget/{widget}/messages",
        json={"text": "", "client_id": "x", "attachments": [{"url": other_workspace_file}]},
    )
    assert refused.status_code == 422 and refused.json()["code"] == "unknown_attachment"
    assert agent_view(client, demo) == []


def test_empty_oversized_and_unauthenticated_uploads_are_refused(demo, widget, settings):
    small = settings.model_copy(update={"max_attachment_bytes": 1024})
    with TestClient(app=create_app(small), base_url="http://testserver.local") as client:
        empty = upload(client, widget, b"", "empty.txt", "text/plain")
        assert empty.status_code == 422 and empty.json()["code"] == "empty_file"
        too_large = upload(client, widget, b"x" * 1025, "big.bin", "application/octet-stream")
        assert too_large.status_code == 413 and too_large.json()["code"] == "file_too_large"
        assert_error_shape(too_large)
        not_a_file = client.post(f"/widget/{widget}/attachments", data={"file": "just text"})
        assert not_a_file.status_code == 400
        assert_error_shape(not_a_file)
        forged = upload(client, widget, PNG, "a.png", "image/png", token="forged.token")
        assert forged.status_code == 401
        assert upload(client, "unknown-widget", PNG, "a.png", "image/png").status_code == 404
