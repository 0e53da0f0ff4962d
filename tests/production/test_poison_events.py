"""A poisoned inbound event in production mode: PostgreSQL, Redis, an `omnihub serve` and an `omnihub worker`.

The issue's finding: a widget message whose customer name holds a NUL byte failed the worker's grouped
transaction on PostgreSQL, and the good messages grouped with it stayed pending through every retry
and sweep. Here such an event (written straight into the table, as if it had slipped past the edge)
waits beside good ones while no worker runs; the first worker's sweeper enqueues them all in one job.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
import redis
from sqlalchemy.engine import make_url

from benchmarks.cluster import Cluster
from connectors.webchat import WEBCHAT_VISITOR
from hub.ids import new_id
from normalizer import IdentityRef, InboundMessage, dedupe_key
from tests.conftest import bearer, wait_for
from tests.production.test_multi_process import FAST_SWEEPER, cluster, send_visitor_messages, stored_texts

pytestmark = pytest.mark.production

GOOD = ["good 0", "good 1", "good 2"]


def insert_poisoned_event(running: Cluster) -> str:
    """A pending web chat event whose customer name holds a NUL byte, beside the visitors' events."""
    poison = InboundMessage(
        channel_message_id="poison",
        sender=IdentityRef(WEBCHAT_VISITOR, "mallory"),
        sent_at=datetime.now(UTC),
        text="poison",
        sender_name="Mal\x00lory",
    )
    event_id = new_id()

    async def insert() -> None:
        url = (
            make_url(running.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        connection = await asyncpg.connect(url)
        try:
            inbox_id = running.inbox("webchat")["id"]
            await connection.execute(
                "INSERT INTO inbound_event (id, workspace_id, inbox_id, dedupe_key, message_id, message, raw, status, "
                "attempts, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, now())",
                event_id,
                running.demo["workspace_id"],
                inbox_id,
                dedupe_key(inbox_id, "poison"),
                new_id(),
                poison.to_json().decode(),
                '{"text": "poison", "name": "Mal\\u0000lory"}',
            )
        finally:
            await connection.close()

    asyncio.run(insert())
    return event_id


def dead_events(running: Cluster, token: str) -> list[dict]:
    answer = httpx.get(f"{running.url}/api/v1/inbound-events", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def metric(url: str, name: str) -> float:
    found = re.search(rf'^{name}{{channel="webchat"}} (\S+)$', httpx.get(url).text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def rival_admin_token(running: Cluster) -> str:
    password = "correct horse battery staple"
    running.omnihub(
        "create-admin", "--email", "boss@rival.example", "--workspace", "Rival", "--password", password
    )
    answer = httpx.post(
        f"{running.url}/api/v1/auth/login", json={"email": "boss@rival.example", "password": password}
    )
    return answer.json()["access_token"]


def test_a_poisoned_event_holds_no_other_and_is_parked_dead_for_admins(production_services: None) -> None:
    settings = {**FAST_SWEEPER, "OMNIHUB_INBOUND_MAX_ATTEMPTS": "2", "OMNIHUB_INBOUND_RETRY_SECONDS": "0.2"}
    with cluster(1, 0, **settings) as running:
        send_visitor_messages(running, GOOD)
        poison_id = insert_poisoned_event(running)
        redis.Redis.from_url(running.redis_url).flushdb()
        worker = running.start_worker()
        wait_for(lambda: stored_texts(running) == GOOD, timeout=30)

        [dead] = wait_for(lambda: dead_events(running, running.api_token), timeout=30)
        assert (dead["id"], dead["status"], dead["attempts"], dead["channel"]) == (
            poison_id,
            "dead",
            2,
            "webchat",
        )
        assert dead["error"].startswith("storing the message failed: ") and "0x00" in dead["error"]
        assert metric(f"{running.url}/metrics", "omnihub_inbound_dead_events_waiting") == 1
        assert metric(worker.metrics_url, "omnihub_inbound_dead_events_total") == 1

        rival = rival_admin_token(running)
        assert dead_events(running, rival) == []
        for action in ("retry", "discard"):
            refused = httpx.post(
                f"{running.url}/api/v1/inbound-events/{poison_id}/{action}", headers=bearer(rival)
            )
            assert refused.status_code == 404

        retried = httpx.post(
            f"{running.url}/api/v1/inbound-events/{poison_id}/retry", headers=bearer(running.api_token)
        )
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        wait_for(lambda: metric(worker.metrics_url, "omnihub_inbound_dead_events_total") == 2, timeout=30)
        discarded = httpx.post(
            f"{running.url}/api/v1/inbound-events/{poison_id}/discard", headers=bearer(running.api_token)
        )
        assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
        assert dead_events(running, running.api_token) == []
        assert metric(f"{running.url}/metrics", "omnihub_inbound_dead_events_waiting") == 0
        assert stored_texts(running) == GOOD
