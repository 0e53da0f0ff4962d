"""Outgoing webhooks: the outbox's events POSTed to each workspace's subscriptions, signed, retried, logged.

The dispatcher (one at a time in the deployment, under a lease) turns each event of the outbox not yet dispatched
into one delivery row per subscription that wants its type, numbered with the subscription's next `sequence`, and
POSTs them at once on its own loop (`Deliverers`), or sends `deliver_webhooks` for each subscription it touched (a
backlog, a retry). That job claims the subscription's due deliveries a batch at a time, signs each stored body in
the Standard Webhooks scheme (`webhook-id` is the event's id, the same on every attempt and replay), POSTs them side
by side through the egress policy with a timeout, and records the batch in one transaction; a failed delivery is due again after an exponential backoff with jitter until `webhook_give_up_seconds`
after it was dispatched, then it is failed and its subscription disabled with the reason. Each subscription has jobs
of its own, so a subscriber that fails or hangs holds no other's deliveries.

A receiver that is down costs its waiting rows and nothing that grows with them: the subscription waits as a whole
(`retry_at`), followed by one delayed job that tries one delivery when it is due; new deliveries are written
behind it with no job, and no waiting row is read or rewritten until the receiver answers again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import secrets
import time
import typing
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import msgspec
from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors.base import DestinationRefused
from hub.bot_engines import STANDARD_WEBHOOKS_KEY_PREFIX, signing_key
from hub.egress import PostFailed, PostLane, PostRequest, PostTarget
from hub.events import AnyWorkspaceEvent
from hub.ids import new_id
from hub.jobs import retry_delay
from hub.masking import workspace_rules
from hub.models import AuditEntry, OutboxEvent, WebhookDelivery, WebhookSubscription, row_values
from hub.runtime import Hub
from hub.store import PROCESS_HOLDER
from hub.views import WebhookAttemptView, WebhookEnvelope
from normalizer.webhook_signature import webhook_signature

__all__ = [
    "EVENT_TYPES",
    "EVENT_VERSION",
    "PREVIOUS_SECRET_VALID",
    "Deliverers",
    "deliver_due",
    "dispatch",
    "new_secret",
    "requeue_overdue",
    "run_dispatcher",
]

log = logging.getLogger("omnihub.webhooks")

EVENT_TYPES: tuple[str, ...] = tuple(
    str(member.__struct_config__.tag) for member in typing.get_args(AnyWorkspaceEvent)
)
"""Every event type a subscription may ask for: those the outbox records."""
EVENT_VERSION = 1
"""The envelope's `version`: raised when a payload changes in a way a receiver could misread."""
PREVIOUS_SECRET_VALID = timedelta(hours=24)
"""After a rotation, deliveries are signed with the old secret too for this long, so receivers can switch over."""
DISPATCH_BATCH = 500
DELIVERY_BATCH = 100
"""Due deliveries of one subscription a job claims at once, POSTs side by side and records in one transaction."""
CONCURRENT_POSTS = 32
"""Requests of one job in flight to one subscriber at a time."""
LOGGED_ATTEMPTS = 20
"""A delivery keeps its latest attempts; the count of all of them is `attempts`."""
RESPONSE_EXCERPT_BYTES = 1024
LONGEST_RETRY_WAIT = timedelta(hours=1)
DISPATCHER_LEASE = "webhook-dispatcher"
USER_AGENT = b"Omnihub-Webhooks/1"


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` and the base64 of 32 random bytes."""
    return STANDARD_WEBHOOKS_KEY_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _signing_keys(hub: Hub, subscription: WebhookSubscription, now: datetime) -> list[bytes]:
    """The current key, and the one before a rotation while it is still valid."""
    keys = [signing_key(hub.box.decrypt(subscription.secret))]
    until = subscription.previous_secret_until
    if subscription.previous_secret and until is not None and until > now:
        keys.append(signing_key(hub.box.decrypt(subscription.previous_secret)))
    return keys


async def dispatch(hub: Hub, deliverers: Deliverers | None = None) -> int:
    """Turn up to a batch of undispatched outbox events into deliveries; answer how many events were dispatched.

    The subscriptions made ready get a job each through the broker. With `deliverers` (on the dispatcher's loop)
    they are delivered here instead: their new deliveries are written already claimed and handed to the
    subscription's run, which need not claim them again; except those of a subscription whose receiver is being
    tried again after a wait (the run claims its lowest delivery alone), and a full batch (a backlog, written due
    for the jobs it sends as well, which every worker shares)."""
    now = hub.now()
    give_up_at = now + timedelta(seconds=hub.settings.webhook_give_up_seconds)
    claimed_until = now + _lease(hub)
    ready: list[str] = []
    direct = deliverers is not None
    async with hub.database.session() as session:
        events = (
            await session.exec(
                select(OutboxEvent)
                .where(col(OutboxEvent.dispatched_at).is_(None))
                .order_by(col(OutboxEvent.id))
                .limit(DISPATCH_BATCH)
            )
        ).all()
        if not events:
            return 0
        direct = direct and len(events) < DISPATCH_BATCH
        subscriptions: dict[str, list[WebhookSubscription]] = defaultdict(list)
        for subscription in (
            await session.exec(
                select(WebhookSubscription)
                .where(
                    col(WebhookSubscription.workspace_id).in_(
                        sorted({event.workspace_id for event in events})
                    ),
                    col(WebhookSubscription.enabled),
                )
                .order_by(col(WebhookSubscription.id))
                .with_for_update()
            )
        ).all():
            subscriptions[subscription.workspace_id].append(subscription)
        masking = {
            workspace_id: await workspace_rules(session, workspace_id)
            for workspace_id, wanting in subscriptions.items()
            if any(subscription.mask_sensitive for subscription in wanting)
        }
        deliveries = []
        leased: dict[str, _Leased] = {}
        for event in events:
            for subscription in subscriptions[event.workspace_id]:
                if event.event_type not in subscription.events:
                    continue
                subscription.last_sequence += 1
                waiting_until = _waiting_until(subscription, now)
                if waiting_until is None:
                    ready.append(subscription.id)
                    if direct and subscription.retry_at is None and subscription.id not in leased:
                        leased[subscription.id] = _Leased(_Sending(hub, subscription, now), [])
                body = _envelope(event, subscription.last_sequence).decode()
                deliveries.append(
                    row_values(
                        WebhookDelivery,
                        id=new_id(),
                        workspace_id=event.workspace_id,
                        subscription_id=subscription.id,
                        event_id=event.id,
                        event_type=event.event_type,
                        sequence=subscription.last_sequence,
                        body=masking[event.workspace_id].mask(body) if subscription.mask_sensitive else body,
                        next_attempt_at=(
                            claimed_until if subscription.id in leased else waiting_until or now
                        ),
                        give_up_at=give_up_at,
                        created_at=now,
                    )
                )
                session.add(subscription)
        if leased:
            for delivery in (
                await session.execute(insert(WebhookDelivery).returning(WebhookDelivery), deliveries)
            ).scalars():
                if delivery.subscription_id in leased:
                    leased[delivery.subscription_id].deliveries.append(delivery)
        elif deliveries:
            await session.execute(insert(WebhookDelivery), deliveries)
        await session.execute(
            update(OutboxEvent)
            .where(
                col(OutboxEvent.id).in_([event.id for event in events]),
                col(OutboxEvent.dispatched_at).is_(None),
            )
            .values(dispatched_at=now)
        )
        await session.commit()
    if deliverers is None or len(events) == DISPATCH_BATCH:
        await _send(hub, ready)
    if deliverers is not None:
        deliverers.start(ready, leased)
    return len(events)


def _waiting_until(subscription: WebhookSubscription, now: datetime) -> datetime | None:
    """When the subscription's receiver is tried again, while that is still to come (the job that set it then)."""
    if subscription.retry_at is not None and subscription.retry_at > now:
        return subscription.retry_at
    return None


def _envelope(event: OutboxEvent, sequence: int) -> bytes:
    data = {key: value for key, value in event.payload.items() if key != "type"}
    return msgspec.json.encode(
        WebhookEnvelope(
            id=event.id,
            type=event.event_type,
            timestamp=event.created_at,
            version=EVENT_VERSION,
            workspace_id=event.workspace_id,
            sequence=sequence,
            data=data,
        )
    )


async def _send(hub: Hub, subscription_ids: list[str]) -> None:
    """One job per subscription, sent side by side: one after another, the last subscription's job left the
    dispatcher a broker round trip per subscription before it."""
    from hub import actors

    await asyncio.gather(
        *(
            hub.jobs.send_or_leave_to_sweeper(actors.deliver_webhooks, subscription_id)
            for subscription_id in dict.fromkeys(subscription_ids)
        )
    )


class Deliverers:
    """The deliveries of the subscriptions a dispatch made ready, run at once on the dispatcher's own event loop.

    Through the broker, each waited for a worker's poll of Redis (an idle consumer sleeps up to 100 ms between
    polls), a free thread and a turn on the loop, then claimed its batch, before its POSTs: most of the delay from
    a change to the receiver at a steady rate. One run per subscription at a time here, sending its batches in
    sequence order: those a dispatch leases to a run under way wait for it in `_queued` (sent next, unclaimed), and
    a dispatch of due rows asks it for one more round. A retry's wait and a run that fails go back to the broker's
    job, with the batches still queued for the run made due for it."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._running: dict[str, asyncio.Task[None]] = {}
        self._queued: dict[str, list[_Leased]] = defaultdict(list)
        self._again: set[str] = set()

    def idle(self, subscription_id: str) -> bool:
        return subscription_id not in self._running

    def start(self, subscription_ids: list[str], leased: dict[str, _Leased]) -> None:
        """A run for each subscription, beginning with its deliveries `leased` by the dispatch if any; those of a
        subscription whose run is under way are queued for that run."""
        for subscription_id in dict.fromkeys(subscription_ids):
            batch = leased.get(subscription_id)
            if subscription_id not in self._running:
                self._running[subscription_id] = asyncio.create_task(self._run(subscription_id, batch))
            elif batch is not None:
                self._queued[subscription_id].append(batch)
            else:
                self._again.add(subscription_id)

    def _next_batch(self, subscription_id: str) -> _Leased | None:
        """The batches queued for the run, as one (signed with the latest keys and time)."""
        queued = self._queued.pop(subscription_id, [])
        if not queued:
            return None
        return _Leased(queued[-1].sending, [delivery for batch in queued for delivery in batch.deliveries])

    def _end(self, subscription_id: str) -> list[str]:
        """The run is over: a dispatch from now on starts another. Answer the deliveries still queued for it."""
        if self._running.get(subscription_id) is asyncio.current_task():
            del self._running[subscription_id]
        self._again.discard(subscription_id)
        left = self._next_batch(subscription_id)
        return [delivery.id for delivery in left.deliveries] if left is not None else []

    async def _run(self, subscription_id: str, leased: _Leased | None) -> None:
        from hub import actors

        hub = self._hub
        try:
            while True:
                self._again.discard(subscription_id)
                retry_in = await deliver_due(hub, subscription_id, leased)
                leased = self._next_batch(subscription_id)
                if retry_in is not None:
                    unsent = [delivery.id for delivery in leased.deliveries] if leased is not None else []
                    await _put_back(hub, [*unsent, *self._end(subscription_id)], hub.now())
                    # Rounded up: a retry before the subscription's `retry_at` would find it waiting and leave.
                    delay = timedelta(milliseconds=math.ceil(retry_in.total_seconds() * 1000))
                    await hub.jobs.send_or_leave_to_sweeper(
                        actors.deliver_webhooks, subscription_id, delay=delay
                    )
                    return
                if leased is None and subscription_id not in self._again:
                    return
        except Exception:
            log.exception("webhooks.delivery_failed subscription=%s", subscription_id)
            unsent = [delivery.id for delivery in leased.deliveries] if leased is not None else []
            try:
                await _put_back(hub, [*unsent, *self._end(subscription_id)], hub.now())
            finally:
                await hub.jobs.send_or_leave_to_sweeper(actors.deliver_webhooks, subscription_id)
        finally:
            self._end(subscription_id)

    async def close(self) -> None:
        """Stop the runs: a delivery claimed and not recorded is sent again once its lease is over."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def requeue_overdue(hub: Hub) -> int:
    """Send again a job for each subscription with pending deliveries overdue by `stuck_after_seconds` (their job
    was lost); answer how many subscriptions."""
    cutoff = hub.now() - timedelta(seconds=hub.settings.stuck_after_seconds)
    async with hub.database.session() as session:
        overdue = (
            await session.exec(
                select(WebhookDelivery.subscription_id)
                .join(
                    WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id)
                )
                .where(
                    col(WebhookDelivery.status) == "pending",
                    col(WebhookDelivery.next_attempt_at) < cutoff,
                    col(WebhookSubscription.retry_at).is_(None)
                    | (col(WebhookSubscription.retry_at) < cutoff),
                )
                .distinct()
                .limit(DISPATCH_BATCH)
            )
        ).all()
    await _send(hub, list(overdue))
    return len(overdue)


async def deliver_due(hub: Hub, subscription_id: str, leased: _Leased | None = None) -> timedelta | None:
    """POST the subscription's due deliveries (first those the dispatch `leased` to this run, if any), a batch at a
    time side by side, and record each batch in one transaction; answer the wait until every delivery that failed
    here is due again (None when none did), so that the job's retry finds them all due.

    The job's first delivery goes alone, until the receiver has accepted one: when it fails, the receiver is taken
    to be down and the subscription waits until that delivery's next attempt (`retry_at`), its batch put back
    unsent; the job that set the wait follows it, others put their batch back to the same time and leave. While it
    waits a job reads one row and claims nothing; when it is due, one delivery is tried, and full batches follow
    only once it is accepted. So a receiver that is down costs one request, one delivery row and its
    subscription's row per retry, however many deliveries wait. A claim picks rows skipping
    those another job has locked, so jobs of one subscription running at once share its deliveries and never
    queue on each other's row locks (which, held by a convoy of such jobs, took every worker thread from the chat).

    The job sends over keep-alive connections of its own (`_Lanes`), made through the egress policy or taken from
    those the last jobs to the same receiver left: every batch reuses them, and no job waits on another's.
    """
    lanes = _Lanes(hub)
    try:
        return await _deliver_batches(hub, lanes, subscription_id, leased)
    finally:
        lanes.close()


class _Lanes:
    """A job's connections to its subscriber: up to CONCURRENT_POSTS lanes of one keep-alive connection each, taken
    as the job first needs them from those the process keeps between jobs (`Hub.kept_connections`), and given back
    when it ends, so the next job to the same receiver reuses them instead of connecting again."""

    def __init__(self, hub: Hub) -> None:
        self._kept = hub.kept_connections
        self._origin = ""
        self._lanes: list[PostLane] = []

    def take(self, target: PostTarget, count: int) -> list[PostLane]:
        """Lanes for `count` requests to `target` side by side, at most CONCURRENT_POSTS."""
        if target.origin != self._origin:
            self.close()
            self._origin = target.origin
        wanted = min(count, CONCURRENT_POSTS)
        if len(self._lanes) < wanted:
            self._lanes += self._kept.lanes(self._origin, wanted - len(self._lanes))
        return self._lanes[:count]

    def close(self) -> None:
        self._kept.give_back(self._origin, self._lanes)
        self._lanes = []


@dataclass
class _Leased:
    """Deliveries the dispatch wrote already claimed for one subscription, and how to send them."""

    sending: _Sending
    deliveries: list[WebhookDelivery]


async def _deliver_batches(
    hub: Hub, lanes: _Lanes, subscription_id: str, leased: _Leased | None
) -> timedelta | None:
    retry_at: datetime | None = None
    answered = False
    while True:
        now = hub.now()
        given, leased = leased, None
        if given is not None:
            claimed = sorted(given.deliveries, key=_sequence)
            subscription: WebhookSubscription | None = given.sending.subscription
            batch = DELIVERY_BATCH
            if not answered and await _began_waiting(hub, subscription_id, claimed):
                continue
        else:
            claimed, subscription, batch = await _claim_due(hub, subscription_id, now)
        if not claimed or subscription is None:
            break
        if not subscription.enabled:
            disabled = _attempt(now, None, "The subscription is disabled", 0.0, "")
            await _record(hub, [(delivery, "failed", disabled, None) for delivery in claimed])
            continue
        sending = given.sending if given is not None else _Sending(hub, subscription, now)
        if not answered:
            probe = claimed[0]
            first = (await _post_all(lanes, sending, [probe]))[0]
            if not _accepted(first):
                status, due = _after_failure(hub, probe)
                if due is None:
                    await _record(hub, [(probe, status, first, None)])
                    await _put_back(hub, [delivery.id for delivery in claimed[1:]], hub.now())
                    await _disable(hub, subscription, probe, first)
                    continue
                if await _hold(hub, subscription_id, claimed, first, due):
                    retry_at = due
                break
            answered = True
            if subscription.retry_at is not None:
                await _resume(hub, subscription_id)
            attempts = [first, *await _post_all(lanes, sending, claimed[1:])]
        else:
            attempts = await _post_all(lanes, sending, claimed)
        outcomes: list[tuple[WebhookDelivery, str, WebhookAttemptView, datetime | None]] = []
        given_up: tuple[WebhookDelivery, WebhookAttemptView] | None = None
        for delivery, attempt in zip(claimed, attempts, strict=True):
            if _accepted(attempt):
                outcomes.append((delivery, "delivered", attempt, None))
                continue
            status, due = _after_failure(hub, delivery)
            outcomes.append((delivery, status, attempt, due))
            if due is None:
                given_up = given_up or (delivery, attempt)
            else:
                retry_at = due if retry_at is None else max(retry_at, due)
        await _record(hub, outcomes)
        if given_up is not None:
            await _disable(hub, subscription, *given_up)
        if len(claimed) < batch:
            break
    return None if retry_at is None else max(retry_at - hub.now(), timedelta(0))


def _sequence(delivery: WebhookDelivery) -> int:
    return delivery.sequence


def _accepted(attempt: WebhookAttemptView) -> bool:
    return attempt.status_code is not None and 200 <= attempt.status_code < 300


def _after_failure(hub: Hub, delivery: WebhookDelivery) -> tuple[str, datetime | None]:
    """`failed` once the delivery is past its give-up time, else `pending` until its backoff has passed."""
    if delivery.give_up_at is None or hub.now() >= delivery.give_up_at:
        return "failed", None
    wait = retry_delay(
        timedelta(seconds=hub.settings.webhook_retry_seconds),
        delivery.attempts + 1,
        longest=LONGEST_RETRY_WAIT,
    )
    return "pending", hub.now() + wait


async def _put_back(hub: Hub, claimed_ids: list[str], until: datetime) -> None:
    """Deliveries this job claimed and did not send are due again at `until` (only these: the others waiting
    are not rewritten, their subscription's `retry_at` holds them)."""
    if not claimed_ids:
        return
    async with hub.database.session() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(claimed_ids), col(WebhookDelivery.status) == "pending")
            .values(next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )
        await session.commit()


async def _hold(
    hub: Hub, subscription_id: str, claimed: list[WebhookDelivery], probe: WebhookAttemptView, due: datetime
) -> bool:
    """The batch's first delivery failed: record it, and make it and the rest of the batch wait with the
    subscription, in one transaction holding the subscription's row. The wait is until `due` when the subscription
    was not waiting yet, and this job follows it (answer True); else until the wait already set, which the job
    that set it follows (answer False): the batch put back past that wait would have had no job to send it once
    that one had found the receiver back, until the sweeper."""
    now = hub.now()
    async with hub.database.session() as session:
        subscription = (
            await session.execute(
                select(WebhookSubscription.enabled, WebhookSubscription.retry_at)
                .where(col(WebhookSubscription.id) == subscription_id)
                .with_for_update()
            )
        ).first()
        follows, until = subscription is not None and subscription.enabled, due
        waiting_until = subscription.retry_at if subscription is not None else None
        if follows and waiting_until is not None and waiting_until > now:
            follows, until = False, waiting_until
        elif follows:
            await session.execute(
                update(WebhookSubscription)
                .where(col(WebhookSubscription.id) == subscription_id)
                .values(retry_at=until)
            )
        await _write_outcomes(session, [(claimed[0], "pending", probe, until)])
        if len(claimed) > 1:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id).in_([delivery.id for delivery in claimed[1:]]),
                    col(WebhookDelivery.status) == "pending",
                )
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )
        await session.commit()
    _log_outcomes([(claimed[0], "pending", probe, until)])
    return follows


async def _began_waiting(hub: Hub, subscription_id: str, leased: list[WebhookDelivery]) -> bool:
    """Whether the subscription began to wait for its receiver after the dispatch leased it these deliveries (a
    probe failed in between): then they are put back, and the claim decides, which tries one delivery, the lowest,
    once the wait is over."""
    async with hub.database.session() as session:
        retry_at = (
            await session.execute(
                select(WebhookSubscription.retry_at).where(col(WebhookSubscription.id) == subscription_id)
            )
        ).scalar_one_or_none()
    if retry_at is None:
        return False
    await _put_back(hub, [delivery.id for delivery in leased], hub.now())
    return True


async def _resume(hub: Hub, subscription_id: str) -> None:
    """The receiver answered: its deliveries go out in full batches again."""
    async with hub.database.session() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(col(WebhookSubscription.id) == subscription_id)
            .values(retry_at=None)
        )
        await session.commit()


def _lease(hub: Hub) -> timedelta:
    """How long a claimed delivery is its job's: its POST's timeout, then as long as the sweeper waits for a lost
    job."""
    return timedelta(seconds=hub.settings.webhook_timeout_seconds + hub.settings.stuck_after_seconds)


async def _claim_due(
    hub: Hub, subscription_id: str, now: datetime
) -> tuple[list[WebhookDelivery], WebhookSubscription | None, int]:
    """The subscription, and up to a batch of its due deliveries, lowest sequence first, leased for one attempt
    each, with the batch's size: none while the subscription waits, one when its wait is over (to try the
    receiver again), else DELIVERY_BATCH.

    The batch is picked first, then updated by id: one UPDATE with the pick as its `IN` subquery let PostgreSQL,
    estimating one due row, run the pick again for every due row (a claim then took seconds per thousand rows
    waiting, and piled up behind the others)."""
    lease = _lease(hub)
    due = (
        (col(WebhookDelivery.subscription_id) == subscription_id)
        & (col(WebhookDelivery.status) == "pending")
        & (col(WebhookDelivery.next_attempt_at) <= now)
    )
    async with hub.database.session() as session:
        subscription = await session.get(WebhookSubscription, subscription_id)
        if subscription is None or (subscription.enabled and _waiting_until(subscription, now) is not None):
            return [], subscription, 0
        probing = subscription.enabled and subscription.retry_at is not None
        batch = 1 if probing else DELIVERY_BATCH
        pick = select(WebhookDelivery.id).order_by(col(WebhookDelivery.sequence)).limit(batch)
        if probing:
            # The lowest pending delivery, due or not: when another job's probe holds it, there is none to claim.
            pick = pick.where(
                col(WebhookDelivery.subscription_id) == subscription_id,
                col(WebhookDelivery.status) == "pending",
            )
        else:
            pick = pick.where(due).with_for_update(skip_locked=True)
        picked = (await session.execute(pick)).scalars().all()
        claimed = list(
            (
                await session.execute(
                    update(WebhookDelivery)
                    .where(col(WebhookDelivery.id).in_(picked), due)
                    .values(next_attempt_at=now + lease)
                    .returning(WebhookDelivery)
                    .execution_options(synchronize_session=False)
                )
            )
            .scalars()
            .all()
            if picked
            else []
        )
        await session.commit()
    return sorted(claimed, key=_sequence), subscription, batch


class _Sending:
    """What every POST of one batch shares: the URL, parsed and judged by the egress policy once per batch (the
    name may resolve elsewhere now; every connection is judged again as it is made), the signing keys and the
    attempt's time."""

    def __init__(self, hub: Hub, subscription: WebhookSubscription, now: datetime) -> None:
        self.subscription = subscription
        self.timeout = hub.settings.webhook_timeout_seconds
        self.max_bytes = hub.egress.max_response_bytes
        self.now = now
        self.timestamp = int(now.timestamp())
        self.keys = _signing_keys(hub, subscription, now)
        self.target: PostTarget | None = None
        self.refused: str | None = None
        try:
            hub.egress.judge_url(subscription.url)
            self.target = PostTarget(subscription.url)
        except DestinationRefused as refused:
            self.refused = f"The URL's host {refused.refusal}"
        except httpx.InvalidURL as invalid:
            self.refused = f"The URL is not valid: {invalid}"


async def _post_all(
    lanes: _Lanes, sending: _Sending, deliveries: list[WebhookDelivery]
) -> list[WebhookAttemptView]:
    """One attempt of each delivery, at most CONCURRENT_POSTS in flight: each lane sends the next delivery not yet
    taken as soon as its last one is answered."""
    if sending.target is None:
        return [_attempt(sending.now, None, sending.refused, 0.0, "") for _ in deliveries]
    target = sending.target
    attempts: dict[int, WebhookAttemptView] = {}
    waiting = iter(enumerate(deliveries))

    async def lane(post_lane: PostLane) -> None:
        for index, delivery in waiting:
            attempts[index] = await _post(post_lane, target, sending, delivery)

    await asyncio.gather(*(lane(post_lane) for post_lane in lanes.take(target, len(deliveries))))
    return [attempts[index] for index in range(len(deliveries))]


async def _post(
    lane: PostLane, target: PostTarget, sending: _Sending, delivery: WebhookDelivery
) -> WebhookAttemptView:
    """One signed POST."""
    body = delivery.body.encode()
    event_id = delivery.event_id.encode()
    signatures = " ".join(
        webhook_signature(key, delivery.event_id, sending.timestamp, body) for key in sending.keys
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"user-agent", USER_AGENT),
        (b"webhook-id", event_id),
        (b"webhook-timestamp", str(sending.timestamp).encode()),
        (b"webhook-signature", signatures.encode()),
    ]
    started = time.monotonic()
    try:
        async with asyncio.timeout(sending.timeout):
            answer = await lane.post(
                PostRequest(target, headers, body, RESPONSE_EXCERPT_BYTES, sending.max_bytes)
            )
        return _attempt(
            sending.now,
            answer.status,
            None,
            time.monotonic() - started,
            answer.excerpt.decode(errors="replace"),
        )
    except DestinationRefused as refused:
        error = f"The URL's host {refused.refusal}"
    except TimeoutError:
        error = f"No answer within {sending.timeout:g} s"
    except (OSError, PostFailed) as failure:
        error = f"{type(failure).__name__}: {failure}"[:300]
    return _attempt(sending.now, None, error, time.monotonic() - started, "")


def _attempt(
    at: datetime, status_code: int | None, error: str | None, seconds: float, response: str
) -> WebhookAttemptView:
    return WebhookAttemptView(
        at=at,
        status_code=status_code,
        error=error,
        duration_ms=round(seconds * 1000),
        response=response,
    )


async def _record(
    hub: Hub, outcomes: list[tuple[WebhookDelivery, str, WebhookAttemptView, datetime | None]]
) -> None:
    """Each claimed delivery's attempt, new status and next attempt's time, in one statement per batch."""
    async with hub.database.session() as session:
        await _write_outcomes(session, outcomes)
        await session.commit()
    _log_outcomes(outcomes)


async def _write_outcomes(
    session: AsyncSession, outcomes: list[tuple[WebhookDelivery, str, WebhookAttemptView, datetime | None]]
) -> None:
    rows = [
        {
            "id": delivery.id,
            "status": status,
            "attempts": delivery.attempts + 1,
            "log": [*delivery.log, msgspec.to_builtins(attempt)][-LOGGED_ATTEMPTS:],
            "next_attempt_at": next_attempt_at,
            "delivered_at": attempt.at if status == "delivered" else delivery.delivered_at,
        }
        for delivery, status, attempt, next_attempt_at in outcomes
    ]
    await session.execute(update(WebhookDelivery), rows)


def _log_outcomes(outcomes: list[tuple[WebhookDelivery, str, WebhookAttemptView, datetime | None]]) -> None:
    for delivery, status, attempt, _next in outcomes:
        log.info(
            "webhook.attempt workspace=%s subscription=%s delivery=%s status=%s code=%s",
            delivery.workspace_id,
            delivery.subscription_id,
            delivery.id,
            status,
            attempt.status_code,
        )


async def _disable(
    hub: Hub, subscription: WebhookSubscription, delivery: WebhookDelivery, attempt: WebhookAttemptView
) -> None:
    """Deliveries failing for the whole retry period: stop sending, and tell the admin why (view and audit log)."""
    failure = attempt.error or f"HTTP {attempt.status_code}"
    hours = hub.settings.webhook_give_up_seconds / 3600
    reason = (
        f"Disabled: delivery {delivery.id} ({delivery.event_type}) still failed after {delivery.attempts + 1} "
        f"attempts over {hours:g} h; last: {failure}. Fix the receiver, then PATCH enabled=true."
    )
    async with hub.database.session() as session:
        changed = await session.execute(
            update(WebhookSubscription)
            .where(col(WebhookSubscription.id) == subscription.id, col(WebhookSubscription.enabled))
            .values(enabled=False, disabled_reason=reason, retry_at=None, updated_at=hub.now())
            .returning(col(WebhookSubscription.id))
        )
        if changed.first() is not None:
            session.add(
                AuditEntry(
                    workspace_id=subscription.workspace_id,
                    actor_type="system",
                    action="webhook_subscription.disabled",
                    subject_type="webhook_subscription",
                    subject_id=subscription.id,
                    details={"reason": reason},
                )
            )
        await session.commit()
    log.warning("webhook.disabled workspace=%s subscription=%s", subscription.workspace_id, subscription.id)


async def run_dispatcher(hub: Hub) -> None:
    """Dispatch forever on a worker, a look every `interval` from the start of the last one (an event waits half
    an interval on average, however long a dispatch takes); in a deployment with many workers only the lease holder
    dispatches, so each subscription's sequence follows one order."""
    interval = hub.settings.webhook_dispatch_interval_seconds
    holder = f"{PROCESS_HOLDER}:webhooks:{uuid.uuid4().hex[:12]}"
    lease = timedelta(seconds=max(interval * 10, 10.0))
    checked_overdue = 0.0
    deliverers = Deliverers(hub)
    try:
        while True:
            started = time.monotonic()
            try:
                if await hub.store.try_acquire(DISPATCHER_LEASE, holder, lease):
                    drained = DISPATCH_BATCH
                    while drained == DISPATCH_BATCH:
                        drained = await dispatch(hub, deliverers)
                    if time.monotonic() - checked_overdue > hub.settings.sweep_interval_seconds:
                        checked_overdue = time.monotonic()
                        await requeue_overdue(hub)
            except Exception:
                log.exception("webhooks.dispatch_failed")
            await asyncio.sleep(max(started + interval - time.monotonic(), 0.0))
    finally:
        await deliverers.close()
