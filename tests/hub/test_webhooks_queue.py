"""Webhook deliveries wait in a Redis queue of their own, which every worker consumes beside the chat's queue."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import redis

from hub import actors
from hub.jobs import QUEUE_NAME, WEBHOOK_QUEUE_NAME, JobQueue, make_broker, start_worker
from hub.realtime import RedisPublisher
from hub.runtime import open_hub
from hub.settings import Settings
from tests.conftest import wait_for


async def test_a_webhook_backlog_stands_in_a_queue_of_its_own_that_the_worker_drains(
    redis_url: str, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"redis_url": redis_url})
    web = make_broker(settings)
    jobs = JobQueue(web)
    queued = redis.Redis.from_url(redis_url)
    worker = None
    try:
        for number in range(20):
            await jobs.send(actors.deliver_webhooks, f"no-such-subscription-{number}")
        await jobs.send(actors.deliver_outbound, "no-such-message")
        assert queued.llen(f"omnihub:{WEBHOOK_QUEUE_NAME}") == 20
        assert queued.llen(f"omnihub:{QUEUE_NAME}") == 1, "the chat's job is not behind the webhook backlog"
        worker_broker = make_broker(settings)
        worker_hub = partial(open_hub, settings, JobQueue(worker_broker), RedisPublisher(redis_url))
        worker = start_worker(worker_broker, worker_hub, threads=2)
        wait_for(lambda: jobs.depth() == 0)
    finally:
        if worker is not None:
            worker.stop()
        web.flush_all()
        web.close()
