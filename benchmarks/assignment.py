"""Assignment in production mode: 200 agents online, new web chat conversations arriving on several workers.

Three phases on one deployment (PostgreSQL, Redis, web and worker processes):

1. Arrivals: new visitors each open a conversation over the widget's HTTP API as fast as the load generator's
   connections are answered; the workers route each as it is stored. Assignments per second are the
   `conversation.assigned` frames an agent's socket receives per second, beside the web chat throughput of the
   same run (new conversations fully processed per second, `conversation.created` on the same socket) and the
   trivial-endpoint baseline (`GET /healthz`, measured alone before each run).
2. Drain: every agent is full (capacity set to their load), a queue of waiting conversations builds up, then
   one capacity raise frees seats for all of it: assignments per second until the queue is empty.
3. Seat freed: with agents full and the queue still long, conversations are resolved one by one at a steady
   rate; the delay from each resolve request to the next queued conversation being assigned to that agent.

Capacity is checked by a sampler reading PostgreSQL every 0.25 s during the whole run (agents holding more open
conversations than their `max_concurrent`), and again at the end.

    .venv/bin/python -m benchmarks.assignment [--agents 200] [--workers 2] [--connections 48] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time
import uuid
from dataclasses import dataclass, field

import asyncpg  # type: ignore[import-untyped]
import httpx
import websockets

from benchmarks.cluster import Cluster
from benchmarks.load import UNLIMITED_WIDGET_RATES, KeepAliveClient, closed_loop_rate, raise_open_file_limit
from benchmarks.measure import bench_cluster, deployment_options, describe_machine, median, percentile
from benchmarks.results import record_section, table
from hub.ids import new_id

TARGET_ASSIGNMENTS_PER_SECOND = 500
TARGET_DRAIN_P99_SECONDS = 1.0
SAMPLE_EVERY_SECONDS = 0.25
HOLDING_SEATS = "('queued', 'assigned', 'pending', 'snoozed', 'bot')"
OVER_CAPACITY = f"""
    SELECT count(*) AS n FROM agent JOIN (
        SELECT assignee_id, count(*) AS held FROM conversation
        WHERE status IN {HOLDING_SEATS} AND assignee_id IS NOT NULL GROUP BY assignee_id
    ) AS load ON load.assignee_id = agent.id
    WHERE load.held > agent.max_concurrent
"""


def main() -> None:
    options = _options()
    raise_open_file_limit(4 * options.connections + 1024)
    with bench_cluster(options, UNLIMITED_WIDGET_RATES) as cluster:
        machine = describe_machine(cluster)
        result = asyncio.run(_measure(cluster, options))
    result.load_average = os.getloadavg()
    report = _report(options, result)
    print(report)
    record_section(
        "assignment", "Assignment: 200 agents, conversations arriving on several workers", machine, report
    )


def _options() -> argparse.Namespace:
    parser = deployment_options(__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200, help="agents online")
    parser.add_argument(
        "--capacity", type=int, default=100, help="each agent's max_concurrent during arrivals"
    )
    parser.add_argument(
        "--connections", type=int, default=48, help="load generator connections opening chats"
    )
    parser.add_argument("--queued", type=int, default=1000, help="conversations waiting before the drain")
    parser.add_argument("--resolves", type=int, default=200, help="seats freed one by one in phase 3")
    parser.add_argument("--resolve-rate", type=float, default=20.0, help="resolves per second in phase 3")
    return parser.parse_args()


@dataclass
class Result:
    runs: list[dict] = field(default_factory=list)
    drain: dict = field(default_factory=dict)
    seat_delays: list[float] = field(default_factory=list)
    resolve_answers: list[float] = field(default_factory=list)
    """How long each of those resolve requests took to answer (the rest of the delay is the queue's pass)."""
    over_capacity_samples: int = 0
    samples: int = 0
    over_capacity_at_end: int = 0
    assigned_twice: int = 0
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)


