"""Web chat messages per second accepted and fully processed, end to end, in production mode.

Visitors on the widget WebSocket each send a message, wait until it comes back processed
(`message.created` on their own socket) and send the next: a closed loop. Throughput is what an
agent's WebSocket receives as `message.created` per second. Baseline, in the same run on the
same web processes before each run, with the chat paused and drained: `GET /healthz`, a trivial
Litestar endpoint, as fast as the same load generator can ask. Enough visitors are connected to
keep the pipeline full (fewer leave the hub waiting on round trips rather than busy). Also shown: where the CPU went, SQL statements and transactions per message,
and, with --profile, the hottest functions of a web and a worker process (py-spy).

With --identified, each visitor is first identified by the business's site (a signed identify call with a user
id, an email and a phone), so every message resolves a visitor linked to a contact with four identities; its
figures are recorded in their own section, beside the plain run's.

    .venv/bin/python -m benchmarks.webchat_throughput [--web 1] [--workers 2] [--visitors 768] [--runs 3]
        [--identified]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import itertools
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.cluster import Cluster
from benchmarks.hot_path import round_trips_per_message
from benchmarks.load import (
    UNLIMITED_WIDGET_RATES,
    AgentSocket,
    closed_loop_rate,
    connect_visitors,
    raise_open_file_limit,
)
from benchmarks.measure import (
    CpuAccount,
    bench_cluster,
    deployment_options,
    describe_machine,
    median,
    postgres_rows,
)
from benchmarks.results import record_section, table

TARGET_RATE = 1000
TARGET_SHARE_OF_BASELINE = 0.2
BASELINE_CONNECTIONS = 64
BUSY_MARKERS = ("Handle._run ", "uvicorn/protocols/", "litestar/")


def main() -> None:
    options = _options()
    raise_open_file_limit(4 * options.visitors + 1024)
    with bench_cluster(options, UNLIMITED_WIDGET_RATES) as cluster:
        machine = describe_machine(cluster)
        runs, profiles = asyncio.run(_measure(cluster, options))
        left_pending = postgres_rows(
            cluster, "SELECT count(*) AS n FROM inbound_event WHERE status <> 'processed'"
        )
        round_trips = asyncio.run(round_trips_per_message(cluster))
    report = _report(options, runs, round_trips, left_pending[0]["n"], profiles)
    print(report)
    if options.identified:
        record_section(
            "webchat_throughput_identified",
            "Web chat throughput with identified visitors (identities resolved and linked)",
            machine,
            report,
        )
    else:
        record_section(
            "webchat_throughput", "Web chat throughput (accepted and fully processed)", machine, report
        )


def _options() -> argparse.Namespace:
    parser = deployment_options(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--visitors", type=int, default=768, help="visitor sockets, each one message in flight"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the first run")
    parser.add_argument(
        "--profile", action="store_true", help="sample a web and a worker process with py-spy"
    )
    parser.add_argument(
        "--identified", action="store_true", help="identify every visitor (signed) before the load starts"
    )
    return parser.parse_args()


async def _measure(cluster: Cluster, options: argparse.Namespace) -> tuple[list[dict], dict[str, list[str]]]:
    web_urls = [process.url for process in cluster.web]
    widget_token = cluster.inbox("webchat")["widget_token"]
    agent = await AgentSocket.connect(cluster.url, cluster.api_token)
    visitors = await connect_visitors(
        [url.replace("http", "ws", 1) + f"/widget/{widget_token}/ws" for url in web_urls], options.visitors
    )
    for visitor in visitors:
        visitor.listen()
    if options.identified:
        await _identify(cluster, widget_token, [visitor.visitor_token for visitor in visitors])
    sending = True
    chatting = asyncio.Event()
    in_flight = [0]

    async def converse(visitor) -> None:
        for number in itertools.count():
            await chatting.wait()
            if not sending:
                return
            in_flight[0] += 1
            try:
                acked, created = await visitor.send(
                    "Hello, where is my order?", f"{visitor.visitor_token[-12:]}-{number}"
                )
                await acked
                await created
            finally:
                in_flight[0] -= 1

    async def baseline_alone() -> float:
        """The trivial endpoint's rate with the chat paused and drained, so the two never share the server."""
        chatting.clear()
        while in_flight[0]:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        rate = await closed_loop_rate(web_urls, "/healthz", BASELINE_CONNECTIONS, options.seconds / 2)
        chatting.set()
        await asyncio.sleep(options.warmup / 2)
        return rate

    chatting.set()
    conversations = [asyncio.create_task(converse(visitor)) for visitor in visitors]
    await asyncio.sleep(options.warmup)
    runs, profiles = [], {}
    for number in range(options.runs):
        baseline = await baseline_alone()
        account = CpuAccount(cluster)
        commits_before = _commits(cluster)
        account.start()
        received_before, started = agent.count, time.monotonic()
        if options.profile and number == 0:
            profiles = await _profile(cluster, options.seconds)
        else:
            await asyncio.sleep(options.seconds)
        messages, elapsed = agent.count - received_before, time.monotonic() - started
        cpu = account.stop()
        runs.append(
            {
                "rate": messages / elapsed,
                "baseline": baseline,
                "messages": messages,
                "cpu": cpu,
                "commits": (_commits(cluster) - commits_before) / max(messages, 1),
            }
        )
        print(
            f"run {number + 1}: {messages / elapsed:.0f} messages/s, /healthz {baseline:.0f} requests/s",
            flush=True,
        )
    sending = False
    chatting.set()
    await asyncio.wait_for(asyncio.gather(*conversations), timeout=60)
    await asyncio.gather(agent.close(), *(visitor.close() for visitor in visitors))
    return runs, profiles


