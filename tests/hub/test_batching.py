"""Group commit: callers that arrive while a batch is in hand share the next one, and only a bad caller fails."""

from __future__ import annotations

import asyncio

import pytest

from hub.batching import Batcher


class Recorder:
    """A handle that records each batch it was given and takes one event-loop turn per batch."""

    def __init__(self, refuse: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.refuse = refuse

    async def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)
        if self.refuse in items:
            raise ValueError(f"refused {self.refuse}")
        return [item.upper() for item in items]


async def test_callers_arriving_during_a_batch_share_the_next_one() -> None:
    handle = Recorder()
    batcher = Batcher(handle, max_items=100)
    first = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batcher.submit([name])) for name in ("b", "c", "d")]
    assert await first == ["A"]
    assert [await caller for caller in rest] == [["B"], ["C"], ["D"]]
    assert handle.batches == [["a"], ["b", "c", "d"]]


async def test_a_batch_holds_at_most_max_items_but_never_splits_a_caller() -> None:
    handle = Recorder()
    batcher = Batcher(handle, max_items=3)
    submitted = (["a"], ["b", "c"], ["d", "e"], ["f"], ["g", "h", "i", "j"])
    callers = [asyncio.ensure_future(batcher.submit(items)) for items in submitted]
    assert [await caller for caller in callers] == [[item.upper() for item in items] for items in submitted]
    assert handle.batches == [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i", "j"]]


async def test_a_failing_batch_fails_only_the_caller_whose_item_is_bad() -> None:
    handle = Recorder(refuse="bad")
    batcher = Batcher(handle, max_items=100)
    first = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0)
    good, bad, other = (asyncio.ensure_future(batcher.submit([name])) for name in ("b", "bad", "c"))
    assert await first == ["A"]
    assert await good == ["B"] and await other == ["C"]
    with pytest.raises(ValueError, match="refused bad"):
        await bad
    assert handle.batches == [["a"], ["b", "bad", "c"], ["b"], ["bad", "c"], ["bad"], ["c"]]


async def test_a_failing_batch_is_split_in_halves_until_the_bad_caller_stands_alone() -> None:
    """One bad caller among sixteen costs 2·log2(16) more calls, not one more call per caller."""
    handle = Recorder(refuse="bad")
    batcher = Batcher(handle, max_items=100)
    first = asyncio.ensure_future(batcher.submit(["first"]))
    await asyncio.sleep(0)
    names = [f"c{number}" for number in range(15)]
    names.insert(11, "bad")
    callers = [asyncio.ensure_future(batcher.submit([name])) for name in names]
    await first
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert [outcome for name, outcome in zip(names, outcomes, strict=True) if name != "bad"] == [
        [name.upper()] for name in names if name != "bad"
    ]
    assert isinstance(outcomes[11], ValueError)
    assert len(handle.batches) == 1 + 1 + 2 * 4
    assert handle.batches[2:4] == [names[:8], names[8:]]
    assert ["bad"] in handle.batches and names[12:] in handle.batches


async def test_each_split_is_counted_so_that_a_handle_failing_every_batch_of_several_shows() -> None:
    handle = Recorder(refuse="bad")
    batcher = Batcher(handle, max_items=100, name="outcomes")
    first = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0)
    callers = [asyncio.ensure_future(batcher.submit([name])) for name in ("b", "bad", "c")]
    await first
    await asyncio.gather(*callers, return_exceptions=True)
    assert batcher.splits == 2


async def test_lingering_gathers_callers_that_arrive_soon_after_the_first() -> None:
    handle = Recorder()
    batcher = Batcher(handle, max_items=100, linger_seconds=0.05)
    first = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(batcher.submit(["b"]))
    assert await first == ["A"] and await second == ["B"]
    assert handle.batches == [["a", "b"]]


async def test_a_caller_cancelled_while_waiting_does_not_stop_the_others() -> None:
    handle = Recorder()
    batcher = Batcher(handle, max_items=100)
    first = asyncio.ensure_future(batcher.submit(["a"]))
    await asyncio.sleep(0)
    leaving = asyncio.ensure_future(batcher.submit(["b"]))
    staying = asyncio.ensure_future(batcher.submit(["c"]))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await first == ["A"] and await staying == ["C"]
