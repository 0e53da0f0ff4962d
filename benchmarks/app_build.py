"""Building the hub's Litestar app (`hub.app.create_app`), which nearly every test does once or more.

Timed in CPU time of this process (time.process_time), so that what else the shared cores run moves the figure
less (the fastest build, least so); the wall time is shown beside it. Baseline, in the same process between rounds: a Litestar app with one
trivial route and the same OpenAPI config, the least any app costs to build.

    .venv/bin/python -m benchmarks.app_build [--builds 30] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig

from benchmarks.measure import describe_host, median, percentile
from benchmarks.results import record_section
from benchmarks.results import table as markdown_table
from hub.app import create_app
from hub.settings import Settings


@get("/healthz", sync_to_thread=False)
def trivial() -> str:
    return "ok"


def trivial_app() -> Litestar:
    return Litestar(
        route_handlers=[trivial], openapi_config=OpenAPIConfig(title="t", version="0", path="/schema")
    )


def timed(build: Callable[[], object], builds: int) -> tuple[list[float], list[float]]:
    """CPU and wall milliseconds of each of `builds` builds."""
    cpu, wall = [], []
    for _ in range(builds):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        build()
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started_wall) * 1000)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--builds", type=int, default=30, help="apps built per run")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="omnihub-app-build-")),
        secret_key="benchmark-secret-key-0123456789abcdefgh",
        public_url="http://testserver.local",
    )
    create_app(settings)
    trivial_app()
    rows = []
    medians = []
    for run in range(1, options.runs + 1):
        cpu, wall = timed(lambda: create_app(settings), options.builds)
        baseline, _ = timed(trivial_app, options.builds)
        medians.append(median(cpu))
        rows.append(
            [
                run,
                f"{median(cpu):.1f}",
                f"{min(cpu):.1f}",
                f"{percentile(cpu, 0.99):.1f}",
                f"{median(wall):.1f}",
                f"{median(baseline):.2f}",
            ]
        )
    rows.append(["median", f"**{median(medians):.1f}**", "", "", "", ""])
    body = (
        f"{options.builds} builds per run, {options.runs} runs, after one untimed build.\n\n"
        + markdown_table(
            [
                "run",
                "create_app CPU ms (median)",
                "fastest",
                "CPU ms P99",
                "wall ms (median)",
                "baseline: trivial app CPU ms",
            ],
            rows,
        )
    )
    print(body)
    record_section("app_build", "Building the app (create_app)", describe_host(), body)


if __name__ == "__main__":
    main()
