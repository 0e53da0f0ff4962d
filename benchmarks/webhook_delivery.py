"""Webhook deliveries per second to a local receiver with 10 subscriptions, the delay from a change to the receiver
at half that rate, and what a receiver that is down costs the hub, in production mode.

The receiver is a keep-alive HTTP/1.1 endpoint on loopback in this process; each delivery's delay runs from its
event's `timestamp` (when the change was recorded) to its arrival. The changes are web chat messages (each one
`message.created`, sent to every subscription). Phases, on one deployment:

1. Baseline: web chat messages/s fully processed with no subscription (closed loop, as webchat_throughput).
2. Throughput: N subscriptions to `message.created`, and a backlog of copies of a real `message.created` written
   to the outbox at once (as if that many changes had just committed): deliveries/s received, first to last.
3. Delay: messages on a fixed schedule at half the target rate (500 deliveries/s; half the rate of phase 2 when
   that is lower, or `--delay-rate`): P50/P99 change → receiver.
4. A receiver down: one subscription whose endpoint answers 503 for `--down-seconds` (ten minutes scaled by
   `--scale`: the retry wait, `OMNIHUB_WEBHOOK_RETRY_SECONDS`, is scaled by the same factor, so as many retries fall
   in the outage), while the chat goes on at `--down-rate`: resident memory of the hub's processes over the outage,
   the chat's latency beside the same rate with the receiver up, and the time to catch up once it is back.

    .venv/bin/python -m benchmarks.webhook_delivery [--subscriptions 10] [--runs 3] [--seconds 10] [--scale 10]
        [--phases rate,delay,outage]

`--phases outage` measures the outage alone (phase 4, about three minutes); a run of fewer than all phases prints
its figures without recording them in RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import msgspec

from benchmarks.cluster import Cluster
from benchmarks.load import (
    UNLIMITED_WIDGET_RATES,
    AgentSocket,
    VisitorSocket,
    connect_visitors,
    open_loop,
    raise_open_file_limit,
)
from benchmarks.measure import (
    CpuAccount,
    bench_cluster,
    deployment_options,
    describe_machine,
    median,
    percentile,
    postgres_rows,
    resident_kib,
)
from benchmarks.results import record_section, table

TARGET_DELIVERIES = 1000
TARGET_P99_MS = 1000
PHASES = ("rate", "delay", "outage")
"""`rate` is phases 1 and 2 (the web chat's rate, then the deliveries'), `delay` phase 3, `outage` phase 4."""
OUTAGE_SECONDS = 600
RETRY_SECONDS = 10.0
"""The hub's default first retry wait (OMNIHUB_WEBHOOK_RETRY_SECONDS), scaled with the outage."""
MESSAGE_TIMEOUT_SECONDS = 30
DRAIN_TIMEOUT_SECONDS = 300
MEMORY_SAMPLE_SECONDS = 2.0


class Event(msgspec.Struct):
    id: str
    timestamp: datetime


@dataclass
class Receiver:
    """A CRM's endpoint: 200 for every POST, 503 on `down_paths`; each 2xx delivery's arrival and delay kept, and
    its first arrival by (path, event id), so the delay can be split into its stages and a repeat counted."""

    down_paths: set[bytes] = field(default_factory=set)
    arrivals: list[float] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    first_arrivals: dict[tuple[str, str], float] = field(default_factory=dict)
    repeats: int = 0
    refused: int = 0
    url: str = ""

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = msgspec.json.Decoder(Event)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, _, headers = head.partition(b"\r\n")
                path = request_line.split(b" ")[1]
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in headers.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                arrived = time.time()
                if path in self.down_paths:
                    self.refused += 1
                    writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown")
                else:
                    event = decoder.decode(body)
                    self.arrivals.append(arrived)
                    self.delays.append(arrived - event.timestamp.timestamp())
                    if self.first_arrivals.setdefault((path.decode(), event.id), arrived) != arrived:
                        self.repeats += 1
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
        except asyncio.CancelledError:
            # The run is over while the hub keeps this connection alive for its next deliveries: nothing is lost.
            writer.close()

    def received_since(self, mark: int) -> int:
        return len(self.arrivals) - mark


