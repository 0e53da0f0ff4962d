"""Email in production mode: `omnihub worker` processes read the mailbox, one at a time, and another takes over
when the one reading it dies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from benchmarks.cluster import Cluster
from connectors.email.testing import (
    DovecotServer,
    SmtpRecorder,
    loopback_settings,
    mail_servers,
)
from tests.conftest import bearer, wait_for
from tests.production.test_multi_process import cluster

pytestmark = pytest.mark.production

USER, PASSWORD = "support@shop.example", "imap-secret"


@pytest.fixture
def servers() -> Iterator[tuple[DovecotServer, SmtpRecorder]]:
    with mail_servers(USER, PASSWORD) as running:
        yield running


def lease_holder(running: Cluster, inbox_id: str) -> int | None:
    """The pid of the process holding the inbox's poller lease."""

    async def fetch() -> Any:
        connection = await asyncpg.connect(running.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return await connection.fetchval("SELECT holder FROM lease WHERE key = $1", f"poller:{inbox_id}")
        finally:
            await connection.close()

    holder = asyncio.run(fetch())
    return int(holder.split(":")[1]) if holder else None


def mail(number: int) -> bytes:
    return (
        f"From: customer{number}@example.com\r\nTo: {USER}\r\nSubject: Order {number}\r\n"
        f"Message-ID: <order-{number}@example.com>\r\nDate: Mon, 4 Nov 2024 10:00:00 +0000\r\n\r\nMail {number}\r\n"
    ).encode()


def imported(http: httpx.Client, token: str, inbox_id: str) -> list[str]:
    conversations = http.get(
        "/api/v1/conversations", params={"inbox_id": inbox_id, "limit": 100}, headers=bearer(token)
    ).json()["items"]
    return sorted(
        message["text"]
        for conversation in conversations
        for message in http.get(
            f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(token)
        ).json()["items"]
    )


def test_one_worker_reads_a_mailbox_and_another_takes_over_when_it_dies(
    production_services: None, servers: tuple[DovecotServer, SmtpRecorder]
) -> None:
    dovecot, smtp = servers
    settings = {"OMNIHUB_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8", "OMNIHUB_POLLER_SCAN_SECONDS": "0.5"}
    with cluster(1, 2, **settings) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        token = running.api_token
        answer = http.post(
            "/api/v1/inboxes",
            headers=bearer(token),
            json={
                "kind": "email",
                "name": "Support mail",
                "settings": loopback_settings(dovecot, smtp, USER, PASSWORD),
            },
        )
        assert answer.status_code == 201, answer.text
        inbox_id = answer.json()["id"]
        wait_for(
            lambda: (
                http.get(f"/api/v1/inboxes/{inbox_id}", headers=bearer(token)).json()["status"] == "active"
            ),
            timeout=30,
        )
        asyncio.run(dovecot.append(USER, PASSWORD, mail(1)))
        wait_for(lambda: imported(http, token, inbox_id) == ["Mail 1"], timeout=30)

        workers = {worker.pid: worker for worker in running.workers}
        reading = lease_holder(running, inbox_id)
        assert reading in workers
        workers[reading].kill()
        asyncio.run(dovecot.append(USER, PASSWORD, mail(2)))
        wait_for(lambda: imported(http, token, inbox_id) == ["Mail 1", "Mail 2"], timeout=30)
        taken_over = lease_holder(running, inbox_id)
        assert taken_over in workers and taken_over != reading
