"""Delivery claims, in memory (embedded) and in Redis (production): one request per signature, retries let through."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from connectors.testing import raw_request
from hub.delivery_claims import (
    Claim,
    DeliveryClaims,
    MemoryDeliveryClaims,
    RedisDeliveryClaims,
    ReplayRefused,
    claimed_once,
    request_digest,
)

WINDOW = timedelta(minutes=5)


@pytest.fixture(params=["memory", "redis"])
def claims(request: pytest.FixtureRequest) -> DeliveryClaims:
    if request.param == "memory":
        return MemoryDeliveryClaims()
    return RedisDeliveryClaims(request.getfixturevalue("redis_url"))


async def test_the_first_request_holds_the_signature_and_only_its_retries_pass(
    claims: DeliveryClaims,
) -> None:
    assert await claims.claim("inbox-1:signature", "digest-a", WINDOW) is Claim.NEW
    assert await claims.claim("inbox-1:signature", "digest-a", WINDOW) is Claim.REPEAT
    assert await claims.claim("inbox-1:signature", "digest-b", WINDOW) is Claim.CONFLICT
    assert await claims.claim("inbox-2:signature", "digest-b", WINDOW) is Claim.NEW


async def test_only_the_request_that_claimed_can_give_the_signature_back(claims: DeliveryClaims) -> None:
    await claims.claim("inbox-1:signature", "digest-a", WINDOW)
    await claims.release("inbox-1:signature", "digest-b")
    assert await claims.claim("inbox-1:signature", "digest-b", WINDOW) is Claim.CONFLICT
    await claims.release("inbox-1:signature", "digest-a")
    assert await claims.claim("inbox-1:signature", "digest-b", WINDOW) is Claim.NEW


async def test_a_claim_a_retry_has_joined_is_not_given_back(claims: DeliveryClaims) -> None:
    await claims.claim("inbox-1:signature", "digest-a", WINDOW)
    assert await claims.claim("inbox-1:signature", "digest-a", WINDOW) is Claim.REPEAT
    await claims.release("inbox-1:signature", "digest-a")
    assert await claims.claim("inbox-1:signature", "digest-a", WINDOW) is Claim.REPEAT
    assert await claims.claim("inbox-1:signature", "digest-b", WINDOW) is Claim.CONFLICT


async def test_of_many_requests_at_once_under_one_signature_exactly_one_holds_it(
    claims: DeliveryClaims,
) -> None:
    outcomes = await asyncio.gather(
        *(claims.claim("inbox-1:signature", f"digest-{number % 3}", WINDOW) for number in range(60))
    )
    assert outcomes.count(Claim.NEW) == 1 and outcomes.count(Claim.CONFLICT) == 40
    holder = outcomes.index(Claim.NEW) % 3
    assert [outcome for number, outcome in enumerate(outcomes) if number % 3 == holder].count(
        Claim.REPEAT
    ) == 19


async def test_a_redis_claim_ends_with_its_window(redis_url: str) -> None:
    """A retry joining the claim leaves its expiry alone."""
    claims = RedisDeliveryClaims(redis_url)
    assert await claims.claim("inbox-1:signature", "digest-a", timedelta(milliseconds=50)) is Claim.NEW
    assert await claims.claim("inbox-1:signature", "digest-a", timedelta(milliseconds=50)) is Claim.REPEAT
    deadline = asyncio.get_running_loop().time() + 5
    while await claims.claim("inbox-1:signature", "digest-b", timedelta(milliseconds=50)) is Claim.CONFLICT:
        assert asyncio.get_running_loop().time() < deadline, "the claim outlived its window"
        await asyncio.sleep(0.01)


async def test_a_memory_claim_ends_with_its_window_and_expired_claims_are_dropped() -> None:
    clock = [1000.0]
    claims = MemoryDeliveryClaims(clock=lambda: clock[0])
    assert await claims.claim("inbox-1:signature", "digest-a", WINDOW) is Claim.NEW
    clock[0] += WINDOW.total_seconds() - 1
    assert await claims.claim("inbox-1:signature", "digest-b", WINDOW) is Claim.CONFLICT
    clock[0] += 1
    assert await claims.claim("inbox-1:signature", "digest-b", WINDOW) is Claim.NEW
    for number in range(3 * MemoryDeliveryClaims.MIN_SWEEP_SIZE):
        clock[0] += 1
        await claims.claim(f"inbox-1:{number}", "digest", timedelta(seconds=10))
    assert len(claims) <= MemoryDeliveryClaims.MIN_SWEEP_SIZE


def test_the_digest_covers_method_sub_path_query_and_body() -> None:
    genuine = raw_request(b"<xml/>", query={"timestamp": "1", "nonce": "2"})
    variants = [
        raw_request(b"<xml />", query={"timestamp": "1", "nonce": "2"}),
        raw_request(b"<xml/>", query={"timestamp": "1", "nonce": "2", "encrypt_type": "aes"}),
        raw_request(b"<xml/>", query={"timestamp": "1", "nonce": "2"}, method="GET"),
        raw_request(b"<xml/>", query={"timestamp": "1", "nonce": "2"}, sub_path="status"),
        raw_request(b"<xml/>", query={"timestamp": "1", "nonce": "2=x"}),
    ]
    assert request_digest(genuine) == request_digest(
        raw_request(b"<xml/>", query={"nonce": "2", "timestamp": "1"})
    )
    assert len({request_digest(genuine), *map(request_digest, variants)}) == 1 + len(variants)


async def test_a_block_that_fails_gives_its_claim_back_and_one_cancelled_keeps_it(
    claims: DeliveryClaims,
) -> None:
    with pytest.raises(RuntimeError):
        async with claimed_once(claims, "inbox-1:failed", "digest-a", WINDOW):
            raise RuntimeError("the database went away")
    assert await claims.claim("inbox-1:failed", "digest-b", WINDOW) is Claim.NEW

    entered = asyncio.Event()

    async def cancelled_while_storing() -> None:
        async with claimed_once(claims, "inbox-1:cancelled", "digest-a", WINDOW):
            entered.set()
            await asyncio.Event().wait()

    storing = asyncio.create_task(cancelled_while_storing())
    await entered.wait()
    storing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await storing
    assert await claims.claim("inbox-1:cancelled", "digest-b", WINDOW) is Claim.CONFLICT


async def test_a_retry_that_joined_keeps_the_signature_when_the_first_attempt_fails(
    claims: DeliveryClaims,
) -> None:
    """The channel retried while the first attempt was still storing; the retry was stored, then the first failed."""
    first_holds, retry_stored = asyncio.Event(), asyncio.Event()

    async def first_attempt() -> None:
        with pytest.raises(RuntimeError):
            async with claimed_once(claims, "inbox-1:signature", "digest-a", WINDOW):
                first_holds.set()
                await retry_stored.wait()
                raise RuntimeError("the database went away")

    async def retry() -> None:
        await first_holds.wait()
        async with claimed_once(claims, "inbox-1:signature", "digest-a", WINDOW):
            pass
        retry_stored.set()

    await asyncio.gather(first_attempt(), retry())
    with pytest.raises(ReplayRefused):
        async with claimed_once(claims, "inbox-1:signature", "digest-b", WINDOW):
            pass
