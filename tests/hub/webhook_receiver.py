"""A CRM's webhook endpoint on loopback, and the Standard Webhooks check as a receiver writes it from the
specification (independently of `normalizer.webhook_signature`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300


def standard_webhooks_valid(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """`whsec_` secret, `msg_id.timestamp.body` signed with HMAC-SHA256, any `v1,` signature of the header
    accepted, the timestamp within five minutes."""
    key = base64.b64decode(secret.split("_", 1)[1])
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    for signature in headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """Records every POST; answers each path's queued statuses first, then 200. `before_answer`, when set, is
    called with each request's path before it is answered (what else happens meanwhile, for a test)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: dict[str, deque[int]] = {}
        self.before_answer: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if receiver.before_answer is not None:
                    receiver.before_answer(self.path)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    queued = receiver.answers.get(self.path)
                    status = queued.popleft() if queued else 200
                    if queued is not None and not queued and status >= 400:
                        queued.append(status)
                self.send_response(status)
                answer = b'{"ok": true}' if status < 300 else b'{"error": "receiver is down"}'
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Requests are asserted on, not printed into the test's output."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *statuses: int) -> None:
        """Answer `path` with these statuses in turn; a last error status is kept answering (a receiver down)."""
        with self._lock:
            self.answers[path] = deque(statuses)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [each for each in self.received if each.path == path]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
