"""What the worker writes for a batch of messages from new customers."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import event
from sqlmodel import select

from hub import inbound
from hub.app import create_app
from hub.models import Conversation, InboundEvent, Message, OutboxEvent
from hub.statuses import ConversationStatus
from tests.conftest import bearer, inbox_of, run, wait_for


def test_new_conversations_are_inserted_once_with_their_state_and_messages_follow(settings, demo):
    """A new conversation is written with its last message and reply window already set: an UPDATE right
    after its INSERT would rewrite the row and every index on it."""
    with TestClient(app=create_app(settings.model_copy(update={"embedded_worker": False}))) as client:
        widget = inbox_of(demo, "webchat")["widget_token"]
        for number in range(3):
            client.post(
                f"/widget/{widget}/messages", json={"text": f"visitor {number}", "client_id": f"c{number}"}
            )

    async def process_batch(hub):
        statements: list[str] = []
        event.listen(
            hub.database.engine.sync_engine,
            "before_cursor_execute",
            lambda _connection, _cursor, statement, *_rest: statements.append(
                " ".join(statement.split()[:3])
            ),
        )
        async with hub.database.session() as session:
            event_ids = (await session.exec(select(InboundEvent.id))).all()
        await inbound.process(hub, *event_ids)
        async with hub.database.session() as session:
            conversations = (await session.exec(select(Conversation))).all()
            messages = (await session.exec(select(Message))).all()
        return statements, conversations, messages

    statements, conversations, messages = run(process_batch, settings)
    assert len(conversations) == len(messages) == 3
    by_conversation = {message.conversation_id: message for message in messages}
    for conversation in conversations:
        message = by_conversation[conversation.id]
        assert conversation.last_message_at == message.created_at
        assert conversation.last_inbound_at is not None and conversation.last_inbound_at <= message.created_at
    writes = [statement for statement in statements if not statement.startswith("SELECT")]
    assert not any(statement.startswith("UPDATE conversation") for statement in writes), writes
    assert writes.index("INSERT INTO conversation") < writes.index("INSERT INTO message")


def _accepted_without_worker(settings, demo, texts: list[str]) -> None:
    """One visitor's messages accepted through the widget, left for `inbound.process` to store together."""
    with TestClient(app=create_app(settings.model_copy(update={"embedded_worker": False}))) as client:
        widget = inbox_of(demo, "webchat")["widget_token"]
        token = None
        for number, text in enumerate(texts):
            answer = client.post(
                f"/widget/{widget}/messages",
                json={"text": text, "client_id": f"c{number}"},
                headers=bearer(token) if token else {},
            )
            token = token or answer.json()["visitor_token"]


async def _process_all_and_read(hub):
    async with hub.database.session() as session:
        event_ids = (await session.exec(select(InboundEvent.id))).all()
    await inbound.process(hub, *event_ids)
    async with hub.database.session() as session:
        conversations = (await session.exec(select(Conversation))).all()
        messages = (await session.exec(select(Message).order_by(Message.created_at, Message.text))).all()
        created = (
            await session.exec(
                select(OutboxEvent.event_type).where(OutboxEvent.event_type == "conversation.created")
            )
        ).all()
    return conversations, messages, created


def test_a_new_customers_messages_in_one_batch_open_one_conversation(settings, demo):
    _accepted_without_worker(settings, demo, ["first", "second", "third"])
    conversations, messages, created = run(_process_all_and_read, settings)
    [conversation] = conversations
    assert sorted(message.text for message in messages) == ["first", "second", "third"]
    assert {message.conversation_id for message in messages} == {conversation.id}
    assert created == ["conversation.created"]
    assert conversation.status == ConversationStatus.QUEUED


def test_a_message_joins_the_open_conversation_and_reopens_a_resolved_one(client, demo):
    """The customer's next message continues the open conversation; once it is resolved, the next (within the
    inbox's reopen window) reopens it, with the whole history in one place."""
    widget = inbox_of(demo, "webchat")["widget_token"]
    api = bearer(demo["api_token"])

    def conversations():
        return client.get("/api/v1/conversations", headers=api).json()["items"]

    def messages(conversation_id):
        return client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=api).json()["items"]

    token = client.post(f"/widget/{widget}/messages", json={"text": "one", "client_id": "a"}).json()[
        "visitor_token"
    ]
    [first] = wait_for(conversations)
    client.post(f"/widget/{widget}/messages", json={"text": "two", "client_id": "b"}, headers=bearer(token))
    wait_for(lambda: len(messages(first["id"])) == 2)
    assert len(conversations()) == 1
    assert client.post(f"/api/v1/conversations/{first['id']}/resolve", headers=api).status_code == 200

    client.post(f"/widget/{widget}/messages", json={"text": "three", "client_id": "c"}, headers=bearer(token))
    wait_for(lambda: len(messages(first["id"])) == 3)
    assert [message["text"] for message in messages(first["id"])] == ["one", "two", "three"]
    [reopened] = conversations()
    assert reopened["id"] == first["id"] and reopened["status"] in ("queued", "assigned")