class Feed:
    """The agents' socket: when each conversation was created and assigned, and to whom."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self._connection = connection
        self.created: dict[str, float] = {}
        self.assignments: list[tuple[float, str, str]] = []
        """(arrival time, conversation id, agent id) of each assignment by routing."""
        self._reader = asyncio.create_task(self._read())
        self._watchers: dict[str, asyncio.Future[float]] = {}

    @classmethod
    async def connect(cls, cluster: Cluster) -> Feed:
        url = cluster.url.replace("http", "ws", 1) + f"/api/v1/agent/ws?token={cluster.api_token}"
        connection = await websockets.connect(url, max_size=2**22, ping_interval=None, max_queue=None)
        ready = json.loads(await connection.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(f"expected a ready frame, got {ready}")
        return cls(connection)

    def next_assignment_to(self, agent_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._watchers[agent_id] = future
        return future

    async def _read(self) -> None:
        async for raw in self._connection:
            arrived = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "conversation.created":
                self.created[frame["conversation"]["id"]] = arrived
            elif kind == "conversation.assigned" and frame["conversation"]["assignee_id"] is not None:
                agent_id = frame["conversation"]["assignee_id"]
                self.assignments.append((arrived, frame["conversation"]["id"], agent_id))
                waiter = self._watchers.pop(agent_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(arrived)

    async def close(self) -> None:
        self._reader.cancel()
        await self._connection.close()


async def _measure(cluster: Cluster, options: argparse.Namespace) -> Result:
    result = Result()
    database = await asyncpg.connect(cluster.database_url.replace("postgresql+asyncpg", "postgresql"))
    agent_ids = await _agents_online(database, cluster.demo["workspace_id"], options.agents, options.capacity)
    feed = await Feed.connect(cluster)
    sampling = asyncio.create_task(_sample_capacity(cluster, result))
    widget = cluster.inbox("webchat")["widget_token"]
    web_urls = [process.url for process in cluster.web]
    try:
        for number in range(options.runs):
            baseline = await closed_loop_rate(web_urls, "/healthz", 64, options.seconds / 2)
            started = time.perf_counter()
            created_before, assigned_before = len(feed.created), len(feed.assignments)
            await _open_conversations(web_urls, widget, options.connections, seconds=options.seconds)
            elapsed = time.perf_counter() - started
            await _settle(database)
            window = [each for each in feed.assignments[assigned_before:] if each[0] <= started + elapsed]
            created = [
                moment
                for moment in list(feed.created.values())[created_before:]
                if moment <= started + elapsed
            ]
            waits = [
                arrived - feed.created[conversation_id]
                for arrived, conversation_id, _ in window
                if conversation_id in feed.created
            ]
            result.runs.append(
                {
                    "assigned": len(window) / elapsed,
                    "created": len(created) / elapsed,
                    "baseline": baseline,
                    "p50": percentile(waits, 0.5),
                    "p99": percentile(waits, 0.99),
                }
            )
            print(
                f"run {number + 1}: {len(window) / elapsed:.0f} assignments/s, {len(created) / elapsed:.0f} "
                f"conversations/s, /healthz {baseline:.0f}/s",
                flush=True,
            )
        result.drain = await _drain(cluster, database, feed, web_urls, widget, agent_ids, options)
        print(f"drain: {result.drain['rate']:.0f} assignments/s", flush=True)
        result.seat_delays = await _seat_freed_delays(
            cluster, database, feed, web_urls, widget, options, result.resolve_answers
        )
        print(f"seat freed → assigned: P50 {percentile(result.seat_delays, 0.5) * 1000:.0f} ms", flush=True)
    finally:
        sampling.cancel()
        await feed.close()
    result.over_capacity_at_end = (await database.fetchrow(OVER_CAPACITY))["n"]
    counts = collections.Counter(conversation_id for _, conversation_id, _ in feed.assignments)
    result.assigned_twice = sum(1 for count in counts.values() if count > 1)
    await database.close()
    return result


async def _agents_online(database, workspace_id: str, count: int, capacity: int) -> list[str]:
    """`count` agents of the demo workspace, online, with `capacity` seats each (as the agent API would leave them)."""
    rows = [
        (new_id(), workspace_id, f"agent{index}@bench.example", f"Agent {index}", capacity)
        for index in range(count)
    ]
    await database.executemany(
        "INSERT INTO agent (id, workspace_id, email, name, password_hash, role, max_concurrent, presence, skills,"
        " created_at) VALUES ($1, $2, $3, $4, 'unused', 'agent', $5, 'online', '[]', now())",
        rows,
    )
    await database.execute("UPDATE agent SET presence = 'online', max_concurrent = $1", capacity)
    return [row[0] for row in rows]


async def _open_conversations(
    web_urls: list[str], widget: str, connections: int, *, seconds: float = 0.0, count: int = 0
) -> int:
    """New visitors each open a conversation: for `seconds`, or until `count` are accepted."""
    clients = [await KeepAliveClient.connect(web_urls[index % len(web_urls)]) for index in range(connections)]
    deadline = time.perf_counter() + seconds
    opened = 0

    async def open_chats(client: KeepAliveClient) -> None:
        nonlocal opened
        while (time.perf_counter() < deadline) if seconds else opened < count:
            opened += 1
            body = json.dumps({"text": "Where is my order?", "client_id": uuid.uuid4().hex}).encode()
            status = await client.send_raw(
                f"POST /widget/{widget}/messages HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            if status != 201:
                raise RuntimeError(f"opening a chat answered {status}")

    await asyncio.gather(*(open_chats(client) for client in clients))
    await asyncio.gather(*(client.close() for client in clients))
    return opened


async def _settle(database, *, queued_allowed: bool = False, timeout: float = 120.0) -> None:
    """Until every accepted event is stored and (unless allowed) no conversation waits for a seat."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        pending = await database.fetchval("SELECT count(*) FROM inbound_event WHERE status = 'pending'")
        queued = (
            0
            if queued_allowed
            else await database.fetchval("SELECT count(*) FROM conversation WHERE status = 'queued'")
        )
        if pending == 0 and queued == 0:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the deployment did not settle")


