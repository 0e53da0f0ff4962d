"""Broker queue depth, as `/metrics` reports it: every job not yet done, delayed ones included."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from hub.jobs import QUEUE_NAME, JobQueue, make_broker
from hub.outbound import DELIVER_OUTBOUND
from hub.settings import Settings
from tests.conftest import TEST_SECRET_KEY, wait_for

AN_HOUR = 3600


async def test_on_redis_waiting_delayed_and_running_jobs_all_count(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, secret_key=TEST_SECRET_KEY)
    web, worker = make_broker(settings), make_broker(settings)
    jobs = JobQueue(web)
    try:
        assert jobs.depth() == 0
        await jobs.enqueue(DELIVER_OUTBOUND, "waiting-1")
        await jobs.enqueue(DELIVER_OUTBOUND, "waiting-2")
        await jobs.enqueue(DELIVER_OUTBOUND, "delayed", delay_seconds=AN_HOUR)
        assert jobs.depth() == 3
        consumer = worker.consume(QUEUE_NAME, prefetch=1, timeout=1000)
        running = next(consumer)
        assert running is not None and running.args[0] in ("waiting-1", "waiting-2")
        assert jobs.depth() == 3, "a job a worker is running is not done yet"
        consumer.ack(running)
        assert jobs.depth() == 2
        consumer.close()
    finally:
        web.flush_all()
        web.close()
        worker.close()


def test_embedded_a_delayed_job_held_by_the_worker_still_counts(client) -> None:
    jobs = client.app.state.hub.jobs
    delayed_queue = jobs.broker.queues[f"{QUEUE_NAME}.DQ"]
    client.blocking_portal.call(
        partial(jobs.enqueue, DELIVER_OUTBOUND, "not-a-message", delay_seconds=AN_HOUR)
    )
    wait_for(lambda: delayed_queue.qsize() == 0)  # the in-process worker took it, to hold until it is due
    metrics = client.get("/metrics").text
    assert re.search(r'^omnihub_queue_depth\{queue="broker_jobs"\} 1\.0$', metrics, re.MULTILINE), metrics
