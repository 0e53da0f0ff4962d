"""Servers of a test's own (PostgreSQL under a temporary directory, Redis), that the test may crash and start again.

The machine's PostgreSQL and Redis serve every other test; an outage must not reach them. PostgreSQL refuses to
run as root, so under root the cluster belongs to the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TemporaryPostgres", "TemporaryRedis", "temporary_postgres", "temporary_redis"]


@dataclass
class TemporaryPostgres:
    directory: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.directory / "server.log"), "-o", options)

    def crash(self) -> None:
        """What a crash or an operator's emergency stop does: every backend ends at once, no checkpoint."""
        self._pg_ctl("stop", "-m", "immediate", "-w")

    def _pg_ctl(self, *arguments: str) -> None:
        self.run_as_owner(str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), *arguments)

    def run_as_owner(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)


def find_postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or in Debian's versioned directory."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


@contextlib.contextmanager
def temporary_postgres() -> Iterator[TemporaryPostgres]:
    """A started cluster with trust authentication on a free port; stopped and removed afterwards."""
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no initdb found (on PATH or under /usr/lib/postgresql/*/bin)")
    run_as = "postgres" if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="omnihub-postgres-") as scratch:
        directory = Path(scratch)
        if run_as:
            owner = pwd.getpwnam(run_as)
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        server = TemporaryPostgres(directory, _free_port(), bin_dir, run_as)
        server.run_as_owner(
            str(bin_dir / "initdb"),
            "-D",
            str(directory / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.crash()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class TemporaryRedis:
    """A Redis server of a test's own (no persistence), which the test may kill and start again on its port."""

    directory: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", *arguments, "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.01)
        raise RuntimeError(f"redis-server did not listen on port {self.port}")

    def crash(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextlib.contextmanager
def temporary_redis() -> Iterator[TemporaryRedis]:
    with tempfile.TemporaryDirectory(prefix="omnihub-redis-") as scratch:
        server = TemporaryRedis(Path(scratch), _free_port())
        server.start()
        try:
            yield server
        finally:
            server.crash()