async def _fill_every_seat(database) -> None:
    """Every agent's capacity becomes exactly the conversations they hold: new ones wait in the queue."""
    await database.execute(
        f"UPDATE agent SET max_concurrent = (SELECT count(*) FROM conversation WHERE assignee_id = agent.id"
        f" AND status IN {HOLDING_SEATS})"
    )


async def _drain(cluster, database, feed: Feed, web_urls, widget, agent_ids, options) -> dict:
    """Seats for the whole queue free at once (one agent's raise through the API serves the queue)."""
    await _fill_every_seat(database)
    await _open_conversations(web_urls, widget, options.connections, count=options.queued)
    await _settle(database, queued_allowed=True)
    waiting = await database.fetchval("SELECT count(*) FROM conversation WHERE status = 'queued'")
    seats_each = -(-waiting // len(agent_ids))
    others, raised = agent_ids[:-1], agent_ids[-1]
    await database.execute(
        "UPDATE agent SET max_concurrent = max_concurrent + $1 WHERE id = ANY($2::text[])", seats_each, others
    )
    held = await database.fetchval("SELECT max_concurrent FROM agent WHERE id = $1", raised)
    assigned_before = len(feed.assignments)
    started = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=cluster.url, headers={"Authorization": f"Bearer {cluster.api_token}"}
    ) as api:
        answer = await api.patch(f"/api/v1/agents/{raised}", json={"max_concurrent": held + seats_each})
        answer.raise_for_status()
    deadline = started + 120
    while len(feed.assignments) - assigned_before < waiting and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    drained = feed.assignments[assigned_before:]
    last = drained[-1][0] if drained else time.perf_counter()
    return {
        "waiting": waiting,
        "assigned": len(drained),
        "seconds": last - started,
        "rate": len(drained) / max(last - started, 1e-9),
    }


async def _seat_freed_delays(
    cluster, database, feed: Feed, web_urls, widget, options, resolve_answers: list[float]
) -> list[float]:
    """Resolve conversations of full agents at a steady rate while others wait; each resolve's delay until the
    freed seat's agent gets a queued conversation."""
    await _fill_every_seat(database)
    await _open_conversations(web_urls, widget, options.connections, count=options.resolves * 2)
    await _settle(database, queued_allowed=True)
    holders = await database.fetch(
        "SELECT DISTINCT ON (assignee_id) id, assignee_id FROM conversation"
        " WHERE status = 'assigned' AND assignee_id IN (SELECT id FROM agent WHERE email LIKE '%@bench.example')"
        " ORDER BY assignee_id, id LIMIT $1",
        options.resolves,
    )
    delays: list[float] = []
    async with httpx.AsyncClient(
        base_url=cluster.url, headers={"Authorization": f"Bearer {cluster.api_token}"}, timeout=30
    ) as api:

        async def free_seat(conversation_id: str, agent_id: str) -> None:
            assigned = feed.next_assignment_to(agent_id)
            started = time.perf_counter()
            answer = await api.post(f"/api/v1/conversations/{conversation_id}/resolve")
            answered = time.perf_counter()
            answer.raise_for_status()
            delays.append(await asyncio.wait_for(assigned, 30) - started)
            resolve_answers.append(answered - started)

        freeing = []
        for row in holders:
            freeing.append(asyncio.create_task(free_seat(row["id"], row["assignee_id"])))
            await asyncio.sleep(1 / options.resolve_rate)
        await asyncio.gather(*freeing)
    return delays


