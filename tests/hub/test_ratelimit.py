"""The rate limiter pair: the same contract in memory (embedded) and in Redis (shared by every process)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from hub.errors import ApiError
from hub.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, enforce


@pytest.fixture(params=["memory", "redis"])
def new_limiter(request: pytest.FixtureRequest) -> Callable[[], RateLimiter]:
    if request.param == "memory":
        return MemoryRateLimiter
    redis_url = request.getfixturevalue("redis_url")
    return lambda: RedisRateLimiter(redis_url)


@pytest.fixture
async def limiter(new_limiter: Callable[[], RateLimiter]) -> AsyncIterator[RateLimiter]:
    made = new_limiter()
    yield made
    await made.close()


async def test_hits_over_the_limit_answer_the_wait_and_a_reset_forgets_them(limiter: RateLimiter) -> None:
    assert [await limiter.hit("login:account:a", 2, 900) for _ in range(2)] == [None, None]
    wait = await limiter.hit("login:account:a", 2, 900)
    assert wait is not None and 1 <= wait <= 900
    assert await limiter.hit("login:account:b", 2, 900) is None, "keys are counted apart"
    await limiter.reset("login:account:a")
    assert await limiter.hit("login:account:a", 2, 900) is None


async def test_enforce_counts_every_key_and_answers_429_with_the_longest_wait(limiter: RateLimiter) -> None:
    limits = [("ip:198.51.100.1", 1), ("visitor:v", 5)]
    await enforce(limiter, limits, 60, "slow down")
    with pytest.raises(ApiError) as refused:
        await enforce(limiter, limits, 60, "slow down")
    assert refused.value.status_code == 429 and refused.value.code == "rate_limited"
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    assert [await limiter.hit("visitor:v", 5, 60) for _ in range(4)][-1] is not None, (
        "the refused request counted too"
    )


async def test_pruning_many_short_windows_keeps_a_long_window_in_memory() -> None:
    """Sign-in failures (15 minutes) share the dict with widget hits (1 minute): pruning for one spares the other."""
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    limiter.MAX_KEYS = 3
    assert await limiter.hit("login:account:a", 1, 900) is None
    now[0] = 120.0
    for visitor in range(5):
        await limiter.hit(f"visitor:{visitor}", 60, 60)
    assert await limiter.hit("login:account:a", 1, 900) is not None, "the sign-in failure is still counted"
