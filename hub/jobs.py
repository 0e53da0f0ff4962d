"""Background jobs on Dramatiq: the broker of each mode, sending to the hub's actors, retry delays, the worker.

The actors are declared in `hub.actors`; a broker made here becomes Dramatiq's global broker with those
actors bound to it, so `actor.send(...)` reaches it. The database row is always written before its job
is sent, so a job lost with a crashed process is found by the sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import dramatiq
import redis
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware, TimeLimit, default_middleware

if TYPE_CHECKING:
    from hub.pollers import PollerSupervisor
    from hub.runtime import Hub
    from hub.settings import Settings

__all__ = [
    "QUEUE_NAME",
    "WEBHOOK_QUEUE_NAME",
    "JobQueue",
    "WorkerHub",
    "current_broker",
    "make_broker",
    "retry_delay",
    "start_worker",
]

QUEUE_NAME = "omnihub"
WEBHOOK_QUEUE_NAME = "omnihub-webhooks"
"""Webhook deliveries have a queue of their own: a backlog of them is not queued in front of the chat's jobs."""
UNFINISHED_JOBS_KEY = "omnihub:unfinished_jobs"
log = logging.getLogger("omnihub.jobs")


def retry_delay(
    first: timedelta, attempts: int, *, longest: timedelta, at_least: timedelta | None = None
) -> timedelta:
    """Exponential backoff with jitter: `first` doubling with each attempt (at most `longest`), never earlier
    than `at_least` (a channel's Retry-After), then stretched by a random 0–50 % so that jobs failing
    together (a channel's outage) do not all come back at the same moment."""
    backoff = min(first * 2 ** min(max(attempts - 1, 0), 32), longest)
    base = max(backoff, at_least) if at_least is not None else backoff
    return base * random.uniform(1.0, 1.5)  # noqa: S311 (spreading retries, not a secret)


class UnfinishedJobs(Middleware):
    """Counts jobs sent and not yet done (waiting, delayed or running) through the broker's public hooks.

    Every enqueue (a retry's and a delayed job's move to its queue included) is matched by one ack or nack,
    so the count is their difference. Production keeps it in Redis, shared by every process; embedded mode
    in memory.
    """

    def __init__(self, redis_url: str | None) -> None:
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._in_memory = 0
        self._lock = threading.Lock()

    def _add(self, change: int) -> None:
        if self._redis is not None:
            self._redis.incrby(UNFINISHED_JOBS_KEY, change)
            return
        with self._lock:
            self._in_memory += change

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int) -> None:
        self._add(1)

    def after_ack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._add(-1)

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._add(-1)

    def count(self) -> int:
        if self._redis is None:
            return self._in_memory
        return max(0, int(self._redis.get(UNFINISHED_JOBS_KEY) or 0))


def make_broker(settings: Settings) -> dramatiq.Broker:
    """A new broker for the settings' mode, made Dramatiq's global broker with the hub's actors bound to it.

    Redis in production; Dramatiq's in-memory broker (for an in-process worker) embedded. Dramatiq's default
    middleware without TimeLimit: its watchdog is a thread per broker that nothing stops, so every broker a
    process makes (an embedded app, a command run beside one) would leave one behind, waking each second. Jobs
    bound their own waits (the egress timeouts), and a worker process never booted the watchdog anyway.
    """
    from hub import actors

    middleware = [each() for each in default_middleware if each is not TimeLimit]
    if settings.production:
        broker: dramatiq.Broker = RedisBroker(
            url=settings.redis_url, namespace="omnihub", middleware=middleware
        )
    else:
        broker = StubBroker(middleware=middleware)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(UnfinishedJobs(settings.redis_url))
    broker.declare_queue(QUEUE_NAME)
    broker.declare_queue(WEBHOOK_QUEUE_NAME)
    actors.bind(broker)
    return broker


def current_broker(settings: Settings) -> dramatiq.Broker:
    """The broker already bound in this process when it serves the settings' mode, else a new one.

    A command run inside a process that has a broker (a test beside its app) sends to that broker's worker.
    """
    from hub import actors

    bound = actors.bound_broker()
    fits = isinstance(bound, RedisBroker) if settings.production else isinstance(bound, StubBroker)
    return bound if bound is not None and fits else make_broker(settings)


