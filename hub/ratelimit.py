"""Fixed-window request counting per key: in memory embedded, in Redis when several processes share the limit."""

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
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> float | None:
        now = self._clock()
        window = int(now // window_seconds)
        current_window, count = self._windows.get(key, (window, 0))
        if current_window != window:
            count = 0
            if len(self._windows) > 100_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        count += 1
        self._windows[key] = (window, count)
        if count > limit:
            return max(math.ceil((window + 1) * window_seconds - now), 1)
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