def main() -> None:
    options = _options()
    raise_open_file_limit(4 * options.visitors + 1024)
    env = {
        **UNLIMITED_WIDGET_RATES,
        "OMNIHUB_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
        "OMNIHUB_WEBHOOK_RETRY_SECONDS": f"{RETRY_SECONDS / options.scale:g}",
        "OMNIHUB_API_REQUESTS_PER_MINUTE": "100000",
    }
    with bench_cluster(options, env) as cluster:
        machine = describe_machine(cluster)
        results = asyncio.run(_measure(cluster, options))
    report = _report(options, results)
    print(report)
    if set(options.phases) == set(PHASES):
        record_section(
            "webhook_delivery", "Webhook deliveries: rate, delay, a receiver down", machine, report
        )


def _options() -> argparse.Namespace:
    parser = deployment_options(__doc__.split("\n\n")[0], workers=2)
    parser.set_defaults(redis_db=15)
    parser.add_argument("--subscriptions", type=int, default=10)
    parser.add_argument("--visitors", type=int, default=128, help="visitor sockets of the closed-loop chat")
    parser.add_argument(
        "--backlog", type=int, default=2000, help="events written at once for the delivery rate"
    )
    parser.add_argument("--scale", type=float, default=10.0, help="the ten-minute outage divided by this")
    parser.add_argument(
        "--delay-rate",
        type=float,
        default=None,
        help="deliveries/s of the delay phase (default: half the target rate, or of the measured rate if lower)",
    )
    parser.add_argument("--down-rate", type=float, default=50.0, help="chat messages/s during the outage")
    parser.add_argument(
        "--phases",
        type=_phases,
        default=PHASES,
        help="comma-separated phases to run, of rate, delay, outage (default: all; fewer are not recorded)",
    )
    options = parser.parse_args()
    if "delay" in options.phases and "rate" not in options.phases and options.delay_rate is None:
        parser.error("--phases delay without rate needs --delay-rate")
    return options


