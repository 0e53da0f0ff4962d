"""Latency from a visitor's question to the bot's answer on the visitor's own WebSocket, in production mode.

The demo web chat inbox gets its bot on and the FAQ set's articles (benchmarks/bot_faq); visitor WebSockets
ask questions the knowledge base answers, on a fixed schedule (open loop), rotating over enough visitors that
each has one question open at a time. Latency runs from each question's scheduled send time to the bot's
`message.created` arriving on that visitor's socket: the accept commit, the job, processing, the bot's
decision, its outbound message, the Redis fan-out and the socket. Baseline, in the same run on the same web
process: `GET /healthz` on the same schedule.

    .venv/bin/python -m benchmarks.bot_latency [--rate 100] [--seconds 10] [--runs 3] [--redis-db 10]
    .venv/bin/python -m benchmarks.bot_latency --semantic-model e5   # the re-ranker on, recorded apart

With `--semantic-model`, every process runs the semantic re-ranker with that model (each worker embeds the FAQ's
phrasings at its first turn, which the warm-up may not cover: read the later runs).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import time

import httpx
import websockets

from benchmarks.bot_faq import load_articles
from benchmarks.cluster import Cluster
from benchmarks.load import (
    UNLIMITED_WIDGET_RATES,
    VisitorSocket,
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
    median,
    percentile,
    percentile_shown,
)
from benchmarks.results import record_section, table
from benchmarks.webchat_latency import _healthz_latencies
from hub.settings import Settings
from routing.bot import asks_for_ticket, detect_handoff

TARGET_P99_MS = 1000
ANSWER_TIMEOUT_SECONDS = 30


class AskingVisitor:
    """A visitor socket whose bot answers resolve its open questions in order."""

    def __init__(self, socket: VisitorSocket) -> None:
        self.socket = socket
        self.waiting: collections.deque[asyncio.Future] = collections.deque()
        self._reader = asyncio.create_task(self._read())

    async def ask(self, text: str, client_id: str) -> asyncio.Future:
        answered = asyncio.get_running_loop().create_future()
        self.waiting.append(answered)
        await self.socket.connection.send(
            json.dumps({"type": "message", "text": text, "client_id": client_id})
        )
        return answered

    async def _read(self) -> None:
        try:
            async for raw in self.socket.connection:
                frame = json.loads(raw)
                if (
                    frame.get("type") == "message.created"
                    and frame["message"].get("sender") == "bot"
                    and self.waiting
                ):
                    future = self.waiting.popleft()
                    if not future.done():
                        future.set_result(time.perf_counter())
        except websockets.ConnectionClosed:
            for future in self.waiting:
                if not future.done():
                    future.set_exception(RuntimeError("the hub closed the visitor socket"))

    async def close(self) -> None:
        self._reader.cancel()
        await self.socket.connection.close()


def main() -> None:
    options = _options()
    raise_open_file_limit(4 * options.visitors + 1024)
    semantic = (
        {"OMNIHUB_KB_SEMANTIC_RERANKER": "true", "OMNIHUB_KB_SEMANTIC_MODEL": options.semantic_model}
        if options.semantic_model
        else {}
    )
    with bench_cluster(
        options, {**UNLIMITED_WIDGET_RATES, "OMNIHUB_WORKER_NICE": str(options.worker_nice), **semantic}
    ) as cluster:
        machine = describe_machine(cluster)
        questions = set_up_bot(cluster)
        runs = asyncio.run(_measure(cluster, options, questions))
    report = _report(options, runs, len(questions))
    print(report)
    if options.semantic_model:
        record_section(
            f"bot_latency_semantic_{options.semantic_model}",
            f"Bot answers on the visitor's socket, production mode, semantic re-ranker {options.semantic_model}",
            machine,
            report,
        )
    else:
        record_section("bot_latency", "Bot answers on the visitor's socket, production mode", machine, report)


def _options() -> argparse.Namespace:
    parser = deployment_options(__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="questions per second")
    parser.add_argument("--visitors", type=int, default=600, help="visitor sockets the questions rotate over")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=Settings.model_fields["worker_nice"].default,
        help="OMNIHUB_WORKER_NICE of the workers (the hub's default yields the CPU to web processes and, on a "
        "shared machine, to everyone else's work too)",
    )
    parser.add_argument(
        "--semantic-model",
        choices=("use", "e5"),
        help="turn the semantic re-ranker on with this model (OMNIHUB_KB_SEMANTIC_MODEL); default: off",
    )
    return parser.parse_args()


def set_up_bot(cluster: Cluster) -> list[str]:
    """Bot on, no greeting, the FAQ's articles loaded; the questions (each article's phrasings) it answers and that
    leave the conversation with the bot. A phrasing that asks for a person or a ticket ("怎么联系客服") is answered by
    a handoff: the visitor's later questions would then wait for an agent, and count as lost."""
    headers = {"Authorization": f"Bearer {cluster.api_token}"}
    inbox = cluster.inbox("webchat")
    with httpx.Client(base_url=cluster.url, headers=headers, timeout=60) as api:
        api.put(f"/api/v1/inboxes/{inbox['id']}/bot", json={"enabled": True}).raise_for_status()
        for article in load_articles():
            body = {
                "title": article.title,
                "questions": list(article.questions),
                "answer": article.answer,
                "locale": article.locale,
                "tags": list(article.tags),
            }
            api.post("/api/v1/kb/articles", json=body).raise_for_status()
        candidates = [question for article in load_articles() for question in article.questions]
        return [
            text
            for text in candidates
            if detect_handoff(text) is None
            and not asks_for_ticket(text)
            and api.post("/api/v1/kb/ask", json={"text": text}).json()["decision"] == "answer"
        ]


