"""Keeps benchmarks/RESULTS.md: one section per benchmark, replaced by its latest run."""

from __future__ import annotations

import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["RESULTS_FILE", "command_line", "record_section", "table"]

RESULTS_FILE = Path(__file__).with_name("RESULTS.md")
HEADER = """# Benchmark results

The latest figures of each benchmark in this folder, written by the benchmark itself. Each
section says when, on which commit and machine, and with which command it ran. Figures are
medians over the runs unless named otherwise; every figure stands beside its baseline, measured
in the same run on the same server (a trivial Litestar endpoint, `GET /healthz`).
"""


def command_line() -> str:
    """The command that ran this benchmark, as someone would type it from the repository root."""
    module = Path(sys.argv[0]).resolve().relative_to(Path(__file__).resolve().parent.parent).with_suffix("")
    return " ".join([".venv/bin/python -m", ".".join(module.parts), *map(shlex.quote, sys.argv[1:])])


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def record_section(name: str, title: str, machine: dict[str, str], body: str) -> None:
    """Replace (or add) the section of benchmark `name` with today's run."""
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    facts = "\n".join(f"- {key}: {value}" for key, value in machine.items())
    section = (
        f"<!-- {name} -->\n## {title}\n\n- date: {started}\n- command: `{command_line()}`\n{facts}\n\n"
        f"{body.strip()}\n<!-- /{name} -->"
    )
    text = RESULTS_FILE.read_text() if RESULTS_FILE.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    RESULTS_FILE.write_text(text)
