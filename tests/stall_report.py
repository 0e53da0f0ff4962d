"""Where a test that runs unusually long is stuck, printed at the end of the run.

A CI run is read from the tail of its output, long after the fact: a test (its setup and teardown included) still
running after STALL_REPORT_SECONDS has the stacks of all its threads taken then, and the run's summary ends with
them, one line per distinct stack. The dump is faulthandler's, so it is taken even while one thread holds the
interpreter's lock.
"""

from __future__ import annotations

import faulthandler
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

STALL_REPORT_SECONDS = float(os.environ.get("OMNIHUB_TEST_STALL_REPORT_SECONDS", "120"))
FRAMES_PER_THREAD = 4
_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')

_stalled: list[tuple[str, str]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("deletions") is not None:
        yield
        return
    with tempfile.TemporaryFile("w+") as dump:
        faulthandler.dump_traceback_later(STALL_REPORT_SECONDS, file=dump)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
        dump.seek(0)
        taken = dump.read()
    if taken:
        _stalled.append((item.nodeid, taken))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for nodeid, taken in _stalled:
        terminalreporter.write_sep("-", f"{nodeid}: its threads after {STALL_REPORT_SECONDS:.0f} s")
        for stack, threads in Counter(thread_stacks(taken)).most_common():
            terminalreporter.write_line(f"{threads} × {stack}")


def thread_stacks(taken: str) -> list[str]:
    """Each thread of a faulthandler dump as its innermost frames on one line, innermost first."""
    stacks = []
    for block in re.split(r"\n(?=(?:Current thread|Thread) 0x)", taken):
        frames = [
            f"{match['function']} ({Path(match['path']).parent.name}/{Path(match['path']).name}:{match['line']})"
            for match in _FRAME.finditer(block)
        ]
        if frames:
            stacks.append(" < ".join(frames[:FRAMES_PER_THREAD]))
    return stacks