async def _measure(cluster: Cluster, options: argparse.Namespace, questions: list[str]) -> list[dict]:
    web_urls = [process.url for process in cluster.web]
    widget_token = cluster.inbox("webchat")["widget_token"]
    sockets = await connect_visitors(
        [url.replace("http", "ws", 1) + f"/widget/{widget_token}/ws" for url in web_urls], options.visitors
    )
    visitors = [AskingVisitor(socket) for socket in sockets]
    texts = itertools.cycle(questions)
    await _questions(visitors, texts, options.rate, 2.0, "warm-up", [])
    runs = []
    for number in range(options.runs):
        baseline = await _healthz_latencies(web_urls, options.rate, options.seconds / 2)
        account = CpuAccount(cluster)
        account.start()
        latencies: list[float] = []
        finished = asyncio.Event()
        marking = asyncio.create_task(_mark_at_answers(account, latencies, finished))
        lost = await _questions(visitors, texts, options.rate, options.seconds, f"run{number}", latencies)
        finished.set()
        await marking
        cpu = account.stop()
        runs.append({"latencies": latencies, "lost": lost, "baseline": baseline, "cpu": cpu})
        print(
            f"run {number + 1}: P50 {percentile_shown(latencies, 0.5)} ms, P99 {percentile_shown(latencies, 0.99)} ms, "
            f"lost {lost} (/healthz P99 {percentile(baseline, 0.99):.1f} ms); CPU ms per answer: workers "
            f"{_cpu_ms_per_answer(runs[-1], 'workers'):.1f}, web {_cpu_ms_per_answer(runs[-1], 'web'):.1f}",
            flush=True,
        )
    await asyncio.gather(*(visitor.close() for visitor in visitors))
    return runs


async def _questions(
    visitors: list[AskingVisitor],
    texts: itertools.cycle,
    rate: float,
    seconds: float,
    label: str,
    latencies: list[float],
) -> int:
    """Ask on schedule; each answer's latency (ms) is appended to `latencies` as it comes. Returns how many were lost."""
    lost = 0

    async def send(sequence: int, scheduled: float) -> None:
        nonlocal lost
        answered = await visitors[sequence % len(visitors)].ask(next(texts), f"{label}-{sequence}")
        try:
            latencies.append((await asyncio.wait_for(answered, ANSWER_TIMEOUT_SECONDS) - scheduled) * 1000)
        except (TimeoutError, RuntimeError):
            lost += 1

    await open_loop(rate, seconds, send)
    return lost


async def _mark_at_answers(account: CpuAccount, latencies: list[float], finished: asyncio.Event) -> None:
    """Move the CPU window's end to the latest answer (looked for four times a second) until the questions are
    finished: a lost question keeps them going until its timeout, idle time that is not the bot's."""
    seen = 0
    while not finished.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), 0.25)
        if len(latencies) != seen:
            seen = len(latencies)
            await asyncio.to_thread(account.mark)


def _cpu_ms_per_answer(run: dict, part: str) -> float:
    """CPU ms a part of the deployment spent per answer seen, over the window from the first question to the
    last answer: the cost of a bot turn, steady even when the latency is noisy (lost questions count as spent)."""
    return run["cpu"][part] * 1000 / max(len(run["latencies"]), 1)


def _report(options: argparse.Namespace, runs: list[dict], question_count: int) -> str:
    rows, p99 = latency_rows(runs)
    met = p99 < TARGET_P99_MS and not any(run["lost"] for run in runs)
    return "\n".join(
        [
            f"{options.rate:.0f} questions/s on a fixed schedule over {options.visitors} visitor WebSockets, "
            f"{question_count} distinct questions the knowledge base answers without a handoff (the FAQ set's "
            "phrasings, 68 articles), "
            f"{options.web} web process(es), {options.workers} worker process(es) × {options.worker_threads} threads; "
            f"{options.runs} runs of {options.seconds:.0f} s. Latency: scheduled send → the bot's `message.created` on "
            "the visitor's own WebSocket. The machine is shared with other engineers' test suites.",
            "",
            table(LATENCY_HEADER, rows),
            "",
            f"Target: P99 < {TARGET_P99_MS} ms at {options.rate:.0f}/s, nothing lost: **{'met' if met else 'not met'}**.",
            "",
            "Cores busy during the runs (median):",
            "",
            table(["part", "cores busy"], cores_busy_rows(runs)),
            "",
            "CPU ms per answered question (from the first question to the last answer, median over the runs): "
            + ", ".join(
                f"{part} **{median([_cpu_ms_per_answer(run, part) for run in runs]):.1f}**"
                for part in ("workers", "web", "postgres")
            )
            + ".",
        ]
    )


if __name__ == "__main__":
    main()
