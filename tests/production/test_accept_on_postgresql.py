"""The accept step on PostgreSQL, where the grouped INSERT goes straight through asyncpg as column arrays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from hub import inbound
from hub.demo import ensure_demo
from hub.inbound import AcceptedMessage
from hub.models import InboundEvent, Inbox
from normalizer import IdentityKind, IdentityRef, InboundMessage, dedupe_key
from tests.conftest import migrated_postgres_settings, run


def _message(channel_message_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel_message_id=channel_message_id,
        sender=IdentityRef(IdentityKind.PHONE, "+8613800138000"),
        sent_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        text=text,
    )


def test_new_and_repeated_messages_in_one_group_are_stored_once_with_every_column(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    settings = migrated_postgres_settings(migrated_postgres_url, tmp_path)
    run(ensure_demo, settings)
    raw = "<xml><Content><![CDATA[你好 ' \" \\ 😀]]></Content></xml>"

    async def accept_twice(hub):
        async with hub.database.session() as session:
            inbox = (await session.exec(select(Inbox).where(Inbox.kind == "wechat_oa"))).one()
        first = await inbound.accept(
            hub, inbox, [_message("m-1", "订单"), _message("m-2", "退货"), _message("m-1", "订单")], raw
        )
        again = await inbound.accept(hub, inbox, [_message("m-2", "退货"), _message("m-3", "谢谢")], raw)
        async with hub.database.session() as session:
            stored = (await session.exec(select(InboundEvent).order_by(InboundEvent.received_at))).all()
        return inbox, first, again, stored

    inbox, first, again, stored = run(accept_twice, settings)
    assert [accepted.duplicate for accepted in first] == [False, False, True]
    assert [accepted.duplicate for accepted in again] == [True, False]
    assert first[2] == AcceptedMessage(first[0].event_id, first[0].message_id, duplicate=True)
    assert again[0] == AcceptedMessage(first[1].event_id, first[1].message_id, duplicate=True)
    assert sorted(event.id for event in stored) == sorted(
        accepted.event_id for accepted in (first[0], first[1], again[1])
    )
    by_id = {event.id: event for event in stored}
    for accepted, channel_message_id, text in (
        (first[0], "m-1", "订单"),
        (first[1], "m-2", "退货"),
        (again[1], "m-3", "谢谢"),
    ):
        event = by_id[accepted.event_id]
        assert event.dedupe_key == dedupe_key(inbox.id, channel_message_id)
        assert (event.message_id, event.inbox_id, event.workspace_id) == (
            accepted.message_id,
            inbox.id,
            inbox.workspace_id,
        )
        assert InboundMessage.from_json(event.message).text == text
        assert (event.raw, event.status, event.attempts) == (raw, "pending", 0)
        assert event.received_at.tzinfo is not None
