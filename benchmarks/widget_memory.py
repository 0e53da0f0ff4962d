"""Memory of idle widget WebSockets: what each open visitor socket costs one `omnihub serve` process.

Opens N visitor sockets (each gets its `ready` frame, so it is authenticated, rate-counted and
subscribed to its realtime channel) against one web process, started afresh for each
measurement, and reads that process's VmRSS before and after. Twice: with permessage-deflate offered, as browsers do, and without, to show
that the hub declines it (its compression contexts cost 41 KiB per socket). Baseline, in the same run on the same process: N idle
kept-alive HTTP connections that each made one `GET /healthz`.

    .venv/bin/python -m benchmarks.widget_memory [--sockets 5000] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio

from benchmarks.cluster import Cluster, production_cluster
from benchmarks.load import UNLIMITED_WIDGET_RATES, KeepAliveClient, connect_visitors, raise_open_file_limit
from benchmarks.measure import describe_machine, median, resident_kib
from benchmarks.results import record_section, table

TARGET_KIB_PER_SOCKET = 30
SETTLE_SECONDS = 3.0


def main() -> None:
    options = _options()
    limit = raise_open_file_limit(2 * options.sockets + 2048)
    if limit < options.sockets + 1024:
        raise SystemExit(
            f"the open-file limit is {limit}; {options.sockets} sockets need more (raise the hard limit)"
        )
    env = {**UNLIMITED_WIDGET_RATES, "OMNIHUB_LOG_LEVEL": "WARNING"}
    with production_cluster(
        web_processes=0,
        worker_processes=1,
        env=env,
        database_prefix="omnihub_bench",
        redis_db=options.redis_db,
    ) as cluster:
        machine = describe_machine(cluster)
        runs = asyncio.run(_measure(cluster, options))
    report = _report(options, runs)
    print(report)
    record_section("widget_memory", "Idle widget WebSockets: memory per socket", machine, report)


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--redis-db", type=int, default=9)
    return parser.parse_args()


async def _measure(cluster: Cluster, options: argparse.Namespace) -> list[dict[str, float]]:
    widget_token = cluster.inbox("webchat")["widget_token"]
    kinds = {
        "http": lambda url: _idle_http(url, options.sockets),
        "deflate": lambda url: connect_visitors([_widget_socket(url, widget_token)], options.sockets),
        "plain": lambda url: connect_visitors(
            [_widget_socket(url, widget_token)], options.sockets, compression=None
        ),
    }
    runs = []
    for number in range(options.runs):
        run = {
            kind: await _per_connection(cluster, widget_token, open_connections, options.sockets)
            for kind, open_connections in kinds.items()
        }
        runs.append(run)
        print(
            f"run {number + 1}: " + ", ".join(f"{kind} {kib:.1f} KiB" for kind, kib in run.items()),
            flush=True,
        )
    return runs


def _widget_socket(base_url: str, widget_token: str) -> str:
    return base_url.replace("http", "ws", 1) + f"/widget/{widget_token}/ws"


async def _per_connection(cluster: Cluster, widget_token: str, open_connections, count: int) -> float:
    """KiB of RSS per connection while `count` connections sit idle, on a web process started for this
    measurement (a process that had connections before keeps their freed memory, which would flatter it)."""
    web = await asyncio.to_thread(cluster.start_web)
    try:
        await connect_visitors([_widget_socket(web.url, widget_token)], 50)
        before = resident_kib(web.pid)
        connections = await open_connections(web.url)
        await asyncio.sleep(SETTLE_SECONDS)
        after = resident_kib(web.pid)
        await asyncio.gather(*(connection.close() for connection in connections))
    finally:
        await asyncio.to_thread(web.stop)
        cluster.web.remove(web)
    return (after - before) / count


async def _idle_http(base_url: str, count: int) -> list[KeepAliveClient]:
    gate = asyncio.Semaphore(100)

    async def one() -> KeepAliveClient:
        async with gate:
            client = await KeepAliveClient.connect(base_url)
            await client.get("/healthz")
            return client

    return await asyncio.gather(*(one() for _ in range(count)))


def _report(options: argparse.Namespace, runs: list[dict[str, float]]) -> str:
    labels = {
        "deflate": "visitor WebSocket, client offers permessage-deflate as browsers do (the hub declines it)",
        "plain": "visitor WebSocket, client offers no compression",
        "http": "baseline: idle keep-alive HTTP connection after GET /healthz",
    }
    rows = [
        [labels[key], *[f"{run[key]:.1f}" for run in runs], f"**{median([run[key] for run in runs]):.1f}**"]
        for key in ("deflate", "plain", "http")
    ]
    worst = median([run["deflate"] for run in runs])
    return "\n".join(
        [
            f"{options.sockets} connections at a time against one `omnihub serve` process (production mode, its VmRSS "
            f"read from /proc before and {SETTLE_SECONDS:.0f} s after opening them); {options.runs} runs.",
            "",
            table(
                ["connection", *[f"run {number + 1} KiB" for number in range(len(runs))], "median KiB"], rows
            ),
            "",
            f"Target: ≤ {TARGET_KIB_PER_SOCKET} KiB per idle widget socket as browsers connect (offering permessage-deflate): "
            f"**{'met' if worst <= TARGET_KIB_PER_SOCKET else 'not met'}**.",
        ]
    )


if __name__ == "__main__":
    main()
