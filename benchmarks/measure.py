"""What a benchmark reports beside its figures: the machine, percentiles, and where the CPU went.

On a small shared machine the load generator, PostgreSQL, Redis and whatever else runs there
compete with the hub for the same cores, so every run says how the CPU was shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis

from benchmarks.cluster import Cluster, production_cluster
from hub.settings import Settings

__all__ = [
    "LATENCY_HEADER",
    "CpuAccount",
    "bench_cluster",
    "cores_busy_rows",
    "cpu_check_ms",
    "deployment_options",
    "describe_host",
    "describe_machine",
    "latency_rows",
    "median",
    "percentile",
    "percentile_shown",
    "postgres_rows",
    "resident_kib",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def deployment_options(description: str, *, web: int = 1, workers: int = 2) -> argparse.ArgumentParser:
    """The options every benchmark shares: the deployment it starts, and how long and how often it measures."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--web", type=int, default=web, help="omnihub serve processes")
    parser.add_argument("--workers", type=int, default=workers, help="omnihub worker processes")
    parser.add_argument(
        "--worker-threads",
        type=int,
        default=Settings.model_fields["worker_threads"].default,
        help="OMNIHUB_WORKER_THREADS of each worker (default: the hub's)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=9)
    return parser


def bench_cluster(options: argparse.Namespace, env: dict[str, str] | None = None):
    """The production deployment `deployment_options` describe, on a fresh benchmark database."""
    return production_cluster(
        web_processes=options.web,
        worker_processes=options.workers,
        database_prefix="omnihub_bench",
        redis_db=options.redis_db,
        env={
            "OMNIHUB_WORKER_THREADS": str(options.worker_threads),
            "OMNIHUB_LOG_LEVEL": "WARNING",
            **(env or {}),
        },
    )


def cpu_check_ms() -> float:
    """How long a fixed pure-Python loop takes right now, in ms: lower is a faster core.

    The cores of a shared virtual machine run at a speed that changes from minute to minute (the same
    loop took 95-410 ms on this machine within one hour), so each run reports it beside its figures.
    """
    started = time.perf_counter()
    total = 0
    for number in range(3_000_000):
        total += number * number
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.99 for P99) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile_shown(latencies: list[float], fraction: float) -> str:
    """A percentile in ms to one decimal, or `all lost` when no answer came back."""
    return f"{percentile(latencies, fraction):.1f}" if latencies else "all lost"


def latency_rows(runs: list[dict]) -> tuple[list[list[object]], float]:
    """Each run's P50/P99 of `latencies` (ms) beside its `/healthz` baseline and what it `lost`, then their medians;
    and the median P99 (infinite when no run got an answer)."""

    rows: list[list[object]] = [
        [
            number + 1,
            percentile_shown(run["latencies"], 0.5),
            percentile_shown(run["latencies"], 0.99),
            f"{percentile(run['baseline'], 0.5):.2f}",
            f"{percentile(run['baseline'], 0.99):.2f}",
            run["lost"],
        ]
        for number, run in enumerate(runs)
    ]
    answered = [run["latencies"] for run in runs if run["latencies"]] or [[float("inf")]]
    p99 = median([percentile(latencies, 0.99) for latencies in answered])
    rows.append(
        [
            "median",
            f"**{median([percentile(latencies, 0.5) for latencies in answered]):.1f}**",
            f"**{p99:.1f}**",
            f"**{median([percentile(run['baseline'], 0.5) for run in runs]):.2f}**",
            f"**{median([percentile(run['baseline'], 0.99) for run in runs]):.2f}**",
            sum(run["lost"] for run in runs),
        ]
    )
    return rows, p99


LATENCY_HEADER = ["run", "P50 ms", "P99 ms", "baseline /healthz P50 ms", "baseline /healthz P99 ms", "lost"]