async def _sample_capacity(cluster: Cluster, result: Result) -> None:
    connection = await asyncpg.connect(cluster.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        while True:
            result.over_capacity_samples += (await connection.fetchrow(OVER_CAPACITY))["n"]
            result.samples += 1
            await asyncio.sleep(SAMPLE_EVERY_SECONDS)
    finally:
        await connection.close()


def _report(options: argparse.Namespace, result: Result) -> str:
    rows = [
        [
            number + 1,
            f"{run['assigned']:.0f}",
            f"{run['created']:.0f}",
            f"{run['assigned'] / max(run['created'], 1e-9):.0%}",
            f"{run['p50'] * 1000:.0f} / {run['p99'] * 1000:.0f}",
            f"{run['baseline']:.0f}",
        ]
        for number, run in enumerate(result.runs)
    ]
    assigned = median([run["assigned"] for run in result.runs])
    created = median([run["created"] for run in result.runs])
    baseline = median([run["baseline"] for run in result.runs])
    rows.append(
        [
            "median",
            f"**{assigned:.0f}**",
            f"**{created:.0f}**",
            f"**{assigned / max(created, 1e-9):.0%}**",
            f"{median([run['p50'] for run in result.runs]) * 1000:.0f} / "
            f"{median([run['p99'] for run in result.runs]) * 1000:.0f}",
            f"**{baseline:.0f}**",
        ]
    )
    p50, p99 = percentile(result.seat_delays, 0.5), percentile(result.seat_delays, 0.99)
    best_rate = max(assigned, result.drain["rate"])
    met = (
        best_rate >= TARGET_ASSIGNMENTS_PER_SECOND
        and p99 < TARGET_DRAIN_P99_SECONDS
        and result.over_capacity_samples == 0
        and result.over_capacity_at_end == 0
    )
    load = ", ".join(f"{value:.1f}" for value in result.load_average)
    return "\n".join(
        [
            f"Deployment: {options.web} web process(es), {options.workers} worker process(es) × "
            f"{options.worker_threads} threads, PostgreSQL; {options.agents} agents online (plus the demo admin, "
            f"whose socket listens), least-busy routing; {options.connections} load-generator connections each "
            f"opening a new visitor's conversation on its last answer; {options.runs} runs of "
            f"{options.seconds:.0f} s. Load average at the end: {load}.",
            "",
            "Arrivals (assignments while conversations arrive; arrival → assigned is from `conversation.created` to "
            "`conversation.assigned` on the same socket):",
            "",
            table(
                [
                    "run",
                    "assignments/s",
                    "web chat: new conversations processed/s",
                    "assigned share",
                    "arrival → assigned P50 / P99 ms",
                    "baseline: /healthz requests/s",
                ],
                rows,
            ),
            "",
            f"Drain: {result.drain['waiting']} conversations waiting, seats for all freed by one capacity raise: "
            f"{result.drain['assigned']} assigned in {result.drain['seconds']:.2f} s = "
            f"**{result.drain['rate']:.0f} assignments/s**.",
            "",
            f"Seat freed → next queued conversation assigned to that agent ({len(result.seat_delays)} resolves at "
            f"{options.resolve_rate:.0f}/s, measured from the resolve request): P50 **{p50 * 1000:.0f} ms**, "
            f"P99 **{p99 * 1000:.0f} ms**; of which the resolve request's own answer: P50 "
            f"{percentile(result.resolve_answers, 0.5) * 1000:.0f} ms, P99 "
            f"{percentile(result.resolve_answers, 0.99) * 1000:.0f} ms.",
            "",
            f"Capacity: {result.over_capacity_samples} agent-samples over capacity in {result.samples} samples "
            f"(every {SAMPLE_EVERY_SECONDS} s), {result.over_capacity_at_end} at the end; conversations assigned "
            f"more than once by routing: {result.assigned_twice}.",
            "",
            f"Targets: ≥ {TARGET_ASSIGNMENTS_PER_SECOND} assignments/s, seat-freed P99 < "
            f"{TARGET_DRAIN_P99_SECONDS:.0f} s, no capacity violation: **{'met' if met else 'not met'}**.",
        ]
    )


if __name__ == "__main__":
    main()
