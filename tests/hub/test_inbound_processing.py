"""What the worker writes for a batch of messages from new customers."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import event
from sqlmodel import select

from hub import inbound
from hub.app import create_app
from hub.models import Conversation, InboundEvent, Message
from tests.conftest import inbox_of, run


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
