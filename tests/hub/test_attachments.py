"""Attachments: agents upload files for replies; every process serves them from the database."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from hub.app import create_app
from tests.conftest import bearer, inbox_of, wait_for

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def upload(client, demo, content: bytes, filename: str = "receipt.png", mime_type: str = "image/png"):
    return client.post(
        "/api/v1/attachments",
        headers=bearer(demo["api_token"]),
        files={"file": (filename, content, mime_type)},
    )


def test_an_uploaded_file_is_served_at_its_url(client, demo):
    answer = upload(client, demo, PNG, filename="../../etc/收据 1.png")
    assert answer.status_code == 201, answer.text
    stored = answer.json()
    assert stored["name"] == "1.png" and stored["mime_type"] == "image/png" and stored["size"] == len(PNG)
    assert stored["url"].startswith("http://testserver.local/attachments/")
    served = client.get(stored["url"].removeprefix("http://testserver.local"))
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("attachment")


def test_uploads_need_an_api_token_and_a_non_empty_file(client, demo):
    anonymous = client.post("/api/v1/attachments", files={"file": ("a.png", PNG, "image/png")})
    assert anonymous.status_code == 401
    empty = upload(client, demo, b"")
    assert empty.status_code == 422 and empty.json()["code"] == "empty_file"


def test_files_over_the_limit_are_refused(settings, demo):
    small = settings.model_copy(update={"max_attachment_bytes": 2048})
    with TestClient(app=create_app(small), base_url="http://testserver.local") as client:
        answer = upload(client, demo, b"x" * 2049)
        assert answer.status_code == 413
        assert upload(client, demo, b"x" * 2048).status_code == 201


@pytest.mark.parametrize("path_tail", ["nope/receipt.png", "{id}/other-name.png"])
def test_unknown_files_are_not_found(client, demo, path_tail):
    file_id = upload(client, demo, PNG).json()["url"].split("/")[-2]
    assert client.get(f"/attachments/{path_tail.format(id=file_id)}").status_code == 404


def _webchat_conversation(client, demo):
    widget = inbox_of(demo, "webchat")["widget_token"]
    visitor = client.post(
        f"/widget/{widget}/messages", json={"text": "can I see it?", "client_id": "c"}
    ).json()
    conversations = wait_for(
        lambda: client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"]
    )
    return conversations[0], visitor["visitor_token"]


def test_a_reply_with_an_image_reaches_the_web_visitor(client, demo):
    conversation, visitor_token = _webchat_conversation(client, demo)
    image = upload(client, demo, PNG).json()
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"attachments": [{"kind": "image", "url": image["url"], "name": image["name"]}]},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["content_type"] == "image"
    widget = inbox_of(demo, "webchat")["widget_token"]
    history = wait_for(
        lambda: [
            m
            for m in client.get(f"/widget/{widget}/messages", headers=bearer(visitor_token)).json()["items"]
            if m["sender"] == "agent"
        ]
    )
    assert history[0]["attachments"][0]["url"] == image["url"]


@pytest.mark.parametrize(
    ("attachment", "code"),
    [
        ({"kind": "voice", "url": "https://files.example.com/a.amr"}, "attachment_not_supported"),
        ({"kind": "hologram", "url": "https://files.example.com/a.bin"}, "invalid_attachment"),
        ({"kind": "image", "url": "javascript:alert(1)"}, "invalid_attachment"),
    ],
)
def test_attachments_a_channel_cannot_carry_are_refused(client, demo, attachment, code):
    conversation, _ = _webchat_conversation(client, demo)
    answer = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "see attached", "attachments": [attachment]},
    )
    assert answer.status_code == 422 and answer.json()["code"] == code
    assert answer.json()["errors"][0]["field"].startswith("attachments[0]")
