"""Request counting per key in windows that start at a key's first request.

In memory embedded; in Redis when several processes share the limit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from typing import Protocol

from redis.asyncio import Redis

from hub.batching import Batcher
from hub.errors import ApiError

__all__ = ["MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "enforce"]

COUNT_HITS = """
local replies = {}
for index, key in ipairs(KEYS) do
    replies[#replies + 1] = redis.call("INCR", key)
    redis.call("EXPIRE", key, ARGV[index], "NX")
    replies[#replies + 1] = redis.call("TTL", key)
end
return replies
"""
"""Count one hit per key, starting each key's window at its first hit: atomic, one round trip for the batch."""


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> float | None:
        """Count one request; answer None when allowed, else the seconds until the window resets."""
        ...

    async def reset(self, key: str) -> None:
        """Forget the requests counted for `key` (e.g. failed sign-ins, once the right password is given)."""
        ...

    async def close(self) -> None:
        """Release connections; the limiter is not used afterwards."""
        ...


async def enforce(
    limiter: RateLimiter, limits: Iterable[tuple[str, int]], window_seconds: int, detail: str
) -> None:
    """Count one request against every (key, limit); over any limit, answer 429 with the longest wait.

    Every key is counted even when one is over, so a caller cannot spend one limit while blocked by another.
    """
    waits = await asyncio.gather(*(limiter.hit(key, limit, window_seconds) for key, limit in limits))
    retry_after = max((int(wait) for wait in waits if wait is not None), default=None)
    if retry_after is not None:
        raise ApiError(429, "rate_limited", detail, headers={"Retry-After": str(retry_after)})


class MemoryRateLimiter:
    MAX_KEYS = 100_000

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}
        """key -> (window start, requests counted, window length): limits of different lengths share the dict."""

    async def hit(self, key: str, limit: int, window_seconds: int) -> float | None:
        now = self._clock()
        started, count, _ = self._windows.get(key, (now, 0, window_seconds))
        if now - started >= window_seconds:
            started, count = now, 0
        if len(self._windows) > self.MAX_KEYS:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < v[2]}
        self._windows[key] = (started, count + 1, window_seconds)
        if count + 1 > limit:
            return max(math.ceil(started + window_seconds - now), 1)
        return None

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    async def close(self) -> None:
        self._windows.clear()


class RedisRateLimiter:
    """Hits counted together go to Redis in one pipeline (hub.batching): one round trip and one connection
    for any number of concurrent requests, where a pipeline each would exhaust the connection pool."""

    MAX_HITS_PER_PIPELINE = 500

    def __init__(self, redis_url: str) -> None:
        self._redis = Redis.from_url(redis_url)
        self._count_script = self._redis.register_script(COUNT_HITS)
        self._batcher: Batcher[tuple[str, int], tuple[int, int]] = Batcher(
            self._count, max_items=self.MAX_HITS_PER_PIPELINE
        )

    async def hit(self, key: str, limit: int, window_seconds: int) -> float | None:
        [(count, ttl)] = await self._batcher.submit([(self._redis_key(key), window_seconds)])
        if count > limit:
            return max(int(ttl), 1)
        return None

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._redis_key(key))

    async def close(self) -> None:
        await self._redis.aclose()

    @staticmethod
    def _redis_key(key: str) -> str:
        return f"omnihub:rate:{key}"

    async def _count(self, hits: list[tuple[str, int]]) -> list[tuple[int, int]]:
        """Count each hit and answer (count so far, seconds until its window resets), in one script call."""
        replies = await self._count_script(keys=[key for key, _ in hits], args=[window for _, window in hits])
        return [(replies[index], replies[index + 1]) for index in range(0, len(replies), 2)]
