"""Request counting per key in windows that start at a key's first request.

In memory embedded; in Redis when several processes share the limit.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from redis.asyncio import Redis

__all__ = ["MemoryRateLimiter", "RateLimiter", "RedisRateLimiter"]


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> float | None:
        """Count one request; answer None when allowed, else the seconds until the window resets."""
        ...


class MemoryRateLimiter:
    MAX_KEYS = 100_000

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> float | None:
        now = self._clock()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= window_seconds:
            started, count = now, 0
        if len(self._windows) > self.MAX_KEYS:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window_seconds}
        self._windows[key] = (started, count + 1)
        if count + 1 > limit:
            return max(math.ceil(started + window_seconds - now), 1)
        return None


class RedisRateLimiter:
    def __init__(self, redis_url: str) -> None:
        self._redis = Redis.from_url(redis_url)

    async def hit(self, key: str, limit: int, window_seconds: int) -> float | None:
        redis_key = f"omnihub:rate:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, window_seconds, nx=True)
            pipe.ttl(redis_key)
            count, _, ttl = await pipe.execute()
        if count > limit:
            return max(int(ttl), 1)
        return None