class JobQueue:
    """Sends jobs to the hub's actors from async code, and tells how many are unfinished."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self._in_background: set[asyncio.Future[object]] = set()

    async def send(self, actor: dramatiq.Actor[..., Any], *args: str, delay: timedelta | None = None) -> None:
        """Dramatiq's send blocks for a broker round trip, so it runs on a thread while the event loop goes on."""
        await asyncio.to_thread(actor.send_with_options, args=args, delay=delay)

    def send_soon(self, actor: dramatiq.Actor[..., Any], *row_ids: str) -> None:
        """Send a job on committed rows without making the caller wait for the broker.

        The rows are the durable record, so whoever committed them can answer at once; should sending
        fail (a broker outage), the sweeper finds the rows and sends their job later.
        """
        self.in_background(self.send_or_leave_to_sweeper(actor, *row_ids))

    def in_background(self, sending: Awaitable[object]) -> None:
        """Run a send nobody waits for; `settle` waits for it before the broker closes."""
        task = asyncio.ensure_future(sending)
        self._in_background.add(task)
        task.add_done_callback(self._in_background.discard)

    async def settle(self) -> None:
        """Wait for the sends still under way on this event loop (the embedded worker's pollers, which share the
        queue, send from the worker's loop and settle there)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(task for task in self._in_background if task.get_loop() is loop))

    async def send_or_leave_to_sweeper(
        self, actor: dramatiq.Actor[..., Any], *row_ids: str, delay: timedelta | None = None
    ) -> None:
        """For committed rows: a broker outage only delays their work, which the sweeper sends later."""
        try:
            await self.send(actor, *row_ids, delay=delay)
        except Exception as error:
            log.warning(
                "enqueue.failed job=%s ids=%s error=%s; the sweeper will retry",
                actor.actor_name,
                ",".join(row_ids),
                type(error).__name__,
            )

    def depth(self) -> int:
        """Jobs sent and not yet done (waiting, delayed or running), counted by the broker's middleware."""
        return next(each for each in self.broker.middleware if isinstance(each, UnfinishedJobs)).count()


class WorkerHub(Middleware):
    """Builds the worker's Hub (database engine, connectors, HTTP client) on the worker's event loop when the
    worker boots, and closes it once the worker has stopped; the actors run their jobs on it. The pollers of
    pull channels (hub.pollers) and the webhook dispatcher (hub.webhooks) run on the same loop and Hub for the
    worker's lifetime."""

    def __init__(self, build: Callable[[], Hub]) -> None:
        self.build = build
        self.hub: Hub | None = None
        self.pollers: PollerSupervisor | None = None
        self.dispatcher: asyncio.Task[None] | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.hub = _on_worker_loop(self._build())

    async def _build(self) -> Hub:
        from hub.pollers import PollerSupervisor
        from hub.webhooks import run_dispatcher

        hub = self.build()
        self.pollers = PollerSupervisor(hub)
        self.pollers.start()
        self.dispatcher = asyncio.create_task(run_dispatcher(hub))
        return hub

    async def _stop_dispatcher(self, dispatcher: asyncio.Task[None]) -> None:
        dispatcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dispatcher

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.dispatcher is not None:
            _on_worker_loop(self._stop_dispatcher(self.dispatcher))
            self.dispatcher = None
        if self.pollers is not None:
            _on_worker_loop(self.pollers.stop())
            self.pollers = None

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.hub is not None:
            _on_worker_loop(self.hub.close())
            self.hub = None


Result = TypeVar("Result")


def _on_worker_loop(work: Awaitable[Result]) -> Result:
    loop_thread = get_event_loop_thread()
    if loop_thread is None:
        raise RuntimeError("the worker's event loop is not running (AsyncIO middleware missing)")
    return loop_thread.run_coroutine(work)


WORKER_POLL_MS = 100
"""How long a worker's threads wait for a job before looking again: an idle Redis consumer polls Redis this often."""
IN_MEMORY_WORKER_POLL_MS = 50
"""The same for the embedded worker, whose in-memory queues wait in a blocking get (no round trip to poll). A
stopping worker stops its threads, then its consumers, each noticing within this bound, so the embedded hub
shuts down in about 100 ms instead of 200 ms; an idle embedded hub spends about 5 ms of CPU a second more for it
(27-30 against 24, measured)."""


def start_worker(broker: dramatiq.Broker, build_hub: Callable[[], Hub], threads: int) -> dramatiq.Worker:
    """Start a worker consuming `broker` in this process, its jobs running on a Hub from `build_hub`.

    The Hub is built on the worker's event loop when it boots and closed after it stops: Dramatiq runs
    `after_*` hooks in reverse order, so a middleware after AsyncIO's closes it before the loop stops.
    """
    broker.add_middleware(WorkerHub(build_hub), after=AsyncIO)
    poll_ms = IN_MEMORY_WORKER_POLL_MS if isinstance(broker, StubBroker) else WORKER_POLL_MS
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=poll_ms)
    worker.start()
    return worker
