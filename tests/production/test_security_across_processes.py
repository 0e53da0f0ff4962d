"""Production mode for real: sign-in limits and session revocation hold across web processes, and every
process stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from benchmarks.cluster import Cluster
from tests.conftest import bearer
from tests.production.test_multi_process import cluster, socket_url

pytestmark = pytest.mark.production

CLEAN_EXITS = (0, -signal.SIGTERM)
"""uvicorn re-raises the SIGTERM it handled once its shutdown is complete; the worker exits 0."""


@pytest.fixture(scope="module")
def two_web_processes(production_services: None) -> Iterator[Cluster]:
    with cluster(2, 0, OMNIHUB_LOGIN_ATTEMPTS_PER_ACCOUNT="3") as running:
        yield running


def test_sign_in_limits_hold_across_web_processes(two_web_processes: Cluster) -> None:
    answers = [
        httpx.post(
            f"{two_web_processes.web[attempt % 2].url}/api/v1/auth/login",
            json={"email": "target@example.com", "password": f"guess {attempt}"},
        )
        for attempt in range(4)
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_logout_on_one_web_process_closes_the_socket_on_another(two_web_processes: Cluster) -> None:
    running = two_web_processes
    signed_in = httpx.post(
        f"{running.web[0].url}/api/v1/auth/login",
        json={"email": running.demo["admin_email"], "password": running.demo["admin_password"]},
    )
    token = signed_in.json()["access_token"]
    with connect(socket_url(running.web[1].url, "/api/v1/agent/ws")) as socket:
        socket.send(json.dumps({"token": token}))
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        assert (
            httpx.post(f"{running.web[0].url}/api/v1/auth/logout", headers=bearer(token)).status_code == 204
        )
        assert json.loads(socket.recv(timeout=10))["code"] == "revoked_token"
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
        assert closed.value.rcvd.code == 4401


def test_serve_and_worker_stop_cleanly_on_sigterm(production_services: None) -> None:
    with cluster(1, 1) as running:
        web, worker = running.web[0], running.workers[0]
        with connect(socket_url(web.url, "/api/v1/agent/ws")) as socket:
            socket.send(json.dumps({"token": running.api_token}))
            assert json.loads(socket.recv(timeout=10))["type"] == "ready"
            for process in (web, worker):
                process.popen.send_signal(signal.SIGTERM)
            assert web.popen.wait(30) in CLEAN_EXITS
            assert worker.popen.wait(30) in CLEAN_EXITS
        for process in (web, worker):
            assert "Traceback" not in process.log_tail(400), process.log_tail()
        assert "worker stopped" in worker.log_tail()
        assert "Application shutdown complete" in web.log_tail()
