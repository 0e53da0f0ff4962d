"""Accept a delivery durably: its messages committed with their dedupe keys before the channel is answered.

This is all the request path does; processing is left to a job, enqueued after the answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub import actors, metrics
from hub.batching import batcher
from hub.db import database_refused_data
from hub.errors import ApiError
from hub.ids import new_id
from hub.inbound import storage
from hub.models import Inbox
from hub.runtime import Hub
from hub.statuses import InboundEventStatus
from normalizer import InboundMessage, dedupe_key

__all__ = ["AcceptedMessage", "UnstorableMessage", "accept"]

log = logging.getLogger("omnihub.inbound")
ENQUEUE_LINGER_SECONDS = 0.05
"""Accepted events wait this long (after the answer) to share a processing job: a worker stores a
job's events in one transaction, so fuller jobs cost it less per event. At 500 new customers a second,
10 ms (jobs of about five) lets one worker store ~300/s; 50 ms lets it keep up, for 40 ms more lag."""


class UnstorableMessage(ApiError):
    """The database refused a message's own values; the messages accepted together with it are stored."""

    def __init__(self) -> None:
        super().__init__(
            422,
            "unstorable_message",
            "The message holds a value that cannot be stored (such as a NUL "
            "character or an over-long id); nothing of it was stored.",
        )


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    event_id: str
    message_id: str
    duplicate: bool


async def accept(
    hub: Hub, inbox: Inbox, messages: list[InboundMessage], raw: str, *, received_at: datetime | None = None
) -> list[AcceptedMessage]:
    """Commit each message with its dedupe key, then enqueue it. Duplicates are acknowledged, not stored.

    `received_at` is when the delivery arrived, when that was earlier than now (a spooled one, hub.spool).
    """
    if not messages:
        return []
    received_at = received_at or hub.now()
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "workspace_id": inbox.workspace_id,
            "inbox_id": inbox.id,
            "dedupe_key": dedupe_key(inbox.id, message.channel_message_id),
            "message_id": new_id(),
            "message": message.to_json().decode(),
            "raw": raw,
            "status": InboundEventStatus.PENDING.value,
            "attempts": 0,
            "received_at": received_at,
        }
        for message in messages
    ]
    with metrics.ACCEPT_SECONDS.labels(inbox.kind).time():
        try:
            inserted = await batcher(hub, "accept", _insert_events).submit(rows)
        except Exception as error:
            if not database_refused_data(error):
                raise
            log.warning(
                "inbound.refused workspace=%s inbox=%s reason=%s",
                inbox.workspace_id,
                inbox.id,
                storage.database_reason(error),
            )
            raise UnstorableMessage() from None
    duplicates = [row["dedupe_key"] for row, fresh in zip(rows, inserted, strict=True) if not fresh]
    earlier = await storage.earlier_events(hub, inbox.id, duplicates) if duplicates else {}
    accepted = [
        AcceptedMessage(row["id"], row["message_id"], duplicate=False)
        if fresh
        else AcceptedMessage(*earlier[row["dedupe_key"]], duplicate=True)
        for row, fresh in zip(rows, inserted, strict=True)
    ]
    metrics.INBOUND_EVENTS.labels(inbox.kind).inc(len(rows) - len(duplicates))
    metrics.DUPLICATE_EVENTS.labels(inbox.kind).inc(len(duplicates))
    return accepted


async def _insert_events(hub: Hub, rows: list[dict[str, Any]]) -> list[bool]:
    """One INSERT for the rows of every waiting caller, then one job for all that were new."""
    inserted = await storage.insert_events(hub, rows)
    if inserted:
        enqueueing = batcher(hub, "enqueue", _enqueue_processing, linger_seconds=ENQUEUE_LINGER_SECONDS)
        hub.jobs.in_background(enqueueing.submit([row["id"] for row in rows if row["id"] in inserted]))
    return [row["id"] in inserted for row in rows]


async def _enqueue_processing(hub: Hub, event_ids: list[str]) -> list[None]:
    """Events accepted within the linger, or while a job was being enqueued, share one job: fewer, fuller jobs."""
    await hub.jobs.send_or_leave_to_sweeper(actors.process_inbound, *event_ids)
    return [None] * len(event_ids)
