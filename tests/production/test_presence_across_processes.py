"""Agent presence lives in Redis, shared by every web process: an agent connected through one is online on all of
them and routed to; a second tab on another process keeps them online when the first closes; and the agents of a
web process killed without a clean close go offline within the connections' time to live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import redis
from websockets.sync.client import ClientConnection, connect

from benchmarks.cluster import Cluster
from tests.conftest import bearer, wait_for
from tests.production.test_multi_process import FAST_SWEEPER, cluster, conversations, socket_url

pytestmark = pytest.mark.production

HEARTBEAT_SECONDS = 0.5
TIME_TO_LIVE_SECONDS = 3 * HEARTBEAT_SECONDS
OFFLINE_WITHIN_SECONDS = TIME_TO_LIVE_SECONDS + HEARTBEAT_SECONDS + 5
"""The time to live, a heartbeat of the surviving process to release them, and room for a loaded machine."""


@pytest.fixture
def two_web_one_worker(production_services: None) -> Iterator[Cluster]:
    with cluster(2, 1, OMNIHUB_PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS), **FAST_SWEEPER) as running:
        yield running


def agent_tab(stack: ExitStack, running: Cluster, web: int) -> ClientConnection:
    """The demo admin's inbox socket on web process `web`, ready."""
    socket = stack.enter_context(connect(socket_url(running.web[web].url, "/api/v1/agent/ws")))
    socket.send(json.dumps({"token": running.api_token}))
    assert json.loads(socket.recv(timeout=10))["type"] == "ready"
    return socket


def presence_seen_by(running: Cluster, web: int) -> str:
    agents = httpx.get(f"{running.web[web].url}/api/v1/agents", headers=bearer(running.api_token)).json()
    [admin] = [agent for agent in agents if agent["email"] == running.demo["admin_email"]]
    return admin["presence"]


def admin_id(running: Cluster) -> str:
    me = httpx.get(f"{running.web[1].url}/api/v1/me", headers=bearer(running.api_token)).json()
    return me["agent"]["id"]


def new_conversation_through(running: Cluster, web: int, text: str) -> str:
    widget_token = running.inbox("webchat")["widget_token"]
    answer = httpx.post(
        f"{running.web[web].url}/widget/{widget_token}/messages", json={"text": text, "client_id": text}
    )
    assert answer.status_code == 201, answer.text
    [conversation] = wait_for(lambda: conversations(running, running.web[web].url), timeout=30)
    return conversation["id"]


def assignee(running: Cluster, web: int, conversation_id: str) -> str | None:
    answer = httpx.get(
        f"{running.web[web].url}/api/v1/conversations/{conversation_id}", headers=bearer(running.api_token)
    )
    return answer.json()["assignee_id"]


def test_an_agent_connected_on_one_process_is_online_on_the_other_and_routed_to(
    two_web_one_worker: Cluster,
) -> None:
    running = two_web_one_worker
    assert presence_seen_by(running, 1) == "offline"
    with ExitStack() as stack:
        agent_tab(stack, running, web=0)
        assert presence_seen_by(running, 1) == "online"
        conversation_id = new_conversation_through(running, 1, "routed across processes")
        wait_for(lambda: assignee(running, 1, conversation_id) == admin_id(running), timeout=30)
    wait_for(lambda: presence_seen_by(running, 1) == "offline", timeout=OFFLINE_WITHIN_SECONDS)


def test_closing_the_tab_on_one_process_keeps_the_agent_online_while_a_tab_on_another_stays_open(
    two_web_one_worker: Cluster,
) -> None:
    running = two_web_one_worker
    held = f"omnihub:presence:agent:{admin_id(running)}"
    with ExitStack() as second, redis.Redis.from_url(running.redis_url) as observer:
        agent_tab(second, running, web=1)
        with ExitStack() as first:
            agent_tab(first, running, web=0)
            conversation_id = new_conversation_through(running, 0, "kept across tabs")
            wait_for(lambda: assignee(running, 0, conversation_id) == admin_id(running), timeout=30)
        # The close is through (one connection left), then the other process's heartbeat holds that one for
        # longer than a time to live.
        wait_for(lambda: observer.zcard(held) == 1)
        expiry_at_close = newest_expiry(observer, held)
        wait_for(lambda: newest_expiry(observer, held) > expiry_at_close + 2000 * TIME_TO_LIVE_SECONDS)
        assert [presence_seen_by(running, web) for web in (0, 1)] == ["online", "online"]
        assert assignee(running, 0, conversation_id) == admin_id(running)
    wait_for(lambda: presence_seen_by(running, 0) == "offline", timeout=OFFLINE_WITHIN_SECONDS)
    wait_for(lambda: assignee(running, 0, conversation_id) is None, timeout=30)


def newest_expiry(observer: redis.Redis, held: str) -> float:
    """When the agent's newest connection lapses unless refreshed (ms, Redis's clock)."""
    return max((score for _, score in observer.zrange(held, 0, -1, withscores=True)), default=0.0)


def test_the_agents_of_a_killed_web_process_go_offline_within_the_time_to_live(
    two_web_one_worker: Cluster,
) -> None:
    running = two_web_one_worker
    with ExitStack() as stack:
        agent_tab(stack, running, web=0)
        conversation_id = new_conversation_through(running, 1, "held by a process that dies")
        wait_for(lambda: assignee(running, 1, conversation_id) == admin_id(running), timeout=30)
        running.web[0].kill()
        wait_for(lambda: presence_seen_by(running, 1) == "offline", timeout=OFFLINE_WITHIN_SECONDS)
        wait_for(lambda: assignee(running, 1, conversation_id) is None, timeout=30)
