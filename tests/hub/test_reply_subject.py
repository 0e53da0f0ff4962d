"""The conversation view tells the agent the subject an email reply will carry (`reply_subject`): the customer's
first message's on a channel that threads by reply, null on other channels; and what a reply looks like on the
channel (`reply_format`), as the connector says: the subject line as sent, whether replies cost SMS segments."""

from __future__ import annotations

import json

from pydantic import BaseModel

from connectors import Capabilities, SendResult
from normalizer import IdentityKind, IdentityRef, InboundMessage
from tests.conftest import bearer, wait_for
from tests.hub.signed_json_channel import SignedJsonChannel


class MailLikeSettings(BaseModel):
    """The test channel needs no settings."""


class MailLikeChannel(SignedJsonChannel):
    """Threads by reply, as email does; deliveries `{"id", "text", "subject", "replies_to"}`."""

    kind = "mail_like"
    display_name = "Mail-like"
    capabilities = Capabilities(threads_by_reply=True)
    settings_model = MailLikeSettings

    def parse(self, raw):
        body = json.loads(raw.body)
        return [
            InboundMessage(
                channel_message_id=body["id"],
                sender=IdentityRef(IdentityKind.EMAIL, "zoe@example.com"),
                sent_at=raw.received_at,
                text=body["text"],
                subject=body.get("subject"),
                replies_to=tuple(body.get("replies_to", [])),
            )
        ]

    def reply_subject(self, thread_subject):
        return f"[mail-like] {thread_subject}"

    async def send(self, outbound, context):
        return SendResult(channel_message_ids=(f"sent-{outbound.message_id}",))


def test_an_email_like_conversation_shows_the_subject_replies_keep(client, demo) -> None:
    client.app.state.hub.registry.register(MailLikeChannel)
    api = bearer(demo["api_token"])
    inbox = client.post(
        "/api/v1/inboxes", headers=api, json={"kind": "mail_like", "name": "Mail", "settings": {}}
    )
    assert inbox.status_code == 201, inbox.text
    deliveries = [
        {"id": "m-1", "text": "Where is my order?", "subject": "Order 1042 <late>"},
        {"id": "m-2", "text": "Any news?", "subject": "Re: Order 1042 <late>", "replies_to": ["m-1"]},
    ]
    for delivery in deliveries:
        answer = client.post(
            f"/webhooks/mail_like/{inbox.json()['id']}",
            headers={"x-signature": "good"},
            content=json.dumps(delivery),
        )
        assert answer.status_code < 300, answer.text
    query = {"inbox_id": inbox.json()["id"]}
    [conversation] = wait_for(
        lambda: client.get("/api/v1/conversations", headers=api, params=query).json()["items"]
    )
    wait_for(
        lambda: (
            len(
                client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=api).json()[
                    "items"
                ]
            )
            == 2
        )
    )
    detail = client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()
    assert detail["reply_subject"] == "Order 1042 <late>"
    assert detail["reply_format"] == {
        "subject": "[mail-like] Order 1042 <late>",
        "billed_per_sms_segment": False,
    }


def test_a_channel_that_does_not_thread_by_reply_has_no_reply_subject(client, demo) -> None:
    answer = client.post(
        f"/widget/{next(i for i in demo['inboxes'] if i['kind'] == 'webchat')['widget_token']}/messages",
        json={"text": "hello", "client_id": "c-1"},
    )
    assert answer.status_code == 201, answer.text
    api = bearer(demo["api_token"])
    [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
    detail = client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()
    assert detail["reply_subject"] is None
    assert detail["reply_format"] == {"subject": None, "billed_per_sms_segment": False}
