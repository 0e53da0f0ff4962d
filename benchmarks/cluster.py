"""A production-mode deployment on this machine, started and torn down as a context manager.

A fresh PostgreSQL database, an owned Redis database index, `omnihub demo --json`, N `omnihub serve`
and M `omnihub worker` processes. Shared by the benchmarks and the production-mode tests, so it
knows how to run the hub and nothing about what is run against it.

    with production_cluster(web_processes=2, worker_processes=1) as cluster:
        httpx.get(f"{cluster.url}/healthz")
        cluster.inbox("webchat")["widget_token"]
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import redis
from sqlalchemy.engine import make_url

__all__ = ["Cluster", "ClusterFailed", "HubProcess", "production_cluster"]

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_SERVER_URL = "redis://127.0.0.1:6379"
STOP_TIMEOUT_SECONDS = 15.0
PR_SET_PDEATHSIG = 1


class ClusterFailed(RuntimeError):
    """A process of the deployment did not start; the message carries the end of its log."""


@dataclass
class HubProcess:
    """One `omnihub serve` (role "web", with `url`) or `omnihub worker` (role "worker", with `metrics_url`)."""

    role: str
    popen: subprocess.Popen
    log_path: Path
    url: str | None = None
    metrics_url: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL after `timeout`."""
        if not self.alive:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no graceful shutdown."""
        if self.alive:
            self.popen.kill()
            self.popen.wait()


@dataclass
class Cluster:
    """A running deployment: its processes, its URLs and what `omnihub demo --json` printed."""

    database_url: str
    redis_url: str
    env: dict[str, str]
    """The environment every process of the deployment runs with (OMNIHUB_* settings included)."""
    log_dir: Path
    host: str
    ready_timeout: float
    demo: dict[str, Any] = field(default_factory=dict)
    web: list[HubProcess] = field(default_factory=list)
    workers: list[HubProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The first web process, which is also the public URL callbacks and snippets are built from."""
        return self.env["OMNIHUB_PUBLIC_URL"]

    @property
    def api_token(self) -> str:
        return self.demo["api_token"]

    def inbox(self, kind: str) -> dict[str, Any]:
        """The demo inbox of channel `kind`, with its connection facts (widget token, callback URL, ...)."""
        for inbox in self.demo["inboxes"]:
            if inbox["kind"] == kind:
                return inbox
        raise KeyError(
            f"the demo has no {kind!r} inbox; it has {[inbox['kind'] for inbox in self.demo['inboxes']]}"
        )

    def omnihub(self, *arguments: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run one `omnihub` command against this deployment; raise ClusterFailed when it fails."""
        finished = subprocess.run(
            [_omnihub_executable(), *arguments], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if finished.returncode != 0:
            raise ClusterFailed(
                f"`omnihub {' '.join(arguments)}` exited {finished.returncode}:\n{finished.stderr[-4000:]}"
            )
        return finished

    def start_web(self, port: int | None = None, *, until_ready: bool = True) -> HubProcess:
        """Start one more `omnihub serve` and wait until its /readyz answers 200 (or, without `until_ready`,
        until it answers at all: a web process starts, and answers 503, while the database is away)."""
        process = self._spawn_web(port)
        if until_ready:
            return self.wait_ready(process)
        return self.wait_ready(process, path="/healthz")

    def start_worker(self) -> HubProcess:
        """Start one more `omnihub worker` and wait until its metrics port answers."""
        return self.wait_ready(self._spawn_worker())

    def wait_ready(self, process: HubProcess, path: str = "/readyz") -> HubProcess:
        """Poll the process's readiness URL (`path` of a web process); raise ClusterFailed (with its log) when it
        dies or times out."""
        ready_url = f"{process.url}{path}" if process.role == "web" else str(process.metrics_url)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if not process.alive:
                raise ClusterFailed(
                    f"{process.role} process exited with {process.popen.returncode}:\n{process.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    return process
            if time.monotonic() > deadline:
                raise ClusterFailed(
                    f"{process.role} process not ready after {self.ready_timeout}s:\n{process.log_tail()}"
                )
            time.sleep(0.1)

    def stop_all(self) -> None:
        for process in [*self.web, *self.workers]:
            process.stop()

    def _spawn_web(self, port: int | None) -> HubProcess:
        url = f"http://{self.host}:{port or _free_port(self.host)}"
        arguments = ["serve", "--host", self.host, "--port", url.rsplit(":", 1)[1]]
        process = self._spawn("web", arguments, url=url)
        self.web.append(process)
        return process

    def _spawn_worker(self) -> HubProcess:
        metrics_port = _free_port(self.host)
        process = self._spawn(
            "worker",
            ["worker", "--metrics-port", str(metrics_port)],
            metrics_url=f"http://{self.host}:{metrics_port}/metrics",
        )
        self.workers.append(process)
        return process

    def _spawn(self, role: str, arguments: list[str], **addresses: str) -> HubProcess:
        number = len(self.web if role == "web" else self.workers)
        log_path = self.log_dir / f"{role}-{number}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                [_omnihub_executable(), *arguments],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_terminate_with_launcher,
            )
        return HubProcess(role=role, popen=popen, log_path=log_path, **addresses)


@contextlib.contextmanager
def production_cluster(
    *,
    web_processes: int = 1,
    worker_processes: int = 1,
    env: Mapping[str, str] | None = None,
    database_prefix: str = "omnihub_cluster",
    redis_db: int = 9,
    postgres_admin_url: str = POSTGRES_ADMIN_URL,
    redis_server_url: str = REDIS_SERVER_URL,
    host: str = "127.0.0.1",
    ready_timeout: float = 60.0,
    log_dir: Path | None = None,
) -> Iterator[Cluster]:
    """Start the deployment, yield it, then stop every process and drop its database.

    The Redis database `redis_db` belongs to the cluster while it runs: it is emptied (FLUSHDB of
    that index only) at start and at the end. `env` adds or overrides OMNIHUB_* settings; the
    caller's own OMNIHUB_* variables are not inherited. Logs go to `log_dir` (kept) or to a
    temporary directory (removed).
    """
    if not 0 <= redis_db <= 15:
        raise ValueError(f"redis_db must be a database index 0-15, not {redis_db}")
    database_name = f"{database_prefix}_{uuid.uuid4().hex[:10]}"
    redis_url = f"{redis_server_url.rstrip('/')}/{redis_db}"
    database_url = make_url(postgres_admin_url).set(drivername="postgresql+asyncpg", database=database_name)
    with contextlib.ExitStack() as cleanup:
        scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="omnihub-cluster-")))
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        public_url = f"http://{host}:{_free_port(host)}"
        cluster = Cluster(
            database_url=database_url.render_as_string(hide_password=False),
            redis_url=redis_url,
            env=_process_environment(
                database_url.render_as_string(hide_password=False),
                redis_url,
                public_url,
                scratch / "data",
                env or {},
            ),
            log_dir=log_dir or scratch,
            host=host,
            ready_timeout=ready_timeout,
        )
        _empty_redis_db(redis_url)
        cleanup.callback(_empty_redis_db, redis_url)
        _postgres_admin(postgres_admin_url, f'CREATE DATABASE "{database_name}"')
        cleanup.callback(
            _postgres_admin, postgres_admin_url, f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)'
        )
        cleanup.callback(cluster.stop_all)
        cluster.demo = json.loads(cluster.omnihub("demo", "--json").stdout.strip().splitlines()[-1])
        starting = [
            cluster._spawn_web(port=int(public_url.rsplit(":", 1)[1]) if index == 0 else None)
            for index in range(web_processes)
        ]
        starting += [cluster._spawn_worker() for _ in range(worker_processes)]
        for process in starting:
            cluster.wait_ready(process)
        yield cluster


def _process_environment(
    database_url: str, redis_url: str, public_url: str, data_dir: Path, overrides: Mapping[str, str]
) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("OMNIHUB_")}
    return {
        **inherited,
        "OMNIHUB_DATABASE_URL": database_url,
        "OMNIHUB_REDIS_URL": redis_url,
        "OMNIHUB_SECRET_KEY": secrets.token_urlsafe(32),
        "OMNIHUB_PUBLIC_URL": public_url,
        "OMNIHUB_DATA_DIR": str(data_dir),
        **overrides,
    }


def _omnihub_executable() -> str:
    """The `omnihub` script of the running interpreter's environment (the virtualenv), else the one on PATH."""
    beside_python = Path(sys.executable).with_name("omnihub")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("omnihub")
    if found is None:
        raise ClusterFailed(
            "no `omnihub` command: install the project (pip install -e .) into this environment"
        )
    return found


def _terminate_with_launcher() -> None:
    """In the child before exec: Linux sends it SIGTERM when the launcher dies, so a killed benchmark or
    test run leaves no hub process behind (one would go on taking jobs from the Redis database)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _postgres_admin(admin_url: str, statement: str) -> None:
    """Run one statement on the admin database, from a thread so a caller's running event loop is no obstacle."""

    async def execute() -> None:
        connection = await asyncpg.connect(admin_url, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, execute()).result()


def _empty_redis_db(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()
