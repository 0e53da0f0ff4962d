"""`WebChatConnector.send` and `send_typing` reach the visitor through the hub's push, and nowhere else."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest

from connectors import OutboundMessage, PermanentSendError
from connectors.testing import TEST_INBOX, PushRecorder, make_context
from connectors.webchat import WEBCHAT_VISITOR, WebChatConnector, WebChatSettings
from normalizer import Attachment, IdentityRef

VISITOR = IdentityRef(WEBCHAT_VISITOR, "v-1", scope=TEST_INBOX.id, verified=True)
STORED_AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def _connector() -> WebChatConnector:
    return WebChatConnector(WebChatSettings(), TEST_INBOX)


def _reply(**fields: object) -> OutboundMessage:
    defaults: dict[str, object] = {
        "message_id": "m-1",
        "conversation_id": "c-1",
        "recipient": VISITOR,
        "text": "It ships today.",
        "sender": "agent",
        "created_at": STORED_AT,
        "metadata": {"client_id": "agent-key"},
    }
    return OutboundMessage(**{**defaults, **fields})  # type: ignore[arg-type]


async def test_a_reply_is_pushed_to_the_visitor_as_a_visitor_message():
    push = PushRecorder()
    async with httpx.AsyncClient() as http:
        attachment = Attachment(
            "image", url="https://hub.example.test/a.png", media_id="wx-media", meta={"x": 1}
        )
        result = await _connector().send(_reply(attachments=(attachment,)), make_context(http, push=push))
    assert result.status == "delivered" and result.channel_message_ids == ("m-1",)
    assert push.pushed == [
        (
            VISITOR,
            {
                "type": "message.created",
                "message": {
                    "id": "m-1",
                    "text": "It ships today.",
                    "sender": "agent",
                    "content_type": "text",
                    "attachments": [
                        {
                            "kind": "image",
                            "url": "https://hub.example.test/a.png",
                            "mime_type": None,
                            "name": None,
                            "size": None,
                        }
                    ],
                    "client_id": None,
                    "status": "delivered",
                    "created_at": "2026-11-26T09:30:00Z",
                },
            },
        )
    ]


async def test_typing_is_pushed_to_the_visitor():
    push = PushRecorder()
    async with httpx.AsyncClient() as http:
        await _connector().send_typing(VISITOR, True, make_context(http, push=push))
    assert push.pushed == [(VISITOR, {"type": "typing", "typing": True})]


@pytest.mark.parametrize(
    "recipient",
    [
        dataclasses.replace(VISITOR, scope="another-inbox"),
        IdentityRef("email", "li.wei@example.com", verified=True),
    ],
    ids=["visitor_of_another_inbox", "not_a_visitor"],
)
async def test_a_reply_to_anyone_but_this_inbox_visitor_fails_for_good(recipient):
    push = PushRecorder()
    async with httpx.AsyncClient() as http:
        with pytest.raises(PermanentSendError):
            await _connector().send(_reply(recipient=recipient), make_context(http, push=push))
    assert push.pushed == []


async def test_without_the_hub_push_a_reply_fails_for_good():
    async with httpx.AsyncClient() as http:
        context = dataclasses.replace(make_context(http), push=None)
        with pytest.raises(PermanentSendError, match="no way to reach visitors"):
            await _connector().send(_reply(), context)
