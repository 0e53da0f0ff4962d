"""An embedded hub's whole life in one process: what it starts, it stops.

A process makes more than one hub over its life (the test suite, a command run beside an app); a thread each one
left behind would wake and take the interpreter's lock for as long as the process lives.
"""

from __future__ import annotations

import threading
import time

from litestar.testing import TestClient

from hub.app import create_app
from tests.conftest import bearer, inbox_of, wait_for


def serve_one_message(settings, demo) -> None:
    """Start the hub, have its worker process a visitor's message, and stop it."""
    widget = inbox_of(demo, "webchat")["widget_token"]
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        sent = client.post(f"/widget/{widget}/messages", json={"text": "hello", "client_id": "one"})
        assert sent.status_code == 201, sent.text
        wait_for(
            lambda: client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"]
        )


def test_a_stopped_hub_leaves_no_thread_running(settings, demo):
    serve_one_message(settings, demo)
    running_before = set(threading.enumerate())
    for _ in range(3):
        serve_one_message(settings, demo)
    deadline = time.monotonic() + 5
    while (left_behind := set(threading.enumerate()) - running_before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left_behind, sorted(thread.name for thread in left_behind)
