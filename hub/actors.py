"""The Dramatiq actors: thin wrappers that run the hub's jobs on the worker's Hub."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import dramatiq

from hub import assignment, inbound, outbound
from hub.jobs import QUEUE_NAME
from hub.runtime import Hub

__all__ = ["declare"]


def declare(broker: dramatiq.Broker, hub_factory: Callable[[], Awaitable[Hub]]) -> None:
    async def process_inbound(*event_ids: str) -> None:
        await inbound.process(await hub_factory(), *event_ids)

    async def deliver_outbound(message_id: str) -> None:
        await outbound.deliver(await hub_factory(), message_id)

    async def route_conversation(*conversation_ids: str) -> None:
        await assignment.route_conversations(await hub_factory(), list(conversation_ids))

    async def send_typing(conversation_id: str, state: str) -> None:
        await outbound.send_typing(await hub_factory(), conversation_id, state)

    jobs = {
        outbound.SEND_TYPING: send_typing,
        inbound.PROCESS_INBOUND: process_inbound,
        outbound.DELIVER_OUTBOUND: deliver_outbound,
        inbound.ROUTE_CONVERSATION: route_conversation,
    }
    for name, function in jobs.items():
        if name not in broker.actors:
            dramatiq.actor(
                function,
                broker=broker,
                actor_name=name,
                queue_name=QUEUE_NAME,
                max_retries=0 if name == outbound.SEND_TYPING else 5,
                min_backoff=500,
                max_backoff=60_000,
            )
