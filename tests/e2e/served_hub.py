"""Real `omnihub` processes for tests: an embedded `omnihub serve` on a data dir and port of its own,
and a stand-in for WeChat's API on a local port (outside the machine's hub, so respx cannot reach it)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx

from tests.conftest import wait_for

__all__ = [
    "FakeTwilioApi",
    "FakeWeChatApi",
    "ServedHub",
    "free_port",
    "omnihub_command",
    "served_hub",
    "stop_with_sigterm",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def omnihub_command() -> str:
    return str(Path(sys.executable).with_name("omnihub"))


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its OMNIHUB_* variables, plus `settings`."""
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("OMNIHUB_")},
        **settings,
    }


@dataclass
class ServedHub:
    url: str
    demo: dict[str, Any]
    log: Path
    process: subprocess.Popen
    environment: dict[str, str]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def served_hub(data_dir: Path, **settings: str) -> Iterator[ServedHub]:
    """`omnihub demo --json`, then `omnihub serve` in embedded mode with `settings` (OMNIHUB_* names), until healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = clean_environment(
        OMNIHUB_DATA_DIR=str(data_dir),
        OMNIHUB_HOST="127.0.0.1",
        OMNIHUB_PORT=str(port),
        OMNIHUB_PUBLIC_URL=url,
        **settings,
    )
    log = data_dir / "serve.log"
    with log.open("w") as output:
        demo = subprocess.run(
            [omnihub_command(), "demo", "--json"],
            env=environment,
            check=True,
            stdout=subprocess.PIPE,
            stderr=output,
            text=True,
            timeout=120,
        ).stdout
        server = subprocess.Popen(
            [omnihub_command(), "serve"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:

        def healthy() -> bool:
            assert server.poll() is None, f"omnihub serve exited:\n{log.read_text()}"
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            return False

        wait_for(healthy, timeout=60, interval=0.1)
        yield ServedHub(url, json.loads(demo), log, server, environment)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def stop_with_sigterm(process: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM, then the exit status (the test fails if the process is still running after `timeout`)."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout)


class StandInApi(ABC):
    """A channel API's stand-in on a free local port, in a thread: `answer(method, path, headers)` says what each
    request gets; every path asked is kept in `requests`."""

    requests: list[str]
    _server: ThreadingHTTPServer | None = None

    @abstractmethod
    def answer(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        """The status and JSON body this stand-in gives the request."""

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self._answer("POST")

            def _answer(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                api.requests.append(path)
                status, answer = api.answer(method, path, self.headers)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@dataclass
class FakeWeChatApi(StandInApi):
    """Answers the calls the WeChat connectors make: access tokens, user profiles, customer service sends (refused
    with `send_errcode` when it is not 0)."""

    access_token: str
    send_errcode: int = 0
    requests: list[str] = field(default_factory=list)

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        if path == "/cgi-bin/stable_token":
            return 200, {"access_token": self.access_token, "expires_in": 7200}
        if path == "/cgi-bin/user/info":
            return 200, {"openid": "o-fake", "nickname": "Fake"}
        if path == "/cgi-bin/message/custom/send" and self.send_errcode:
            return 200, {"errcode": self.send_errcode, "errmsg": "refused by the stand-in"}
        return 200, {"errcode": 0, "errmsg": "ok", "msgid": 1}


@dataclass
class FakeTwilioApi(StandInApi):
    """Answers the calls the Twilio SMS connector makes: the account lookup that proves the credentials and message
    creation, both refused (401) for any Auth Token but `auth_token`."""

    auth_token: str
    requests: list[str] = field(default_factory=list)

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        credentials = headers.get("authorization", "Basic ").split(" ", 1)[1]
        _, _, token = base64.b64decode(credentials).decode().partition(":")
        if token != self.auth_token:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if method == "POST":
            return 201, {"sid": "SM" + "e" * 32, "status": "queued"}
        return 200, {"status": "active"}