def cores_busy_rows(runs: list[dict]) -> list[list[object]]:
    """The median share of a core each part of the deployment kept busy over the runs (`CpuAccount` figures)."""
    parts = ["web", "workers", "postgres", "redis", "load generator", "other"]
    return [
        [part, f"{median([run['cpu'][part] / run['cpu']['elapsed'] for run in runs]):.2f}"] for part in parts
    ]


def describe_machine(cluster: Cluster) -> dict[str, str]:
    return {
        **describe_host(),
        "postgresql": _postgres_version(cluster),
        "redis": redis.Redis.from_url(cluster.redis_url).info("server")["redis_version"],
    }


def describe_host() -> dict[str, str]:
    """The machine and the code, for a benchmark that needs no servers."""
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown"
        )
    return {
        "cpus": f"{os.cpu_count()} × {model}",
        "memory": f"{_meminfo_kib('MemTotal') / 1048576:.0f} GiB",
        "python": f"{platform.python_version()} ({sys.executable})",
        "kernel": platform.release(),
        "commit": _git_commit(),
    }


def resident_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for process {pid}")


@dataclass
class CpuAccount:
    """CPU seconds spent during a window by each part of the deployment and by the rest of the machine.

    Parts: the hub's web and worker processes, the PostgreSQL backends serving the cluster's
    database, redis-server, this process (the load generator), and "other": everything else the
    machine ran meanwhile (other users' jobs included), from /proc/stat.
    """

    cluster: Cluster
    _start: dict | None = None
    _end: dict | None = None

    def start(self) -> None:
        self._start = self._sample()
        self._end = None

    def mark(self) -> None:
        """End the window now, though `stop` comes later: a benchmark that then only waits for answers that never
        come (until their timeout) would otherwise count that idle wait as the window, and its cores as idle."""
        self._end = self._sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds per part from `start` to the last `mark` (or to now, without one), plus `elapsed` wall seconds
        and `capacity` (cores × elapsed)."""
        assert self._start is not None, "call start() first"
        end = self._end or self._sample()
        spent = {part: end[part] - self._start[part] for part in end if part != "postgres"}
        # Backends come and go with the pools: one that exited meanwhile took its CPU time with it
        # (a small undercount); one that started meanwhile counts from zero.
        before = self._start["postgres"]
        spent["postgres"] = sum(seconds - before.get(pid, 0.0) for pid, seconds in end["postgres"].items())
        ours = sum(value for part, value in spent.items() if part not in ("machine", "elapsed", "capacity"))
        spent["other"] = max(spent.pop("machine") - ours, 0.0)
        return spent

    def _sample(self) -> dict:
        backends = _postgres_backends(self.cluster)
        redis_pids = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-x", "redis-server"], capture_output=True, text=True
            ).stdout.split()
        ]
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return {
            "web": sum(_cpu_seconds(process.pid) for process in self.cluster.web),
            "workers": sum(_cpu_seconds(process.pid) for process in self.cluster.workers),
            "postgres": {pid: _cpu_seconds(pid) for pid in backends},
            "redis": sum(_cpu_seconds(pid) for pid in redis_pids),
            "load generator": _cpu_seconds(os.getpid()),
            "machine": (sum(fields) - idle) / CLOCK_TICKS,
            "capacity": sum(fields) / CLOCK_TICKS,
            "elapsed": time.monotonic(),
        }


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def _postgres_backends(cluster: Cluster) -> list[int]:
    return [
        row["pid"]
        for row in postgres_rows(
            cluster, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        )
    ]


def _postgres_version(cluster: Cluster) -> str:
    return postgres_rows(cluster, "SHOW server_version")[0]["server_version"]


def postgres_rows(cluster: Cluster, query: str) -> list:
    """Rows of one query on the cluster's database (from a thread: callers may have a running loop)."""

    async def fetch() -> list:
        connection = await asyncpg.connect(cluster.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return await connection.fetch(query)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, fetch()).result()


def _meminfo_kib(name: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    found = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (
        found.stdout.strip() + (" + uncommitted changes" if dirty else "")
        if found.returncode == 0
        else "unknown"
    )
