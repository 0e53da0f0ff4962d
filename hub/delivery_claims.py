"""One request per signature: the one-time part of a verified delivery (a connector's ReplayKey) is claimed
together with a digest of the request.

The same request again is a channel's retry, let through for the dedupe to acknowledge; another request under
the same signature is a replay and refused. In memory embedded; in Redis when several web processes share the
claims (one batched round trip, like the rate limits).
"""

from __future__ import annotations

import enum
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from redis.asyncio import Redis

from connectors import RawRequest
from hub.batching import Batcher

__all__ = [
    "Claim",
    "DeliveryClaims",
    "MemoryDeliveryClaims",
    "RedisDeliveryClaims",
    "ReplayRefused",
    "claim_key",
    "claimed_once",
    "request_digest",
]

CLAIM = """
local replies = {}
for index, key in ipairs(KEYS) do
    local digest = ARGV[2 * index - 1]
    if redis.call("SET", key, digest, "NX", "PX", ARGV[2 * index]) then
        replies[index] = 1
    else
        local held = redis.call("GET", key)
        if held == digest then
            redis.call("SET", key, "joined:" .. digest, "KEEPTTL")
            replies[index] = 2
        elseif held == "joined:" .. digest then
            replies[index] = 2
        else
            replies[index] = 0
        end
    end
end
return replies
"""
"""Claim each key for its digest unless it is claimed already: 1 claimed now, 2 claimed before for the same
digest (marked joined), 0 claimed for another. Atomic per key, one round trip for the batch."""
RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""
"""Delete the claim only if it is still the releasing request's own and no retry has joined it."""


class Claim(enum.Enum):
    NEW = 1
    """Nobody had used the signature: this request now holds it."""
    REPEAT = 2
    """The same request was seen before (a retry): it has joined the claim."""
    CONFLICT = 0
    """Another request used the signature: a replay."""


class ReplayRefused(Exception):
    """Another request already used this signature."""


def claim_key(workspace_id: str, inbox_id: str, replay_value: str) -> str:
    """Per inbox, and of a fixed length whatever the channel put in its nonce."""
    return f"{workspace_id}:{inbox_id}:{hashlib.sha256(replay_value.encode()).hexdigest()}"


def request_digest(raw: RawRequest) -> str:
    """Everything a replay could change under the same signature: method, sub-path, query and body."""
    head = json.dumps([raw.method.upper(), raw.sub_path, sorted(raw.query.items())]).encode()
    return hashlib.sha256(len(head).to_bytes(8, "big") + head + raw.body).hexdigest()


class DeliveryClaims(Protocol):
    async def claim(self, key: str, digest: str, hold_for: timedelta) -> Claim:
        """Claim `key` for the request `digest` names, for `hold_for` unless released."""
        ...

    async def release(self, key: str, digest: str) -> None:
        """Give back a claim this request made (it was not stored), unless the same request has come again since:
        its channel may then use the signature again."""
        ...


@asynccontextmanager
async def claimed_once(
    claims: DeliveryClaims, key: str, digest: str, hold_for: timedelta
) -> AsyncIterator[None]:
    """Hold `key` for the request `digest` names while the block stores it; raise ReplayRefused if another holds it.

    A block that fails gives back a claim it made, so the channel's retry is not refused, unless a retry has joined
    it meanwhile (that retry may be stored); a cancelled one keeps it, as it may have stored the request.
    """
    claimed = await claims.claim(key, digest, hold_for)
    if claimed is Claim.CONFLICT:
        raise ReplayRefused(key)
    try:
        yield
    except Exception:
        if claimed is Claim.NEW:
            await claims.release(key, digest)
        raise


class MemoryDeliveryClaims:
    """For the one web process of embedded mode. Expired claims are dropped whenever the map has doubled."""

    MIN_SWEEP_SIZE = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._claims: dict[str, _HeldClaim] = {}
        self._sweep_at = self.MIN_SWEEP_SIZE

    def __len__(self) -> int:
        """Claims held, and expired ones not yet dropped."""
        return len(self._claims)

    async def claim(self, key: str, digest: str, hold_for: timedelta) -> Claim:
        now = self._clock()
        held = self._claims.get(key)
        if held is not None and held.expires_at > now:
            if held.digest != digest:
                return Claim.CONFLICT
            held.joined = True
            return Claim.REPEAT
        self._claims[key] = _HeldClaim(digest, now + hold_for.total_seconds())
        if len(self._claims) >= self._sweep_at:
            self._claims = {key: held for key, held in self._claims.items() if held.expires_at > now}
            self._sweep_at = max(2 * len(self._claims), self.MIN_SWEEP_SIZE)
        return Claim.NEW

    async def release(self, key: str, digest: str) -> None:
        held = self._claims.get(key)
        if held is not None and held.digest == digest and not held.joined:
            del self._claims[key]


@dataclass(slots=True)
class _HeldClaim:
    digest: str
    expires_at: float
    joined: bool = False


class RedisDeliveryClaims:
    MAX_CLAIMS_PER_CALL = 500

    def __init__(self, redis_url: str) -> None:
        self._redis = Redis.from_url(redis_url)
        self._claim_script = self._redis.register_script(CLAIM)
        self._release_script = self._redis.register_script(RELEASE)
        self._batcher: Batcher[tuple[str, str, int], Claim] = Batcher(
            self._claim_batch, max_items=self.MAX_CLAIMS_PER_CALL
        )

    async def claim(self, key: str, digest: str, hold_for: timedelta) -> Claim:
        milliseconds = max(int(hold_for.total_seconds() * 1000), 1)
        [claimed] = await self._batcher.submit([(f"omnihub:delivery:{key}", digest, milliseconds)])
        return claimed

    async def release(self, key: str, digest: str) -> None:
        await self._release_script(keys=[f"omnihub:delivery:{key}"], args=[digest])

    async def _claim_batch(self, claims: list[tuple[str, str, int]]) -> list[Claim]:
        replies = await self._claim_script(
            keys=[key for key, _, _ in claims],
            args=[value for _, digest, hold in claims for value in (digest, hold)],
        )
        return [Claim(reply) for reply in replies]
