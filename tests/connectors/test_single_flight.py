"""SingleFlight: callers that need the same answer at the same time share one attempt."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.single_flight import SingleFlight


class Lookups:
    """A slow look-up that counts its attempts; fails while `failing` is set."""

    def __init__(self) -> None:
        self.attempts = 0
        self.failing = False
        self.release = asyncio.Event()

    async def look_up(self, answer: str) -> str:
        self.attempts += 1
        await self.release.wait()
        if self.failing:
            raise LookupError(f"attempt {self.attempts} failed")
        return f"{answer} #{self.attempts}"


async def test_concurrent_callers_share_one_attempt_and_later_ones_start_anew() -> None:
    flight, lookups = SingleFlight[str](), Lookups()
    callers = [asyncio.create_task(flight.run("token", lambda: lookups.look_up("token"))) for _ in range(20)]
    await asyncio.sleep(0)
    lookups.release.set()
    assert await asyncio.gather(*callers) == ["token #1"] * 20
    assert await flight.run("token", lambda: lookups.look_up("token")) == "token #2"


async def test_different_keys_do_not_wait_for_each_other() -> None:
    flight, lookups = SingleFlight[str](), Lookups()
    lookups.release.set()
    assert await asyncio.gather(
        flight.run("a", lambda: lookups.look_up("a")), flight.run("b", lambda: lookups.look_up("b"))
    ) == ["a #1", "b #2"]


async def test_a_failure_reaches_every_waiting_caller_once_and_the_next_caller_retries() -> None:
    flight, lookups = SingleFlight[str](), Lookups()
    lookups.failing = True
    callers = [asyncio.create_task(flight.run("token", lambda: lookups.look_up("token"))) for _ in range(5)]
    await asyncio.sleep(0)
    lookups.release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert [str(outcome) for outcome in outcomes] == ["attempt 1 failed"] * 5
    lookups.failing = False
    assert await flight.run("token", lambda: lookups.look_up("token")) == "token #2"


async def test_a_cancelled_caller_leaves_the_attempt_to_the_others() -> None:
    flight, lookups = SingleFlight[str](), Lookups()
    impatient = asyncio.create_task(flight.run("token", lambda: lookups.look_up("token")))
    patient = asyncio.create_task(flight.run("token", lambda: lookups.look_up("token")))
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    lookups.release.set()
    assert await patient == "token #1" and lookups.attempts == 1


def test_event_loops_in_two_threads_make_their_own_attempts() -> None:
    """A hub per event loop (the embedded worker runs its own): one loop never awaits another loop's task."""
    flight = SingleFlight[str]()
    first_started, finish_first = threading.Event(), threading.Event()

    async def slow() -> str:
        first_started.set()
        await asyncio.to_thread(finish_first.wait, 5)
        return "first loop"

    async def quick() -> str:
        return "second loop"

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(asyncio.run, flight.run("key", slow))
        assert first_started.wait(5)
        assert asyncio.run(flight.run("key", quick)) == "second loop"
        finish_first.set()
        assert first.result(5) == "first loop"
