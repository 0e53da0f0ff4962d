"""Concurrent callers that need the same slow answer share one attempt at it.

A burst of messages that all find a cached value missing (an access token, an inbox row) would
otherwise each repeat the same look-up, and queue on the same lock to do it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

Result = TypeVar("Result")
_RunningKey = tuple[asyncio.AbstractEventLoop, Hashable]


class SingleFlight(Generic[Result]):
    """Per event loop and key, the first caller starts `work` and every caller until it ends awaits its outcome.

    A failure reaches each caller that waited for that attempt; the next caller starts a new one. A
    caller that is cancelled stops waiting without cancelling the attempt the others wait for.
    """

    def __init__(self) -> None:
        self._running: dict[_RunningKey, asyncio.Task[Result]] = {}

    async def run(self, key: Hashable, work: Callable[[], Coroutine[object, object, Result]]) -> Result:
        loop = asyncio.get_running_loop()
        running_key = (loop, key)
        attempt = self._running.get(running_key)
        if attempt is None:
            attempt = self._running[running_key] = loop.create_task(work())
            attempt.add_done_callback(partial(self._finished, running_key))
        return await asyncio.shield(attempt)

    def _finished(self, running_key: _RunningKey, attempt: asyncio.Task[Result]) -> None:
        del self._running[running_key]
        if not attempt.cancelled():
            attempt.exception()  # marks a failure as seen: every caller may have stopped waiting
