"""Broker queue depth, as `/metrics` reports it: every job not yet done, delayed ones included."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial
from pathlib import Path

from litestar.testing import TestClient

from hub import actors
from hub.jobs import JobQueue, make_broker, start_worker
from hub.realtime import RedisPublisher
from hub.runtime import open_hub
from hub.settings import Settings
from tests.conftest import wait_for

AN_HOUR = timedelta(hours=1)


def _broker_jobs(client: TestClient) -> float:
    metrics = client.get("/metrics").text
    found = re.search(r'^omnihub_queue_depth\{queue="broker_jobs"\} (\S+)$', metrics, re.MULTILINE)
    assert found, metrics
    return float(found.group(1))


async def test_on_redis_every_process_counts_the_jobs_not_done_delayed_ones_included(
    redis_url: str, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"redis_url": redis_url})
    web = make_broker(settings)
    jobs = JobQueue(web)
    worker = None
    try:
        assert jobs.depth() == 0
        await jobs.send(actors.deliver_outbound, "waiting-1")
        await jobs.send(actors.deliver_outbound, "waiting-2")
        await jobs.send(actors.deliver_outbound, "delayed", delay=AN_HOUR)
        assert jobs.depth() == 3
        worker_broker = make_broker(settings)
        assert JobQueue(worker_broker).depth() == 3, "another process sees the same count"
        worker_hub = partial(open_hub, settings, JobQueue(worker_broker), RedisPublisher(redis_url))
        worker = start_worker(worker_broker, worker_hub, threads=1)
        wait_for(lambda: jobs.depth() == 1)
    finally:
        if worker is not None:
            worker.stop()
        web.flush_all()
        web.close()


def test_embedded_a_delayed_job_counts_until_done_and_a_done_job_does_not(client: TestClient) -> None:
    jobs = client.app.state.hub.jobs
    assert _broker_jobs(client) == 0
    client.blocking_portal.call(partial(jobs.send, actors.deliver_outbound, "not-a-message", delay=AN_HOUR))
    assert _broker_jobs(client) == 1
    client.blocking_portal.call(partial(jobs.send, actors.deliver_outbound, "also-not-a-message"))
    wait_for(lambda: _broker_jobs(client) == 1)
