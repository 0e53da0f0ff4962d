"""Group commit for any round trip: callers that arrive while one batch is in hand go together in the next.

Under load one INSERT, one COMMIT or one Redis pipeline serves many callers; when idle a batch
is one caller and nobody waits for company. Each caller is answered only when the batch that
holds its items is done, so "committed before acknowledged" stays true for every caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["Batcher", "batcher"]

logger = logging.getLogger("omnihub.batching")

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """`handle(items)` answers one result per item, in order. Bound to the event loop that first submits.

    With `linger_seconds`, each batch first waits that long for company: for work off the request
    path, where fuller batches are worth a few milliseconds.

    A batch that fails is handled again in halves, and each half that fails in halves again, so one
    caller's bad item fails only that caller, after about 2·log2(callers) more calls rather than
    one per caller (`handle` must allow the retries: it is idempotent). Each split is logged as a warning
    naming the batcher (`name`): a handle that fails for every batch of several callers would otherwise only
    show as the CPU its splits cost.
    """

    def __init__(
        self,
        handle: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_items: int,
        linger_seconds: float = 0.0,
        name: str = "batch",
    ) -> None:
        self._handle = handle
        self._name = name
        self.splits = 0
        """Batches that failed and were handled again in halves, since the batcher was made."""
        self._max_items = max_items
        self._linger_seconds = linger_seconds
        self._waiting: deque[tuple[list[Item], asyncio.Future[list[Result]]]] = deque()
        self._draining: asyncio.Task | None = None

    async def submit(self, items: list[Item]) -> list[Result]:
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            if self._linger_seconds:
                await asyncio.sleep(self._linger_seconds)
            batch: list[tuple[list[Item], asyncio.Future[list[Result]]]] = []
            count = 0
            while self._waiting and (not batch or count + len(self._waiting[0][0]) <= self._max_items):
                items, future = self._waiting.popleft()
                batch.append((items, future))
                count += len(items)
            await self._run(batch)

    async def _run(self, batch: list[tuple[list[Item], asyncio.Future[list[Result]]]]) -> None:
        try:
            results = await self._handle([item for items, _ in batch for item in items])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            self.splits += 1
            logger.warning(
                "%s: a batch of %d callers failed (%s), handled again in halves",
                self._name,
                len(batch),
                _first_line(error),
            )
            middle = len(batch) // 2
            await self._run(batch[:middle])
            await self._run(batch[middle:])
            return
        start = 0
        for items, future in batch:
            _settle(future, results=list(results[start : start + len(items)]))
            start += len(items)


def _first_line(error: BaseException) -> str:
    """The error's kind and first line: a database error's later lines carry the statement's parameters, which may
    hold customers' messages."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def _settle(
    future: asyncio.Future, *, results: list | None = None, error: BaseException | None = None
) -> None:
    """A caller that was cancelled meanwhile has nobody to answer."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(results)


def batcher(
    hub: Hub,
    name: str,
    handle: Callable[[Hub, list[Any]], Awaitable[Sequence[Any]]],
    *,
    linger_seconds: float = 0.0,
) -> Batcher:
    """The hub's batcher called `name`, made on first use to run `handle(hub, items)`: one per database (so per
    event loop) and kind of work."""
    found = hub.database.batchers.get(name)
    if found is not None:
        return found

    async def handle_on_this_hub(items: list[Any]) -> Sequence[Any]:
        return await handle(hub, items)

    made = hub.database.batchers[name] = Batcher(
        handle_on_this_hub,
        max_items=hub.settings.inbound_batch_size,
        linger_seconds=linger_seconds,
        name=name,
    )
    return made
