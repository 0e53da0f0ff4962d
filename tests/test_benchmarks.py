"""Every benchmark still runs against the code it measures: the hub's modules move and rename, and a benchmark
nobody ran since would fail only when someone needs its figure (benchmarks/RESULTS.md). Each module is imported and
asked for its usage, which builds its whole argument parser; the measurements themselves are run by hand."""

from __future__ import annotations

import importlib
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RUNNABLE = sorted(
    path.stem
    for path in BENCHMARKS.glob("*.py")
    if path.stem != "__init__" and 'if __name__ == "__main__"' in path.read_text(encoding="utf-8")
)
LIBRARIES = sorted(
    path.stem for path in BENCHMARKS.glob("*.py") if path.stem != "__init__" and path.stem not in RUNNABLE
)


def test_the_benchmarks_are_found() -> None:
    assert {"webhook_delivery", "bot_latency", "process_cpu"} <= set(RUNNABLE)


@pytest.mark.parametrize("name", LIBRARIES)
def test_a_benchmarks_shared_module_imports(name: str) -> None:
    importlib.import_module(f"benchmarks.{name}")


@pytest.mark.parametrize("name", RUNNABLE)
def test_a_benchmark_imports_and_shows_its_usage(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", [name, "--help"])
    monkeypatch.delitem(sys.modules, f"benchmarks.{name}", raising=False)
    with pytest.raises(SystemExit) as leaving:
        runpy.run_module(f"benchmarks.{name}", run_name="__main__")
    assert leaving.value.code == 0
    assert "usage:" in capsys.readouterr().out
