"""Every Dramatiq actor of the hub, and the retry policy of each.

The actors run their jobs on the worker's Hub, which `hub.jobs.WorkerHub` builds when the worker boots.
Jobs are sent with `actor.send(...)` (from async code through `Hub.jobs`). The broker depends on the
settings (Redis or in memory), which are read after import: the actors are declared here on a broker
that refuses to send, and `hub.jobs.make_broker` binds them to the process's broker.

Retries, one mechanism per job kind:
- `process_inbound`: none by Dramatiq; each failed event is retried on its own with a jittered backoff
  recorded on its row (`hub.inbound`), so one bad event never holds the others of its job.
- `deliver_outbound`: the delivery records the attempt, its reason and the next attempt's time on the
  message, then asks Dramatiq to retry after that delay (`dramatiq.Retry`); nothing else is retried.
- `route_conversation`, `serve_queue`, `reroute`: Dramatiq's retries with its jittered exponential backoff
  (routing is idempotent: each run serves whatever still waits).
- `deliver_webhooks` (on a queue of its own, after the chat's jobs): a subscription's due deliveries; each failed
  one's next attempt is recorded on its row, and the job asks to run again when the earliest is due
  (`hub.webhooks`).
- `send_typing`: none (a stale typing indicator is worth nothing).
"""

from __future__ import annotations

import math
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from hub import assignment, inbound, outbound, webhooks
from hub.jobs import QUEUE_NAME, WEBHOOK_QUEUE_NAME, WorkerHub
from hub.runtime import Hub

__all__ = [
    "bind",
    "bound_broker",
    "deliver_outbound",
    "deliver_webhooks",
    "process_inbound",
    "reroute",
    "route_conversation",
    "send_typing",
    "serve_queue",
]


class _Unbound(StubBroker):
    """Holds the actors' declarations until `bind`; a job sent before would be lost, so sending fails."""

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        raise RuntimeError(f"{message.actor_name} was sent before hub.jobs.make_broker made a broker")


_UNBOUND = _Unbound()


WEBHOOK_PRIORITY = 10
"""Of the jobs a worker has fetched, the chat's run before webhook deliveries (Dramatiq runs lower numbers first)."""


def _retry_when_asked(retries: int, error: BaseException) -> bool:
    """Only the retries a delivery asks for (having recorded them on its message) are made."""
    return isinstance(error, dramatiq.Retry)


def _worker_hub() -> Hub:
    for middleware in dramatiq.get_broker().middleware:
        if isinstance(middleware, WorkerHub) and middleware.hub is not None:
            return middleware.hub
    raise RuntimeError("no worker Hub: jobs run only in a worker started by hub.jobs.start_worker")


@dramatiq.actor(queue_name=QUEUE_NAME, broker=_UNBOUND, max_retries=0)
async def process_inbound(*event_ids: str) -> None:
    await inbound.process(_worker_hub(), *event_ids)


@dramatiq.actor(queue_name=QUEUE_NAME, broker=_UNBOUND, retry_when=_retry_when_asked)
async def deliver_outbound(message_id: str) -> None:
    retry_in = await outbound.deliver(_worker_hub(), message_id)
    if retry_in is not None:
        raise dramatiq.Retry(delay=int(retry_in.total_seconds() * 1000))


@dramatiq.actor(
    queue_name=WEBHOOK_QUEUE_NAME, broker=_UNBOUND, retry_when=_retry_when_asked, priority=WEBHOOK_PRIORITY
)
async def deliver_webhooks(subscription_id: str) -> None:
    retry_in = await webhooks.deliver_due(_worker_hub(), subscription_id)
    if retry_in is not None:
        # Rounded up: a retry running before its subscription's `retry_at` would find it waiting and leave.
        raise dramatiq.Retry(delay=math.ceil(retry_in.total_seconds() * 1000))


@dramatiq.actor(queue_name=QUEUE_NAME, broker=_UNBOUND, max_retries=5, min_backoff=500, max_backoff=60_000)
async def route_conversation(*conversation_ids: str) -> None:
    await assignment.route_conversations(_worker_hub(), list(conversation_ids))


@dramatiq.actor(queue_name=QUEUE_NAME, broker=_UNBOUND, max_retries=5, min_backoff=500, max_backoff=60_000)
async def serve_queue(workspace_id: str) -> None:
    """A seat may have freed (an agent online, a conversation resolved, capacity raised): serve the queue."""
    await assignment.route_workspace(_worker_hub(), workspace_id)


@dramatiq.actor(queue_name=QUEUE_NAME, broker=_UNBOUND, max_retries=5, min_backoff=500, max_backoff=60_000)
async def reroute(workspace_id: str) -> None:
    """An agent went offline, or answer timeouts may have passed: requeue what they held, then serve the queue."""
    await assignment.reroute_workspace(_worker_hub(), workspace_id)


@dramatiq.actor(queue_name=QUEUE_NAME, broker=_UNBOUND, max_retries=0)
async def send_typing(conversation_id: str, state: str) -> None:
    await outbound.send_typing(_worker_hub(), conversation_id, state)


_ACTORS: tuple[dramatiq.Actor[Any, Any], ...] = (
    process_inbound,
    deliver_outbound,
    deliver_webhooks,
    route_conversation,
    serve_queue,
    reroute,
    send_typing,
)


def bind(broker: dramatiq.Broker) -> None:
    """Make `broker` Dramatiq's global broker and the one the hub's actors are declared on and send to."""
    dramatiq.set_broker(broker)
    for actor in _ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)


def bound_broker() -> dramatiq.Broker | None:
    """The broker the actors send to, None before `bind`."""
    broker = deliver_outbound.broker
    return None if broker is _UNBOUND else broker
