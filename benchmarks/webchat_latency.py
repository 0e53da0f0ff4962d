"""Latency from a visitor's message to the agent's WebSocket, at a steady rate, in production mode.

Visitor WebSockets send messages on a fixed schedule (open loop: a slow hub is not flattered by
a generator that waits for it); latency runs from each message's scheduled send time to its
`message.created` arriving on an agent's WebSocket. Baseline, in the same run on the same web
process: `GET /healthz` on the same schedule, from the scheduled send time to the answer.

    .venv/bin/python -m benchmarks.webchat_latency [--rate 500] [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.cluster import Cluster
from benchmarks.load import (
    UNLIMITED_WIDGET_RATES,
    AgentSocket,
    KeepAliveClient,
    connect_visitors,
    open_loop,
    raise_open_file_limit,
)
from benchmarks.measure import (
    LATENCY_HEADER,
    CpuAccount,
    bench_cluster,
    cores_busy_rows,
    deployment_options,
    describe_machine,
    latency_rows,
    percentile,
)
from benchmarks.results import record_section, table

TARGET_P99_MS = 250
BASELINE_CONNECTIONS = 64
MESSAGE_TIMEOUT_SECONDS = 30


def main() -> None:
    options = _options()
    raise_open_file_limit(4 * options.visitors + 1024)
    with bench_cluster(options, UNLIMITED_WIDGET_RATES) as cluster:
        machine = describe_machine(cluster)
        runs = asyncio.run(_measure(cluster, options))
    report = _report(options, runs)
    print(report)
    record_section("webchat_latency", "Web chat latency, visitor → agent WebSocket", machine, report)


def _options() -> argparse.Namespace:
    parser = deployment_options(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", type=float, default=500.0, help="messages per second (half the 1,000/s target)"
    )
    parser.add_argument("--visitors", type=int, default=200, help="visitor sockets the messages rotate over")
    return parser.parse_args()


async def _measure(cluster: Cluster, options: argparse.Namespace) -> list[dict]:
    web_urls = [process.url for process in cluster.web]
    widget_token = cluster.inbox("webchat")["widget_token"]
    agent = await AgentSocket.connect(cluster.url, cluster.api_token)
    visitors = await connect_visitors(
        [url.replace("http", "ws", 1) + f"/widget/{widget_token}/ws" for url in web_urls], options.visitors
    )
    for visitor in visitors:
        visitor.listen()
    await _messages(agent, visitors, options.rate, 2.0, "warm-up")
    runs = []
    for number in range(options.runs):
        baseline = await _healthz_latencies(web_urls, options.rate, options.seconds / 2)
        account = CpuAccount(cluster)
        account.start()
        latencies, lost = await _messages(agent, visitors, options.rate, options.seconds, f"run{number}")
        cpu = account.stop()
        runs.append({"latencies": latencies, "lost": lost, "baseline": baseline, "cpu": cpu})
        print(
            f"run {number + 1}: P50 {percentile(latencies, 0.5):.1f} ms, P99 {percentile(latencies, 0.99):.1f} ms "
            f"(/healthz P99 {percentile(baseline, 0.99):.1f} ms)",
            flush=True,
        )
    await asyncio.gather(agent.close(), *(visitor.close() for visitor in visitors))
    return runs


async def _messages(
    agent: AgentSocket, visitors, rate: float, seconds: float, label: str
) -> tuple[list[float], int]:
    """Milliseconds from each message's scheduled time to the agent socket, and how many never arrived."""
    latencies: list[float] = []
    lost = 0

    async def send(sequence: int, scheduled: float) -> None:
        nonlocal lost
        client_id = f"{label}-{sequence}"
        arrival = agent.arrival(client_id)
        acked, _created = await visitors[sequence % len(visitors)].send("Is my parcel on its way?", client_id)
        try:
            await asyncio.wait_for(asyncio.gather(acked, arrival), MESSAGE_TIMEOUT_SECONDS)
        except (TimeoutError, RuntimeError):
            lost += 1
            return
        latencies.append((arrival.result() - scheduled) * 1000)

    await open_loop(rate, seconds, send)
    return latencies, lost


async def _healthz_latencies(web_urls: list[str], rate: float, seconds: float) -> list[float]:
    clients = asyncio.Queue()
    for index in range(BASELINE_CONNECTIONS):
        clients.put_nowait(await KeepAliveClient.connect(web_urls[index % len(web_urls)]))
    latencies: list[float] = []

    async def send(_sequence: int, scheduled: float) -> None:
        client = await clients.get()
        try:
            await client.get("/healthz")
            latencies.append((time.perf_counter() - scheduled) * 1000)
        finally:
            clients.put_nowait(client)

    await open_loop(rate, seconds, send)
    while not clients.empty():
        await clients.get_nowait().close()
    return latencies


def _report(options: argparse.Namespace, runs: list[dict]) -> str:
    rows, p99 = latency_rows(runs)
    met = p99 < TARGET_P99_MS and not any(run["lost"] for run in runs)
    return "\n".join(
        [
            f"{options.rate:.0f} messages/s on a fixed schedule over {options.visitors} visitor WebSockets "
            f"(permessage-deflate offered, declined by the hub), {options.web} web process(es), {options.workers} worker process(es) × "
            f"{options.worker_threads} threads; {options.runs} runs of {options.seconds:.0f} s. Latency: scheduled send → "
            "`message.created` on the agent's WebSocket, so it includes the accept commit, the job, processing, the "
            "Redis fan-out and both sockets.",
            "",
            table(LATENCY_HEADER, rows),
            "",
            f"Target: P99 < {TARGET_P99_MS} ms at {options.rate:.0f}/s, nothing lost: **{'met' if met else 'not met'}**.",
            "",
            "Cores busy during the runs (median):",
            "",
            table(["part", "cores busy"], cores_busy_rows(runs)),
        ]
    )


if __name__ == "__main__":
    main()