def _phases(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [phase for phase in chosen if phase not in PHASES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"phases are among {', '.join(PHASES)}, not {text!r}")
    return chosen


@dataclass
class Chat:
    """The web chat load: visitors on their WebSockets, and an agent's socket counting processed messages."""

    agent: AgentSocket
    visitors: list[VisitorSocket]
    labels: itertools.count = field(default_factory=itertools.count)

    async def closed_loop(self, seconds: float) -> float:
        """Each visitor sends its next message when the last came back processed; messages/s processed."""
        stop = time.monotonic() + seconds
        before = self.agent.count

        async def converse(visitor: VisitorSocket) -> None:
            while time.monotonic() < stop:
                acked, created = await visitor.send("Where is my order?", f"c{next(self.labels)}")
                await acked
                await created

        started = time.monotonic()
        await asyncio.gather(*(converse(visitor) for visitor in self.visitors))
        return (self.agent.count - before) / (time.monotonic() - started)

    async def on_schedule(self, rate: float, seconds: float) -> tuple[list[float], int]:
        """Messages at `rate`/s (open loop): ms from each one's scheduled time to the agent's socket, and lost."""
        latencies: list[float] = []
        lost = 0

        async def send(sequence: int, scheduled: float) -> None:
            nonlocal lost
            client_id = f"s{next(self.labels)}"
            arrival = self.agent.arrival(client_id)
            acked, _created = await self.visitors[sequence % len(self.visitors)].send(
                "Is it shipped?", client_id
            )
            try:
                await asyncio.wait_for(asyncio.gather(acked, arrival), MESSAGE_TIMEOUT_SECONDS)
            except (TimeoutError, RuntimeError):
                lost += 1
                return
            latencies.append((arrival.result() - scheduled) * 1000)

        await open_loop(rate, seconds, send)
        return latencies, lost


async def _measure(cluster: Cluster, options: argparse.Namespace) -> dict:
    receiver = Receiver()
    server = await receiver.start()
    widget_token = cluster.inbox("webchat")["widget_token"]
    visitors = await connect_visitors(
        [process.url.replace("http", "ws", 1) + f"/widget/{widget_token}/ws" for process in cluster.web],
        options.visitors,
    )
    for visitor in visitors:
        visitor.listen()
    chat = Chat(await AgentSocket.connect(cluster.url, cluster.api_token), visitors)
    api = httpx.AsyncClient(base_url=cluster.url, headers={"Authorization": f"Bearer {cluster.api_token}"})
    results: dict = {"baseline": [], "throughput": [], "delay": []}
    await chat.closed_loop(3.0)
    if "rate" in options.phases:
        results["baseline"] = [await _baseline_run(chat, options, number) for number in range(options.runs)]
    if {"rate", "delay"} & set(options.phases):
        subscriptions = [
            await _subscribe(api, f"{receiver.url}/crm/{number}", ["message.created"])
            for number in range(options.subscriptions)
        ]
        await chat.on_schedule(20.0, 1.0)
        await _drained(cluster)
        if "rate" in options.phases:
            results["throughput"] = [
                await _throughput_run(cluster, receiver, options, number) for number in range(options.runs)
            ]
        if "delay" in options.phases:
            results["delay"] = await _delay_runs(cluster, chat, receiver, options, results["throughput"])
        for subscription in subscriptions:
            await api.patch(f"/api/v1/webhooks/{subscription}", json={"enabled": False})
    if "outage" in options.phases:
        results["outage"] = await _outage(cluster, chat, receiver, api, options)
    results["repeats"] = receiver.repeats
    await api.aclose()
    await asyncio.gather(chat.agent.close(), *(visitor.close() for visitor in visitors))
    server.close()
    return results


async def _baseline_run(chat: Chat, options: argparse.Namespace, number: int) -> float:
    rate = await chat.closed_loop(options.seconds)
    print(f"baseline run {number + 1}: {rate:.0f} chat messages/s without subscriptions", flush=True)
    return rate


async def _throughput_run(
    cluster: Cluster, receiver: Receiver, options: argparse.Namespace, number: int
) -> dict:
    account = CpuAccount(cluster)
    account.start()
    _copy_events(cluster, options.backlog)
    mark = len(receiver.arrivals)
    await _drained(cluster)
    cpu = account.stop()
    arrivals = receiver.arrivals[mark:]
    delivered = len(arrivals) / (arrivals[-1] - arrivals[0])
    print(f"throughput run {number + 1}: {delivered:.0f} deliveries/s ({len(arrivals)} received)", flush=True)
    return {"deliveries": delivered, "count": len(arrivals), "cpu": cpu}


async def _delay_runs(
    cluster: Cluster, chat: Chat, receiver: Receiver, options: argparse.Namespace, throughput: list[dict]
) -> list[dict]:
    delay_rate = (
        options.delay_rate or min(median([run["deliveries"] for run in throughput]), TARGET_DELIVERIES) / 2
    )
    message_rate = delay_rate / options.subscriptions
    runs = []
    for number in range(options.runs):
        mark = len(receiver.delays)
        started = time.time()
        _latencies, lost = await chat.on_schedule(message_rate, options.seconds)
        await _drained(cluster)
        delays = [delay * 1000 for delay in receiver.delays[mark:]]
        runs.append(
            {
                "delays": delays,
                "lost": lost,
                "rate": message_rate * options.subscriptions,
                **_delay_stages(cluster, receiver, started),
            }
        )
        print(
            f"delay run {number + 1}: {message_rate * options.subscriptions:.0f} deliveries/s scheduled, "
            f"P50 {percentile(delays, 0.5):.0f} ms, P99 {percentile(delays, 0.99):.0f} ms",
            flush=True,
        )
    return runs


async def _outage(
    cluster: Cluster, chat: Chat, receiver: Receiver, api: httpx.AsyncClient, options: argparse.Namespace
) -> dict:
    """The chat at `down_rate` with one subscriber up, then with it down for the scaled ten minutes, then back."""
    await _subscribe(api, f"{receiver.url}/down", ["message.created"])
    processes = [*cluster.web, *cluster.workers]
    down_seconds = OUTAGE_SECONDS / options.scale
    up_latencies, up_lost = await chat.on_schedule(options.down_rate, min(down_seconds, 20.0))
    await _drained(cluster)
    memory_before = {process.pid: resident_kib(process.pid) for process in processes}
    receiver.down_paths.add(b"/down")
    samples: list[dict[int, int]] = []

    async def sample_memory() -> None:
        while True:
            samples.append({process.pid: resident_kib(process.pid) for process in processes})
            await asyncio.sleep(MEMORY_SAMPLE_SECONDS)

    sampler = asyncio.create_task(sample_memory())
    down_latencies, down_lost = await chat.on_schedule(options.down_rate, down_seconds)
    queued = _pending(cluster)
    sampler.cancel()
    memory_end = {process.pid: resident_kib(process.pid) for process in processes}
    receiver.down_paths.clear()
    back = time.monotonic()
    await _drained(cluster)
    return {
        "up": (up_latencies, up_lost),
        "down": (down_latencies, down_lost),
        "queued": queued,
        "refused": receiver.refused,
        "catch_up": time.monotonic() - back,
        "memory": [
            {
                "role": process.role,
                "before": memory_before[process.pid],
                "peak": max(sample[process.pid] for sample in samples),
                "end": memory_end[process.pid],
            }
            for process in processes
        ],
        "seconds": down_seconds,
    }


async def _subscribe(api: httpx.AsyncClient, url: str, events: list[str]) -> str:
    answer = await api.post("/api/v1/webhooks", json={"url": url, "events": events})
    answer.raise_for_status()
    return answer.json()["id"]


def _copy_events(cluster: Cluster, count: int) -> None:
    """`count` copies of the latest `message.created` written to the outbox at once, as if that many changes had
    just been committed: the dispatcher and the deliveries are then measured on their own."""
    postgres_rows(
        cluster,
        "INSERT INTO outbox_event (id, workspace_id, event_type, subject_id, payload, created_at) "
        "SELECT gen_random_uuid()::text, workspace_id, event_type, subject_id, payload, now() "
        "FROM (SELECT * FROM outbox_event WHERE event_type = 'message.created' ORDER BY id DESC LIMIT 1) latest, "
        f"generate_series(1, {int(count)})",
    )


STAGES = ("change → dispatched", "dispatched → sent", "sent → received")


def _delay_stages(cluster: Cluster, receiver: Receiver, since: float) -> dict:
    """Each delivery dispatched since `since`, its delay split in ms: change (the event's `created_at`) →
    dispatched (the delivery row's `created_at`) → sent (its attempt's time, when its batch was claimed: by the
    dispatch itself for a batch it delivers at once, so that stage is 0) → received; how many needed more than one attempt, and the slowest one's stages."""
    rows = postgres_rows(
        cluster,
        "SELECT d.event_id, s.url, d.attempts, extract(epoch FROM e.created_at) AS changed, "
        "extract(epoch FROM d.created_at) AS dispatched, extract(epoch FROM d.delivered_at) AS sent "
        "FROM webhook_delivery d JOIN webhook_subscription s ON s.id = d.subscription_id "
        "JOIN outbox_event e ON e.id = d.event_id "
        f"WHERE d.created_at >= to_timestamp({since}) AND d.status = 'delivered'",
    )
    stages: list[tuple[float, float, float]] = []
    for row in rows:
        received = receiver.first_arrivals.get((row["url"][len(receiver.url) :], row["event_id"]))
        if received is not None:
            changed, dispatched, sent = (float(row[key]) for key in ("changed", "dispatched", "sent"))
            stages.append(
                ((dispatched - changed) * 1000, (sent - dispatched) * 1000, (received - sent) * 1000)
            )
    return {
        "stages": stages,
        "retried": sum(1 for row in rows if row["attempts"] > 1),
        "slowest": max(stages, key=sum, default=(0.0, 0.0, 0.0)),
    }


def _pending(cluster: Cluster) -> int:
    """Deliveries not yet received: waiting in the outbox or as pending delivery rows."""
    rows = postgres_rows(
        cluster,
        "SELECT (SELECT count(*) FROM webhook_delivery WHERE status = 'pending') "
        "+ (SELECT count(*) FROM outbox_event WHERE dispatched_at IS NULL) AS n",
    )
    return rows[0]["n"]


async def _drained(cluster: Cluster) -> None:
    """Wait until nothing is pending, asking PostgreSQL from a thread: the receiver shares this event loop, and a
    look blocking it held back the arrivals of the run's last deliveries, counted as the hub's delay."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while await asyncio.to_thread(_pending, cluster):
        if time.monotonic() > deadline:
            raise RuntimeError(f"deliveries still pending after {DRAIN_TIMEOUT_SECONDS} s")
        await asyncio.sleep(0.2)


def _report(options: argparse.Namespace, results: dict) -> str:
    lines = [
        f"{options.web} web process(es), {options.workers} worker process(es) × {options.worker_threads} threads, "
        f"PostgreSQL and Redis on the same machine; {options.subscriptions} subscriptions to `message.created` "
        f"on one receiver (keep-alive HTTP/1.1 on loopback, in the load generator's process); chat over "
        f"{options.visitors} visitor WebSockets; {options.runs} runs of {options.seconds:.0f} s per phase.",
    ]
    if results["throughput"]:
        lines += _rate_report(options, results)
    if results["delay"]:
        lines += _delay_report(results)
    if results["throughput"] and results["delay"]:
        delivered = median([run["deliveries"] for run in results["throughput"]])
        p99 = median([percentile(run["delays"], 0.99) for run in results["delay"]])
        lines += [
            "",
            f"Targets: ≥ {TARGET_DELIVERIES} deliveries/s: "
            f"**{'met' if delivered >= TARGET_DELIVERIES else 'not met'}**; "
            f"P99 < {TARGET_P99_MS} ms at {median([run['rate'] for run in results['delay']]):.0f} deliveries/s: "
            f"**{'met' if p99 < TARGET_P99_MS else 'not met'}**.",
        ]
    if "outage" in results:
        lines += _outage_report(options, results["outage"])
    lines += [
        "",
        f"Deliveries the receiver accepted more than once (same event, same subscription): {results['repeats']}.",
    ]
    return "\n".join(lines)


def _rate_report(options: argparse.Namespace, results: dict) -> list[str]:
    throughput = results["throughput"]
    delivered = median([run["deliveries"] for run in throughput])
    baseline = median(results["baseline"])
    rows = [
        [number + 1, f"{run['deliveries']:.0f}", run["count"], f"{base:.0f}"]
        for number, (run, base) in enumerate(zip(throughput, results["baseline"], strict=True))
    ]
    rows.append(["median", f"**{delivered:.0f}**", "", f"**{baseline:.0f}**"])
    parts = ["workers", "postgres", "redis", "web", "load generator", "other"]
    cpu_rows = [
        [
            part,
            f"{median([run['cpu'][part] / run['count'] * 1000 for run in throughput]):.2f}",
            f"{median([run['cpu'][part] / run['cpu']['elapsed'] for run in throughput]):.2f}",
        ]
        for part in parts
    ]
    hub_ms = median([sum(run["cpu"][part] for part in parts[:3]) / run["count"] * 1000 for run in throughput])
    return [
        "",
        f"Deliveries received per second, first to last, of {options.backlog} `message.created` events written "
        f"to the outbox at once (× {options.subscriptions} subscriptions), beside the web chat's messages/s fully "
        "processed in a closed loop on the same deployment in the same run (before the subscriptions):",
        "",
        table(["run", "deliveries/s", "deliveries received", "web chat messages/s"], rows),
        "",
        "Where the CPU went while the backlog drained (`load generator` includes the receiver; `other` is "
        "everything else the shared machine ran meanwhile):",
        "",
        table(["part", "CPU ms per delivery", "cores busy"], cpu_rows),
        "",
        f"Workers, PostgreSQL and Redis together: {hub_ms:.2f} CPU ms per delivery, that is "
        f"{1000 / hub_ms:.0f} deliveries/s per core they would have to themselves.",
    ]


def _delay_report(results: dict) -> list[str]:
    delay_rows = [
        [
            number + 1,
            f"{run['rate']:.0f}",
            f"{percentile(run['delays'], 0.5):.0f}",
            f"{percentile(run['delays'], 0.99):.0f}",
            run["lost"],
        ]
        for number, run in enumerate(results["delay"])
    ]
    p99 = median([percentile(run["delays"], 0.99) for run in results["delay"]])
    delay_rows.append(
        [
            "median",
            "",
            f"**{median([percentile(run['delays'], 0.5) for run in results['delay']]):.0f}**",
            f"**{p99:.0f}**",
            "",
        ]
    )
    stage_rows = [
        [
            number + 1,
            *(
                f"{percentile([each[index] for each in run['stages']], 0.5):.0f} / "
                f"{percentile([each[index] for each in run['stages']], 0.99):.0f}"
                for index in range(len(STAGES))
            ),
            " / ".join(f"{part:.0f}" for part in run["slowest"]),
            run["retried"],
        ]
        for number, run in enumerate(results["delay"])
        if run["stages"]
    ]
    return [
        "",
        f"Delay from the change (the event's `timestamp`) to the receiver, at half the target rate (or of the "
        "measured rate when lower) unless `--delay-rate` says otherwise "
        f"({median([run['rate'] for run in results['delay']]):.0f} deliveries/s on a fixed schedule):",
        "",
        table(["run", "deliveries/s", "P50 ms", "P99 ms", "chat messages lost"], delay_rows),
        "",
        "Where the delay went, P50 / P99 ms of each stage (dispatched: the delivery row written; sent: its batch "
        "claimed, by the dispatch itself when it delivers at once), the slowest delivery's stages, and deliveries "
        "that needed more than one attempt:",
        "",
        table(["run", *STAGES, "slowest delivery", "retried"], stage_rows),
    ]


def _outage_report(options: argparse.Namespace, outage: dict) -> list[str]:
    up, down = outage["up"][0], outage["down"][0]
    memory_rows = [
        [
            entry["role"],
            f"{entry['before'] / 1024:.1f}",
            f"{entry['peak'] / 1024:.1f}",
            f"{entry['end'] / 1024:.1f}",
            f"{(entry['peak'] - entry['before']) / 1024:+.1f}",
        ]
        for entry in outage["memory"]
    ]
    return [
        "",
        f"A receiver down for {outage['seconds']:.0f} s (ten minutes scaled by 1/{options.scale:g}; retries "
        f"start at {RETRY_SECONDS / options.scale:g} s instead of {RETRY_SECONDS:g} s) while the chat goes on at "
        f"{options.down_rate:.0f} messages/s: it answered 503 {outage['refused']} times; "
        f"{outage['queued']} deliveries waited as rows at the end of the outage and were all received "
        f"{outage['catch_up']:.1f} s after it came back. Resident memory of the hub's processes (MiB):",
        "",
        table(["process", "before", "peak during the outage", "end of the outage", "growth"], memory_rows),
        "",
        "Chat latency (scheduled send → agent socket) at the same rate, the receiver up then down: "
        f"P50 {percentile(up, 0.5):.0f} / {percentile(down, 0.5):.0f} ms, "
        f"P99 {percentile(up, 0.99):.0f} / {percentile(down, 0.99):.0f} ms; "
        f"lost {outage['up'][1]} / {outage['down'][1]}.",
    ]


if __name__ == "__main__":
    main()
