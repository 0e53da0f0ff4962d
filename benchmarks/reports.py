"""How long the reports take over a month of conversations, in production mode (PostgreSQL).

Seeds `--conversations` conversations over the last 30 days (three channels, 20 agents, a handling span each for
those an agent took, a rating on a third) straight into the database, then asks `GET /api/v1/reports/summary`,
`/agents` and `/daily` for the whole month, one request at a time. Baseline, in the same run on the same web
process: `GET /healthz`, one request at a time.

    .venv/bin/python -m benchmarks.reports [--conversations 100000] [--runs 3] [--redis-db 14]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.cluster import Cluster
from benchmarks.measure import bench_cluster, deployment_options, describe_machine, median
from benchmarks.results import record_section, table
from hub.ids import new_id
from hub.models import Agent, Contact, Conversation, HandlingSpan, Identity, row_values

REPORTS = ("summary", "agents", "daily")
REQUESTS_PER_RUN = 5
BATCH = 5000
AGENTS = 20
MONTH = timedelta(days=30)


def main() -> None:
    options = _options()
    with bench_cluster(options) as cluster:
        machine = describe_machine(cluster)
        asyncio.run(_seed(cluster, options.conversations))
        runs = _measure(cluster, options.runs)
    report = _report(options, runs)
    print(report)
    record_section("reports", "Reports over a month of conversations, production mode", machine, report)


def _options() -> argparse.Namespace:
    parser = deployment_options(__doc__.split("\n\n")[0], workers=1)
    parser.add_argument("--conversations", type=int, default=100_000)
    return parser.parse_args()


async def _seed(cluster: Cluster, count: int) -> None:
    workspace_id = cluster.demo["workspace_id"]
    inbox_ids = [inbox["id"] for inbox in cluster.demo["inboxes"]][:3]
    engine = create_async_engine(cluster.database_url)
    now = datetime.now(UTC)
    chance = random.Random(14)
    agents = [
        row_values(
            Agent,
            workspace_id=workspace_id,
            email=f"bench{index}@reports.test",
            name=f"agent {index}",
            password_hash="unused",
        )
        for index in range(AGENTS)
    ]
    contact = row_values(Contact, workspace_id=workspace_id, name="Bench")
    identity = row_values(
        Identity,
        workspace_id=workspace_id,
        contact_id=contact["id"],
        kind="email",
        value="bench@reports.test",
    )
    async with engine.begin() as connection:
        await connection.execute(insert(Agent), agents)
        await connection.execute(insert(Contact), [contact])
        await connection.execute(insert(Identity), [identity])
        for start in range(0, count, BATCH):
            conversations, spans = [], []
            for _ in range(min(BATCH, count - start)):
                created = now - MONTH * chance.random()
                agent = chance.choice(agents)["id"] if chance.random() < 0.8 else None
                replied = created + timedelta(seconds=chance.expovariate(1 / 120)) if agent else None
                resolved = (
                    created + timedelta(minutes=chance.expovariate(1 / 30)) if chance.random() < 0.7 else None
                )
                conversation_id = new_id()
                conversations.append(
                    row_values(
                        Conversation,
                        id=conversation_id,
                        workspace_id=workspace_id,
                        inbox_id=chance.choice(inbox_ids),
                        contact_id=contact["id"],
                        identity_id=identity["id"],
                        status="resolved" if resolved else "assigned",
                        assignee_id=agent,
                        created_at=created,
                        last_message_at=created,
                        first_response_at=replied,
                        resolved_at=resolved,
                        queue_seconds=chance.expovariate(1 / 40) if agent else 0.0,
                        bot_replied=chance.random() < 0.3,
                        handoffs=int(chance.random() < 0.2),
                        csat_rating=chance.randint(1, 5) if resolved and chance.random() < 0.33 else None,
                        csat_at=resolved if resolved else None,
                    )
                )
                if agent:
                    spans.append(
                        row_values(
                            HandlingSpan,
                            workspace_id=workspace_id,
                            conversation_id=conversation_id,
                            agent_id=agent,
                            started_at=created,
                            ended_at=resolved,
                        )
                    )
            await connection.execute(insert(Conversation), conversations)
            await connection.execute(insert(HandlingSpan), spans)
        await connection.exec_driver_sql("ANALYZE")
    await engine.dispose()


def _measure(cluster: Cluster, runs: int) -> list[dict[str, list[float]]]:
    now = datetime.now(UTC)
    month = {"from": (now - MONTH - timedelta(minutes=1)).isoformat(), "to": now.isoformat()}
    headers = {"Authorization": f"Bearer {cluster.api_token}"}
    measured = []
    with httpx.Client(base_url=cluster.url, headers=headers, timeout=120) as client:
        summary = client.get("/api/v1/reports/summary", params=month).json()
        print(f"conversations in the month: {summary['overall']['conversations']}", flush=True)
        for number in range(runs):
            timings: dict[str, list[float]] = {"healthz": []}
            for _ in range(REQUESTS_PER_RUN):
                timings["healthz"].append(_timed(client, "/healthz", {}))
                for report in REPORTS:
                    timings.setdefault(report, []).append(_timed(client, f"/api/v1/reports/{report}", month))
            measured.append(timings)
            print(
                f"run {number + 1}: "
                + ", ".join(f"{name} {median(values):.1f} ms" for name, values in timings.items()),
                flush=True,
            )
    return measured


def _timed(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    client.get(path, params=params).raise_for_status()
    return (time.perf_counter() - started) * 1000


def _report(options: argparse.Namespace, runs: list[dict[str, list[float]]]) -> str:
    rows = []
    for name in ("healthz", *REPORTS):
        medians = [median(run[name]) for run in runs]
        slowest = max(max(run[name]) for run in runs)
        rows.append(
            [
                f"`{name}`",
                f"{median(medians):.1f}",
                f"{slowest:.1f}",
                f"{median(medians) / median([median(run['healthz']) for run in runs]):.0f}×",
            ]
        )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return "\n".join(
        [
            f"{options.conversations} conversations seeded over 30 days (3 channels, {AGENTS} agents, handling spans, "
            f"ratings on a third of the resolved); each report asked for the whole month, one request at a time, "
            f"{REQUESTS_PER_RUN} times per run, {options.runs} runs. Load average at the end: {load}.",
            "",
            table(["request", "median of run medians (ms)", "slowest (ms)", "× baseline"], rows),
            "",
            "Every report reads the month's rows (columns only) and computes percentiles in Python: the time grows "
            "with the conversations of the range.",
        ]
    )


if __name__ == "__main__":
    main()
