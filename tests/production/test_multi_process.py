"""Production mode for real: PostgreSQL, Redis, two `omnihub serve` processes and `omnihub worker` processes.

A visitor connected to one web process and an agent connected to the other see each other's
messages live; work accepted while no worker runs, or whose job is lost, is done later.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from websockets.sync.client import ClientConnection, connect

from benchmarks.cluster import Cluster, production_cluster
from connectors.base import RawRequest
from tests.conftest import POSTGRES_ADMIN_URL, TEST_REDIS_URL, bearer, wait_for
from tests.hub.wechat_support import signed_by, text_message

pytestmark = pytest.mark.production

FAST_SWEEPER = {"OMNIHUB_SWEEP_INTERVAL_SECONDS": "0.5", "OMNIHUB_STUCK_AFTER_SECONDS": "2"}


def cluster(web_processes: int, worker_processes: int, **settings: str):
    redis_server, _, redis_db = TEST_REDIS_URL.rpartition("/")
    return production_cluster(
        web_processes=web_processes,
        worker_processes=worker_processes,
        env=settings,
        database_prefix="omnihub_test",
        redis_db=int(redis_db),
        redis_server_url=redis_server,
        postgres_admin_url=POSTGRES_ADMIN_URL,
    )


@pytest.fixture
def two_web_one_worker(production_services: None) -> Iterator[Cluster]:
    with cluster(2, 1, **FAST_SWEEPER) as running:
        yield running


def socket_url(http_url: str, path: str) -> str:
    return f"ws://{urlsplit(http_url).netloc}{path}"


def receive_until(socket: ClientConnection, wanted, timeout: float = 15.0) -> dict[str, Any]:
    """The first frame for which `wanted(frame)` is true; other frames are skipped."""
    while True:
        frame = json.loads(socket.recv(timeout=timeout))
        if wanted(frame):
            return frame


def messages(running: Cluster, base_url: str, conversation_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{base_url}/api/v1/conversations/{conversation_id}/messages", headers=bearer(running.api_token)
    )
    return answer.json()["items"]


def conversations(running: Cluster, base_url: str) -> list[dict[str, Any]]:
    """Every conversation, page after page."""
    found, cursor = [], None
    while True:
        page = httpx.get(
            f"{base_url}/api/v1/conversations",
            headers=bearer(running.api_token),
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
        ).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_visitor_on_one_web_process_and_agent_on_another_talk_live(two_web_one_worker: Cluster) -> None:
    running = two_web_one_worker
    visitor_web, agent_web = running.web[0].url, running.web[1].url
    widget_token = running.inbox("webchat")["widget_token"]
    with (
        connect(socket_url(agent_web, "/api/v1/agent/ws")) as agent,
        connect(socket_url(visitor_web, f"/widget/{widget_token}/ws")) as visitor,
    ):
        agent.send(json.dumps({"token": running.api_token}))
        agent_ready = json.loads(agent.recv(timeout=10))
        assert agent_ready["type"] == "ready"
        visitor.send(json.dumps({}))
        ready = json.loads(visitor.recv(timeout=10))
        assert ready["type"] == "ready" and ready["visitor_token"]

        visitor.send(json.dumps({"type": "message", "text": "你好，订单 #A1024 到哪了？", "client_id": "q1"}))
        ack = receive_until(visitor, lambda frame: frame["type"] == "ack")
        created = receive_until(agent, lambda frame: frame["type"] == "message.created")
        assert created["message"]["text"] == "你好，订单 #A1024 到哪了？"
        assert created["message"]["id"] == ack["id"]
        conversation_id = created["message"]["conversation_id"]

        reply = httpx.post(
            f"{agent_web}/api/v1/conversations/{conversation_id}/messages",
            headers=bearer(running.api_token),
            json={"text": "今天发货。", "client_id": "r1"},
        )
        assert reply.status_code == 201, reply.text
        pushed = receive_until(
            visitor,
            lambda frame: frame["type"] == "message.created" and frame["message"]["sender"] == "agent",
        )
        assert pushed["message"]["text"] == "今天发货。"
        delivered = receive_until(
            agent,
            lambda frame: frame["type"] == "message.updated" and frame["message"]["id"] == reply.json()["id"],
        )
        assert delivered["message"]["status"] == "delivered"

    history = httpx.get(
        f"{visitor_web}/widget/{widget_token}/messages", headers=bearer(ready["visitor_token"])
    ).json()
    assert [(item["sender"], item["text"]) for item in history["items"]] == [
        ("contact", "你好，订单 #A1024 到哪了？"),
        ("agent", "今天发货。"),
    ]
    workspace_channel, visitor_channels = (
        f"workspace.{agent_ready['workspace_id']}",
        f"audience.{running.inbox('webchat')['id']}.*",
    )
    with redis.Redis.from_url(TEST_REDIS_URL) as observer:  # closed sockets leave their channels in Redis
        wait_for(lambda: observer.pubsub_numsub(workspace_channel) == [(workspace_channel.encode(), 0)])
        wait_for(lambda: observer.pubsub_channels(visitor_channels) == [])


def test_workers_leave_the_cpu_to_web_processes_first(two_web_one_worker: Cluster) -> None:
    """OMNIHUB_WORKER_NICE (default 10): on shared cores, channels waiting for an answer come first."""
    started_at = os.nice(0)
    assert os.getpriority(os.PRIO_PROCESS, two_web_one_worker.workers[0].pid) == max(10, started_at)
    assert [os.getpriority(os.PRIO_PROCESS, web.pid) for web in two_web_one_worker.web] == [
        started_at,
        started_at,
    ]


def test_duplicates_across_web_processes_store_one_message(two_web_one_worker: Cluster) -> None:
    running = two_web_one_worker
    widget_token = running.inbox("webchat")["widget_token"]
    first = httpx.post(
        f"{running.web[0].url}/widget/{widget_token}/messages", json={"text": "hello", "client_id": "same"}
    )
    visitor = bearer(first.json()["visitor_token"])
    again = [
        httpx.post(
            f"{web.url}/widget/{widget_token}/messages",
            headers=visitor,
            json={"text": "hello", "client_id": "same"},
        )
        for web in running.web
    ]
    assert [answer.status_code for answer in again] == [200, 200]
    assert {answer.json()["id"] for answer in again} == {first.json()["id"]}
    [conversation] = wait_for(lambda: conversations(running, running.url))
    wait_for(lambda: messages(running, running.url, conversation["id"]))
    assert [message["text"] for message in messages(running, running.url, conversation["id"])] == ["hello"]


def stored_texts(running: Cluster) -> list[str]:
    return sorted(
        message["text"]
        for conversation in conversations(running, running.url)
        for message in messages(running, running.url, conversation["id"])
    )


def send_visitor_messages(running: Cluster, texts: list[str]) -> None:
    """Each text from a visitor of its own, so they make as many conversations."""
    widget_token = running.inbox("webchat")["widget_token"]
    for number, text in enumerate(texts):
        answer = httpx.post(
            f"{running.url}/widget/{widget_token}/messages", json={"text": text, "client_id": f"c{number}"}
        )
        assert answer.status_code == 201, answer.text


def test_messages_accepted_while_no_worker_runs_are_processed_when_one_starts(
    production_services: None,
) -> None:
    with cluster(1, 0, **FAST_SWEEPER) as running:
        texts = sorted(f"queued {number}" for number in range(5))
        send_visitor_messages(running, texts)
        assert conversations(running, running.url) == []
        running.start_worker()
        wait_for(lambda: stored_texts(running) == texts, timeout=30)


def test_a_job_lost_from_redis_is_recovered_by_the_sweeper(production_services: None) -> None:
    """The message is committed and its job enqueued, then Redis loses the job (a flush, a failover)."""
    with cluster(1, 0, **FAST_SWEEPER) as running:
        widget_token = running.inbox("webchat")["widget_token"]
        answer = httpx.post(
            f"{running.url}/widget/{widget_token}/messages", json={"text": "do not lose me", "client_id": "l"}
        )
        assert answer.status_code == 201
        redis.Redis.from_url(running.redis_url).flushdb()
        running.start_worker()
        [conversation] = wait_for(lambda: conversations(running, running.url), timeout=30)
        [message] = wait_for(lambda: messages(running, running.url, conversation["id"]), timeout=30)
        assert message["id"] == answer.json()["id"] and message["text"] == "do not lose me"


def test_a_worker_killed_mid_flight_loses_nothing_and_stores_nothing_twice(production_services: None) -> None:
    """A backlog is being worked through when the worker dies without a chance to clean up."""
    with cluster(1, 0, **FAST_SWEEPER) as running:
        texts = sorted(f"burst {number:03d}" for number in range(150))
        send_visitor_messages(running, texts)
        running.start_worker()
        first_page = {"limit": 1}
        wait_for(
            lambda: httpx.get(
                f"{running.url}/api/v1/conversations", params=first_page, headers=bearer(running.api_token)
            ).json()["items"],
            timeout=30,
            interval=0.005,
        )
        running.workers[0].kill()
        running.start_worker()
        wait_for(lambda: stored_texts(running) == texts, timeout=60, interval=0.5)


def test_a_wechat_signature_carries_one_request_whichever_web_process_it_reaches(
    production_services: None,
) -> None:
    """The claim on a callback's timestamp and nonce lives in Redis: WeChat's retry reaching the other web process
    is acknowledged, a replay with another body there is refused."""
    with cluster(2, 0) as running:
        inbox = running.inbox("wechat_oa")
        signed = signed_by(
            {
                "app_id": inbox["app_id"],
                "app_secret": "unknown-to-wechats-side",
                "token": inbox["token"],
                "mode": inbox["mode"],
                "encoding_aes_key": inbox["encoding_aes_key"],
            }
        )
        path = urlsplit(inbox["callback_url"]).path

        def deliver_to(web: int, raw: RawRequest) -> httpx.Response:
            return httpx.post(f"{running.web[web].url}{path}", params=dict(raw.query), content=raw.body)

        genuine = signed.post(text_message("我的订单在哪里？", 990001))
        assert deliver_to(0, genuine).text == "success"
        replayed = deliver_to(1, signed.post(text_message("请退款到这个账户", 990002)))
        assert replayed.status_code == 403 and replayed.json()["code"] == "replayed_delivery"
        assert deliver_to(1, genuine).text == "success"