async def _identify(cluster: Cluster, widget_token: str, visitor_tokens: list[str]) -> None:
    """Each visitor signed in on the business's site: an app user id, an email and a phone, signed (docs/identify.md)."""
    secret = cluster.inbox("webchat")["identity_secret"].encode()
    gate = asyncio.Semaphore(32)

    async def one(client: httpx.AsyncClient, number: int, token: str) -> None:
        user_id = f"bench-user-{number}"
        claims = {
            "user_id": user_id,
            "email": f"bench{number}@example.com",
            "phone": f"+1415555{number:04d}",
            "identifier_hash": hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest(),
        }
        async with gate:
            answer = await client.post(
                f"/widget/{widget_token}/identify", json=claims, headers={"Authorization": f"Bearer {token}"}
            )
        answer.raise_for_status()
        if not answer.json()["verified"]:
            raise RuntimeError(f"visitor {number} was not verified: {answer.text}")

    async with httpx.AsyncClient(base_url=cluster.url, timeout=60) as client:
        await asyncio.gather(*(one(client, number, token) for number, token in enumerate(visitor_tokens)))


def _commits(cluster: Cluster) -> int:
    rows = postgres_rows(
        cluster, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    return rows[0]["xact_commit"]


async def _profile(cluster: Cluster, seconds: float) -> dict[str, list[str]]:
    """py-spy (the `bench` extra) on the first web and worker process; the hottest functions of each, by own time."""
    targets = {"web": cluster.web[0].pid, "worker": cluster.workers[0].pid}
    with tempfile.TemporaryDirectory() as scratch:
        outputs = {role: Path(scratch) / f"{role}.txt" for role in targets}
        samplers = [
            await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(outputs[role]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for role, pid in targets.items()
        ]
        await asyncio.gather(*(sampler.wait() for sampler in samplers))
        return {role: _hottest(output) for role, output in outputs.items() if output.exists()}


def _hottest(collapsed: Path, count: int = 10) -> list[str]:
    """The hub's functions by inclusive share, then any function by own share, of the samples in which the
    process was running code (asyncio or uvloop callbacks, uvicorn's protocols), not waiting."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        functions = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        if not any(marker in function for function in functions for marker in BUSY_MARKERS):
            continue
        busy += int(samples)
        own[functions[-1]] += int(samples)
        for function in set(functions):
            if "(hub/" in function and "(hub/cli.py)" not in function:
                inclusive[function] += int(samples)
    busy = max(busy, 1)
    return [f"{share / busy:.0%} (with callees) {name}" for name, share in inclusive.most_common(count)] + [
        f"{share / busy:.0%} (own time) {name}" for name, share in own.most_common(count)
    ]


def _report(options, runs: list[dict], round_trips, left_pending: int, profiles: dict[str, list[str]]) -> str:
    rate = median([run["rate"] for run in runs])
    baseline = median([run["baseline"] for run in runs])
    rows = [
        [number + 1, f"{run['rate']:.0f}", f"{run['baseline']:.0f}", f"{run['rate'] / run['baseline']:.1%}"]
        for number, run in enumerate(runs)
    ]
    rows.append(["median", f"**{rate:.0f}**", f"**{baseline:.0f}**", f"**{rate / baseline:.1%}**"])
    parts = ["web", "workers", "postgres", "redis", "load generator", "other"]
    cpu_rows = [
        [
            part,
            f"{median([run['cpu'][part] / run['messages'] * 1000 for run in runs]):.2f}",
            f"{median([run['cpu'][part] / (run['cpu']['elapsed']) for run in runs]):.2f}",
        ]
        for part in parts
    ]
    met = rate >= TARGET_RATE and rate / baseline >= TARGET_SHARE_OF_BASELINE
    lines = [
        f"Deployment: {options.web} web process(es), {options.workers} worker process(es) × {options.worker_threads} "
        f"threads; {options.visitors} visitor WebSockets, one message in flight each (permessage-deflate offered "
        f"as browsers do, and declined by the hub); one agent WebSocket; {options.runs} runs of {options.seconds:.0f} s after "
        f"{options.warmup:.0f} s of warm-up. Widget rate limits lifted (all visitors share 127.0.0.1) but still "
        "counted in Redis per message."
        + (
            " Every visitor was identified first (signed: app user id, email, phone), so each message resolves "
            "a visitor linked to a contact with four identities."
            if options.identified
            else ""
        ),
        "",
        table(
            ["run", "messages/s fully processed", "baseline: /healthz requests/s", "share of baseline"], rows
        ),
        "",
        f"Target: ≥ {TARGET_RATE} messages/s and ≥ {TARGET_SHARE_OF_BASELINE:.0%} of the baseline: "
        f"**{'met' if met else 'not met'}**. Events left unprocessed at the end: {left_pending}.",
        "",
        "Where the CPU went (median of runs; `other` is everything else the shared machine ran meanwhile):",
        "",
        table(["part", "CPU ms per message", "cores busy"], cpu_rows),
        "",
        f"PostgreSQL commits per message (pg_stat_database): {median([run['commits'] for run in runs]):.2f}.",
        "",
        "SQL per message on the inbound path (counted in-process on the same database; each transaction also "
        "costs a BEGIN and a COMMIT round trip, the accept's single INSERT runs in autocommit):",
        "",
        table(
            ["step", "SQL statements per message", "transactions per message"],
            [
                [step, f"{statements:.2f}", f"{transactions:.2f}"]
                for step, statements, transactions in round_trips
            ],
        ),
    ]
    for role, hottest in profiles.items():
        lines += [
            "",
            f"py-spy, {role} process, share of the event loop's busy samples:",
            "",
            *[f"- {entry}" for entry in hottest],
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
