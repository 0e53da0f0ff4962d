"""`omnihub serve` and `omnihub worker` as real processes: they refuse weak settings at once, stop cleanly on
SIGTERM, and take the client address from X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.served_hub import clean_environment, omnihub_command, served_hub, stop_with_sigterm

pytestmark = pytest.mark.e2e

PRODUCTION = {
    "OMNIHUB_REDIS_URL": "redis://127.0.0.1:6379/15",
    "OMNIHUB_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/never_reached",
}
CLEAN_EXITS = (0, -signal.SIGTERM)
"""uvicorn re-raises the SIGTERM it handled once its shutdown is complete; the worker exits 0."""


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (PRODUCTION, "OMNIHUB_SECRET_KEY must be set in production mode"),
        ({**PRODUCTION, "OMNIHUB_SECRET_KEY": ""}, "OMNIHUB_SECRET_KEY: must be at least 32 characters"),
        (
            {**PRODUCTION, "OMNIHUB_SECRET_KEY": "a-guessable-key"},
            "OMNIHUB_SECRET_KEY: must be at least 32 characters",
        ),
        ({"OMNIHUB_SECRET_KEY": "x" * 31}, "OMNIHUB_SECRET_KEY: must be at least 32 characters"),
    ],
    ids=["production-without-key", "production-empty-key", "production-short-key", "embedded-short-key"],
)
def test_weak_secret_keys_stop_serve_and_worker_at_once(
    tmp_path: Path, command: str, settings: dict[str, str], complaint: str
) -> None:
    started = time.monotonic()
    environment = clean_environment(OMNIHUB_DATA_DIR=str(tmp_path), **settings)
    finished = subprocess.run(
        [omnihub_command(), command], env=environment, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 1
    assert complaint in finished.stderr
    assert "Traceback" not in finished.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "omnihub.db").exists(), "nothing was started"


def test_embedded_serve_stops_cleanly_on_sigterm_with_sockets_open(tmp_path: Path) -> None:
    with served_hub(tmp_path) as hub:
        ws_url = hub.url.replace("http://", "ws://")
        widget = next(inbox["widget_token"] for inbox in hub.demo["inboxes"] if inbox["kind"] == "webchat")
        with (
            connect(f"{ws_url}/api/v1/agent/ws") as agent,
            connect(f"{ws_url}/widget/{widget}/ws") as visitor,
        ):
            agent.send(json.dumps({"token": hub.demo["api_token"]}))
            assert json.loads(agent.recv(timeout=10))["type"] == "ready"
            visitor.send(json.dumps({"visitor_token": None}))
            assert json.loads(visitor.recv(timeout=10))["type"] == "ready"
            assert stop_with_sigterm(hub.process) in CLEAN_EXITS
        log = hub.log_text()
        assert "Application shutdown complete" in log
        assert "Traceback" not in log and "level=ERROR" not in log, log


def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path: Path) -> None:
    """Rotating X-Forwarded-For from an untrusted peer does not escape the per-IP limit."""

    def statuses(url: str, widget: str, forwarded_for: list[str]) -> list[int]:
        return [
            httpx.post(
                f"{url}/widget/{widget}/messages",
                json={"text": "hi", "client_id": "c"},
                headers={"X-Forwarded-For": address},
            ).status_code
            for address in forwarded_for
        ]

    limits = {"OMNIHUB_IP_RATE_PER_MINUTE": "2", "OMNIHUB_EMBEDDED_WORKER": "false"}
    (tmp_path / "untrusted").mkdir()
    with served_hub(tmp_path / "untrusted", **limits) as hub:
        widget = next(inbox["widget_token"] for inbox in hub.demo["inboxes"] if inbox["kind"] == "webchat")
        assert statuses(hub.url, widget, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [201, 201, 429]
    (tmp_path / "trusted").mkdir()
    with served_hub(tmp_path / "trusted", OMNIHUB_TRUSTED_PROXIES="127.0.0.1/32", **limits) as hub:
        widget = next(inbox["widget_token"] for inbox in hub.demo["inboxes"] if inbox["kind"] == "webchat")
        assert statuses(hub.url, widget, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [201, 201, 201]
        assert statuses(hub.url, widget, ["203.0.113.9", "10.9.9.9, 203.0.113.9", "203.0.113.9"]) == [
            201,
            201,
            429,
        ], "the last untrusted address is the client, whatever the client wrote before it"
