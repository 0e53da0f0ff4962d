"""Background jobs on Dramatiq: the broker for each mode, enqueueing by name, and the worker.

The web process only enqueues (by actor name); workers declare the actors. The database
row is always written before its job is enqueued, so a lost job is found by the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

if TYPE_CHECKING:
    from hub.runtime import Hub
    from hub.settings import Settings

__all__ = ["QUEUE_NAME", "JobQueue", "make_broker", "start_worker"]

QUEUE_NAME = "omnihub"
log = logging.getLogger("omnihub.jobs")


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Redis in production; Dramatiq's in-memory broker (with an in-process worker) embedded."""
    if settings.production:
        broker: dramatiq.Broker = RedisBroker(url=settings.redis_url, namespace="omnihub")
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    broker.declare_queue(QUEUE_NAME)
    return broker


class JobQueue:
    """Enqueue jobs by actor name, so the web process needs no actor code."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self._in_background: set[asyncio.Task] = set()

    async def enqueue(self, actor_name: str, *args: str, delay_seconds: float | None = None) -> None:
        """Dramatiq's enqueue blocks for a broker round trip, so it runs on a thread while the event loop goes on."""
        message = dramatiq.Message(
            queue_name=QUEUE_NAME, actor_name=actor_name, args=args, kwargs={}, options={}
        )
        delay = int(delay_seconds * 1000) if delay_seconds else None
        await asyncio.to_thread(self.broker.enqueue, message, delay=delay)

    def enqueue_soon(self, actor_name: str, *row_ids: str) -> None:
        """Enqueue work on committed rows without making the caller wait for the broker.

        The rows are the durable record, so whoever committed them can answer at once; should the
        enqueue fail (a broker outage), the sweeper finds the rows and enqueues them later.
        """
        self.in_background(self.enqueue_or_leave_to_sweeper(actor_name, *row_ids))

    def in_background(self, enqueueing: Awaitable[object]) -> None:
        """Run an enqueue nobody waits for; `settle` waits for it before the broker closes."""
        task = asyncio.ensure_future(enqueueing)
        self._in_background.add(task)
        task.add_done_callback(self._in_background.discard)

    async def settle(self) -> None:
        """Wait for the enqueues still under way."""
        await asyncio.gather(*self._in_background)

    async def enqueue_or_leave_to_sweeper(
        self, actor_name: str, *row_ids: str, delay_seconds: float | None = None
    ) -> None:
        """For committed rows: a broker outage only delays their work, which the sweeper enqueues later."""
        try:
            await self.enqueue(actor_name, *row_ids, delay_seconds=delay_seconds)
        except Exception as error:
            log.warning(
                "enqueue.failed job=%s ids=%s error=%s; the sweeper will retry",
                actor_name,
                ",".join(row_ids),
                type(error).__name__,
            )

    def depth(self) -> int | None:
        """Jobs enqueued and not yet done (waiting, delayed or running), where the broker can tell.

        Each broker's own count, the one its `join` waits on: Redis counts the queue and its delay
        queue; in memory, a delayed job stays counted while a worker holds it until it is due.
        """
        if isinstance(self.broker, RedisBroker):
            return int(self.broker.do_qsize(QUEUE_NAME))
        if isinstance(self.broker, StubBroker):
            return sum(queue.unfinished_tasks for queue in self.broker.queues.values())
        return None


def start_worker(
    broker: dramatiq.Broker, hub_factory: Callable[[], Awaitable[Hub]], threads: int
) -> dramatiq.Worker:
    """Declare the actors on `broker` and start a worker consuming them in this process."""
    from hub import actors

    actors.declare(broker, hub_factory)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker
