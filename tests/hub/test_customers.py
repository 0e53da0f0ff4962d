"""One customer across channels: identities are found only in their own namespace (workspace, kind, scope),
a verified link merges two contacts, and a customer's messages thread into their open conversation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import BaseModel
from sqlalchemy import event

from connectors import Capabilities, SendResult, WebhookConnector
from connectors.wechat.common.identities import WECHAT_OPENID, WECHAT_UNIONID
from hub.app import create_app
from hub.customers import CustomerDirectory
from hub.settings import Settings
from normalizer import IdentityKind, IdentityRef, InboundMessage
from tests.conftest import bearer, run, wait_for


def test_one_batch_finds_identities_of_several_namespaces_and_never_mixes_them(settings, demo) -> None:
    """The same openid under two app ids is two people; a unionid is a third namespace; all load in one query."""
    workspace = demo["workspace_id"]
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    senders = [
        IdentityRef(WECHAT_OPENID, openid, "wx-official-account"),
        IdentityRef(WECHAT_OPENID, openid, "wx-mini-program"),
        IdentityRef(WECHAT_UNIONID, "union-1"),
    ]

    async def resolve_twice(hub):
        async with hub.database.session() as session:
            directory = CustomerDirectory(session)
            first = [await directory.resolve(workspace, sender, region="US") for sender in senders]
            await directory.flush()
            await session.commit()
        identity_queries: list[str] = []
        event.listen(
            hub.database.engine.sync_engine,
            "before_cursor_execute",
            lambda _connection, _cursor, statement, *_rest: (
                identity_queries.append(statement) if "FROM identity" in statement else None
            ),
        )
        async with hub.database.session() as session:
            directory = CustomerDirectory(session)
            await directory.load([(workspace, sender) for sender in senders])
            again = [await directory.resolve(workspace, sender, region="US") for sender in senders]
            rows = [directory.identity_row(workspace, sender) for sender in senders]
        return first, again, rows, identity_queries

    first, again, rows, identity_queries = run(resolve_twice, settings)
    assert len(identity_queries) == 1
    assert len({contact_id for contact_id, _ in first}) == 3
    assert again == first
    assert [row.id for row in rows] == [identity_id for _, identity_id in first]
    assert [(row.kind, row.scope) for row in rows] == [
        ("wechat_openid", "wx-official-account"),
        ("wechat_openid", "wx-mini-program"),
        ("wechat_unionid", ""),
    ]


class LinkingSettings(BaseModel):
    pass


class LinkingConnector(WebhookConnector):
    """A channel that names the sender's phone and, as a channel may, other identities of the same person."""

    kind = "linking"
    display_name = "Linking"
    capabilities = Capabilities()
    settings_model = LinkingSettings

    def verify(self, raw):
        return None

    def parse(self, raw):
        body = json.loads(raw.body)
        return [
            InboundMessage(
                channel_message_id=body["id"],
                sender=IdentityRef(IdentityKind.PHONE, body["phone"], verified=True),
                linked_identities=tuple(
                    IdentityRef(IdentityKind.EMAIL, email, verified=verified)
                    for email, verified in body.get("emails", [])
                ),
                sent_at=raw.received_at,
                text=body["text"],
            )
        ]

    async def send(self, outbound, context):
        return SendResult(channel_message_ids=("sent",))


class Channel:
    """Deliveries to a `linking` inbox and the conversations they become, through the HTTP API."""

    def __init__(self, client: TestClient, api_token: str) -> None:
        self.client, self.api = client, bearer(api_token)
        client.app.state.hub.registry.register(LinkingConnector)
        created = client.post(
            "/api/v1/inboxes", headers=self.api, json={"kind": "linking", "name": "Linking", "settings": {}}
        )
        assert created.status_code == 201, created.text
        self.inbox_id = created.json()["id"]
        self.delivered = 0

    def deliver(self, phone: str, text: str, emails: tuple[tuple[str, bool], ...] = ()) -> None:
        """Post one message and wait until it is stored."""
        self.delivered += 1
        body = {"id": f"m{self.delivered}", "phone": phone, "text": text, "emails": emails}
        answer = self.client.post(f"/webhooks/linking/{self.inbox_id}", content=json.dumps(body))
        assert answer.status_code == 200, answer.text
        wait_for(lambda: sum(len(self.messages(c["id"])) for c in self.conversations()) == self.delivered)

    def conversations(self) -> list[dict[str, Any]]:
        answer = self.client.get(
            "/api/v1/conversations", headers=self.api, params={"inbox_id": self.inbox_id}
        )
        return answer.json()["items"]

    def messages(self, conversation_id: str) -> list[str]:
        answer = self.client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=self.api)
        return [message["text"] for message in answer.json()["items"]]

    def contacts_by_first_message(self) -> dict[str, str]:
        return {self.messages(c["id"])[0]: c["contact_id"] for c in self.conversations()}


@pytest.fixture
def channel(settings: Settings, demo: dict[str, Any]) -> Iterator[Channel]:
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        yield Channel(client, demo["api_token"])


def test_a_verified_link_merges_two_contacts_with_their_conversations(channel: Channel) -> None:
    """Two phones are two contacts until the channel vouches that both belong to one email: then one contact
    holds both conversations, and the email's identity is theirs too."""
    channel.deliver("+14155550101", "from the first phone", emails=(("ann@example.com", True),))
    channel.deliver("+14155550102", "from the second phone")
    before = channel.contacts_by_first_message()
    assert before["from the first phone"] != before["from the second phone"]

    channel.deliver(
        "+14155550102", "the second phone is ann@example.com", emails=(("ann@example.com", True),)
    )
    after = channel.contacts_by_first_message()
    assert after["from the first phone"] == after["from the second phone"]
    assert set(after.values()) <= set(before.values()), "one of the two contacts survives"


def test_an_unverified_link_merges_nothing(channel: Channel) -> None:
    """An email typed into a form proves nothing: it must not join the sender to another customer."""
    channel.deliver("+14155550101", "from the first phone", emails=(("ann@example.com", True),))
    channel.deliver("+14155550102", "claims to be ann", emails=(("ann@example.com", False),))
    contacts = channel.contacts_by_first_message()
    assert contacts["from the first phone"] != contacts["claims to be ann"]


def test_a_customers_messages_share_one_open_conversation(channel: Channel) -> None:
    """Until it is resolved; past the inbox's reopen window (here none) the next message opens a new conversation
    for the same contact, linked to the resolved one."""
    window = channel.client.patch(
        f"/api/v1/inboxes/{channel.inbox_id}", json={"reopen_window_hours": 0}, headers=channel.api
    )
    assert window.status_code == 200, window.text
    channel.deliver("+14155550101", "first")
    channel.deliver("+14155550101", "second")
    channel.deliver("+14155550102", "someone else")
    [first] = [c for c in channel.conversations() if channel.messages(c["id"])[0] == "first"]
    assert channel.messages(first["id"]) == ["first", "second"]
    resolved = channel.client.post(f"/api/v1/conversations/{first['id']}/resolve", headers=channel.api)
    assert resolved.status_code == 200, resolved.text
    channel.deliver("+14155550101", "after the resolution")
    [reopened] = [
        c for c in channel.conversations() if channel.messages(c["id"])[0] == "after the resolution"
    ]
    assert reopened["id"] != first["id"] and reopened["previous_conversation_id"] == first["id"]
    assert reopened["contact_id"] == first["contact_id"]
    assert channel.messages(reopened["id"]) == ["after the resolution"]
