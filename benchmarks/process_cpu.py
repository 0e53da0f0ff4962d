"""Worker CPU per inbound message: `inbound.process` timed in this process on the production database.

Web chat messages are accepted first (untimed), then processed in batches as a worker does. The clock is
this process's CPU time (time.process_time): the hub's own work per message (building rows, the ORM, the
driver, encoding events), without PostgreSQL's share or whatever else the shared cores run, which makes
the end-to-end benchmarks swing from run to run. Two cases: every message from a new customer (contact,
identity, conversation and message made), and from returning customers (a message threaded into an open
conversation). Baseline, in the same process before each round: one INSERT of the same number of plain
message-sized rows through SQLAlchemy Core, the least a worker could spend writing them.

With `--bot`, the web chat inbox's bot is on with the FAQ set's articles and every message is a question it answers
(as in `bot_latency`), so the time includes the bot's turn: its decision, its reply written and pushed to the
visitor, and the delivery's outcome.

    .venv/bin/python -m benchmarks.process_cpu [--messages 1000] [--batch 50] [--runs 5] [--bot]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import uuid

import msgspec
from sqlalchemy import column, insert, table, text
from sqlmodel import select

from benchmarks.bot_latency import set_up_bot
from benchmarks.cluster import Cluster
from benchmarks.measure import bench_cluster, deployment_options, describe_machine, median
from benchmarks.results import record_section
from benchmarks.results import table as markdown_table
from connectors.webchat.routes import Visitor, accept, find_visitor
from connectors.webchat.wire import WidgetMessage
from hub import inbound
from hub.connector_routes import HubChannelServices
from hub.db import Database
from hub.jobs import JobQueue, make_broker
from hub.models import InboundEvent
from hub.ratelimit import MemoryRateLimiter
from hub.realtime import RedisPublisher, make_fanout
from hub.runtime import Hub
from hub.settings import Settings

RETURNING_VISITORS = 20
QUESTION = "Hello, where is my order?"


def main() -> None:
    parser = deployment_options(__doc__.split("\n\n")[0], web=1, workers=0)
    parser.add_argument("--messages", type=int, default=1000, help="messages per case and run")
    parser.add_argument("--batch", type=int, default=50, help="events per processing call")
    parser.add_argument(
        "--bot", action="store_true", help="the bot on: each message is a question it answers"
    )
    parser.set_defaults(runs=5)
    options = parser.parse_args()
    with bench_cluster(options) as cluster:
        machine = describe_machine(cluster)
        questions = set_up_bot(cluster) if options.bot else [QUESTION]
        runs = asyncio.run(_measure(cluster, options, itertools.cycle(questions)))
    report = _report(options, runs)
    print(report)
    if options.bot:
        record_section("process_cpu_bot", "Worker CPU per bot turn (in-process)", machine, report)
    else:
        record_section("process_cpu", "Worker CPU per inbound message (in-process)", machine, report)


async def _measure(
    cluster: Cluster, options: argparse.Namespace, texts: itertools.cycle
) -> list[dict[str, float]]:
    settings = Settings(
        database_url=cluster.database_url,
        redis_url=cluster.redis_url,
        secret_key=cluster.env["OMNIHUB_SECRET_KEY"],
        public_url=cluster.url,
    )
    broker = make_broker(settings.model_copy(update={"redis_url": None}))
    hub = Hub(settings, Database(settings.database_url), JobQueue(broker), RedisPublisher(settings.redis_url))
    services = HubChannelServices(hub, make_fanout(None), MemoryRateLimiter())
    widget_token = cluster.inbox("webchat")["widget_token"]

    async def send(visitor: Visitor, text: str, client_id: str) -> str:
        post = WidgetMessage(text=text, client_id=client_id)
        return (await accept(services, visitor, post, msgspec.json.encode(post).decode())).id

    try:
        async with hub.database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE IF NOT EXISTS baseline_row (id text, body text)"))
        returning = [
            await find_visitor(services, widget_token, None, issue=True) for _ in range(RETURNING_VISITORS)
        ]
        await _processed(hub, [await send(visitor, next(texts), "warm") for visitor in returning], 50)
        runs = []
        for number in range(options.runs):
            baseline = await _baseline_us(hub, options.messages)
            newcomers = [
                await find_visitor(services, widget_token, None, issue=True) for _ in range(options.messages)
            ]
            accepted = [await send(visitor, next(texts), f"new-{number}") for visitor in newcomers]
            new_us = await _processed(hub, accepted, options.batch)
            accepted = [
                await send(returning[index % len(returning)], next(texts), f"again-{number}-{index}")
                for index in range(options.messages)
            ]
            returning_us = await _processed(hub, accepted, options.batch)
            runs.append({"new": new_us, "returning": returning_us, "baseline": baseline})
            print(
                f"run {number + 1}: new {new_us:.0f} µs, returning {returning_us:.0f} µs, baseline {baseline:.0f} µs"
            )
        return runs
    finally:
        await hub.close()


async def _processed(hub: Hub, accepted: list[str], batch: int) -> float:
    """Process the accepted messages in batches; this process's CPU µs per message."""
    async with hub.database.session() as session:
        found = await session.exec(select(InboundEvent.id).where(InboundEvent.message_id.in_(accepted)))
        event_ids = list(found.all())
    started = time.process_time()
    for start in range(0, len(event_ids), batch):
        await inbound.process(hub, *event_ids[start : start + batch])
    return (time.process_time() - started) / len(event_ids) * 1e6


async def _baseline_us(hub: Hub, rows: int) -> float:
    values = [{"id": str(uuid.uuid4()), "body": "Hello, where is my order?" * 10} for _ in range(rows)]
    baseline_row = table("baseline_row", column("id"), column("body"))
    started = time.process_time()
    async with hub.database.engine.begin() as connection:
        await connection.execute(insert(baseline_row), values)
    return (time.process_time() - started) / rows * 1e6


def _report(options: argparse.Namespace, runs: list[dict[str, float]]) -> str:
    rows = [
        [str(number), f"{run['new']:.0f}", f"{run['returning']:.0f}", f"{run['baseline']:.1f}"]
        for number, run in enumerate(runs, 1)
    ]
    rows.append(
        [
            "median",
            f"**{median([run['new'] for run in runs]):.0f}**",
            f"**{median([run['returning'] for run in runs]):.0f}**",
            f"**{median([run['baseline'] for run in runs]):.1f}**",
        ]
    )
    header = (
        ("The bot on, every message a question it answers; " if options.bot else "")
        + f"{options.messages} web chat messages per case and run, processed {options.batch} per call; "
        f"returning customers are {RETURNING_VISITORS} visitors with open conversations; {options.runs} runs.\n\n"
    )
    return header + markdown_table(
        [
            "run",
            "new customers: CPU µs per message",
            "returning customers: CPU µs per message",
            "baseline: Core INSERT of one plain row, CPU µs",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
