"""Outgoing webhooks: the outbox's events POSTed to each workspace's subscriptions, signed, retried, logged.

The dispatcher (one at a time in the deployment, under a lease) turns each event of the outbox not yet dispatched
into one delivery row per subscription that wants its type, numbered with the subscription's next `sequence`, and
sends `deliver_webhooks` for each subscription it touched. That job claims the subscription's due deliveries a batch
at a time, signs each stored body in the Standard Webhooks scheme (`webhook-id` is the event's id, the same on every
attempt and replay), POSTs them side by side through the egress policy with a timeout, and records the batch in one
transaction; a failed delivery is due again after an exponential backoff with jitter until `webhook_give_up_seconds`
after it was dispatched, then it is failed and its subscription disabled with the reason. Each subscription has jobs
of its own, so a subscriber that fails or hangs holds no other's deliveries; its failed deliveries wait as rows, with
one delayed job following them, not one per delivery.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
import typing
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import httpx
import msgspec
from sqlalchemy import insert, update
from sqlmodel import col, select

from connectors.base import DestinationRefused
from hub.bot_engines import STANDARD_WEBHOOKS_KEY_PREFIX, signing_key
from hub.egress import guarded_client
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
USER_AGENT = "Omnihub-Webhooks/1"


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


async def dispatch(hub: Hub) -> int:
    """Turn up to a batch of undispatched outbox events into deliveries; answer how many events were dispatched."""
    now = hub.now()
    give_up_at = now + timedelta(seconds=hub.settings.webhook_give_up_seconds)
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
            )
        ).all():
            subscriptions[subscription.workspace_id].append(subscription)
        masking = {
            workspace_id: await workspace_rules(session, workspace_id)
            for workspace_id, wanting in subscriptions.items()
            if any(subscription.mask_sensitive for subscription in wanting)
        }
        deliveries = []
        for event in events:
            for subscription in subscriptions[event.workspace_id]:
                if event.event_type not in subscription.events:
                    continue
                subscription.last_sequence += 1
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
                        next_attempt_at=now,
                        give_up_at=give_up_at,
                        created_at=now,
                    )
                )
                session.add(subscription)
        if deliveries:
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
    await _send(hub, [delivery["subscription_id"] for delivery in deliveries])
    return len(events)


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
    from hub import actors

    for subscription_id in dict.fromkeys(subscription_ids):
        await hub.jobs.send_or_leave_to_sweeper(actors.deliver_webhooks, subscription_id)


async def requeue_overdue(hub: Hub) -> int:
    """Send again a job for each subscription with pending deliveries overdue by `stuck_after_seconds` (their job
    was lost); answer how many subscriptions."""
    cutoff = hub.now() - timedelta(seconds=hub.settings.stuck_after_seconds)
    async with hub.database.session() as session:
        overdue = (
            await session.exec(
                select(WebhookDelivery.subscription_id)
                .where(
                    col(WebhookDelivery.status) == "pending", col(WebhookDelivery.next_attempt_at) < cutoff
                )
                .distinct()
                .limit(DISPATCH_BATCH)
            )
        ).all()
    await _send(hub, list(overdue))
    return len(overdue)


async def deliver_due(hub: Hub, subscription_id: str) -> timedelta | None:
    """POST the subscription's due deliveries, a batch at a time side by side, and record each batch in one
    transaction; answer the wait until the earliest delivery that failed here is due again (None when none did).

    Each batch's first delivery goes alone: when it fails, the receiver is taken to be down and the subscription's
    other due deliveries wait with it, unsent, so a receiver that is down costs one request per retry, not one
    per waiting delivery (and its retries take no time from the hub's other work). Rows are claimed by a
    conditional UPDATE, so jobs of one subscription running at once share its deliveries; a retry job finding
    nothing due asks for no further retry, so the jobs of a failing receiver collapse into one chain.

    The job sends over a keep-alive client of its own, through the egress policy, holding as many connections as
    it has requests in flight: every batch after the first reuses them, and no job waits on another's pool.
    """
    async with guarded_client(hub.egress, CONCURRENT_POSTS) as http:
        return await _deliver_batches(hub, http, subscription_id)


async def _deliver_batches(hub: Hub, http: httpx.AsyncClient, subscription_id: str) -> timedelta | None:
    retry_at: datetime | None = None
    while True:
        now = hub.now()
        claimed, subscription = await _claim_due(hub, subscription_id, now)
        if not claimed or subscription is None:
            break
        if not subscription.enabled:
            disabled = _attempt(now, None, "The subscription is disabled", 0.0, "")
            await _record(hub, [(delivery, "failed", disabled, None) for delivery in claimed])
            continue
        probe = claimed[0]
        first = (await _post_all(hub, http, subscription, [probe], now))[0]
        if not _accepted(first):
            status, due = _after_failure(hub, probe)
            await _record(hub, [(probe, status, first, due)])
            await _hold_back(
                hub, subscription_id, [delivery.id for delivery in claimed[1:]], due or hub.now()
            )
            if due is None:
                await _disable(hub, subscription, probe, first)
                continue
            retry_at = due if retry_at is None else min(retry_at, due)
            break
        attempts = [first, *await _post_all(hub, http, subscription, claimed[1:], now)]
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
                retry_at = due if retry_at is None else min(retry_at, due)
        await _record(hub, outcomes)
        if given_up is not None:
            await _disable(hub, subscription, *given_up)
        if len(claimed) < DELIVERY_BATCH:
            break
    return None if retry_at is None else max(retry_at - hub.now(), timedelta(0))


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


async def _hold_back(hub: Hub, subscription_id: str, claimed_ids: list[str], until: datetime) -> None:
    """The subscription's pending deliveries this job claimed, and any due now, wait until `until`. Those waiting
    already keep their time (rewriting every waiting row on each retry would cost a busy database as the outage
    lasts): when due, a batch of them sends one request again."""
    async with hub.database.session() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.subscription_id) == subscription_id,
                col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.id).in_(claimed_ids)
                | (col(WebhookDelivery.next_attempt_at) <= hub.now()),
            )
            .values(next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )
        await session.commit()


async def _claim_due(
    hub: Hub, subscription_id: str, now: datetime
) -> tuple[list[WebhookDelivery], WebhookSubscription | None]:
    """Up to a batch of the subscription's due deliveries, lowest sequence first, leased for one attempt each."""
    lease = timedelta(seconds=hub.settings.webhook_timeout_seconds + hub.settings.stuck_after_seconds)
    due = (
        (col(WebhookDelivery.subscription_id) == subscription_id)
        & (col(WebhookDelivery.status) == "pending")
        & (col(WebhookDelivery.next_attempt_at) <= now)
    )
    async with hub.database.session() as session:
        claimed = list(
            (
                await session.execute(
                    update(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.id).in_(
                            select(WebhookDelivery.id)
                            .where(due)
                            .order_by(col(WebhookDelivery.sequence))
                            .limit(DELIVERY_BATCH)
                            .scalar_subquery()
                        ),
                        due,
                    )
                    .values(next_attempt_at=now + lease)
                    .returning(WebhookDelivery)
                    .execution_options(synchronize_session=False)
                )
            )
            .scalars()
            .all()
        )
        subscription = await session.get(WebhookSubscription, subscription_id) if claimed else None
        await session.commit()
    return sorted(claimed, key=lambda delivery: delivery.sequence), subscription


async def _post_all(
    hub: Hub,
    http: httpx.AsyncClient,
    subscription: WebhookSubscription,
    deliveries: list[WebhookDelivery],
    now: datetime,
) -> list[WebhookAttemptView]:
    """One attempt of each delivery, at most CONCURRENT_POSTS in flight, over the job's keep-alive client."""
    gate = asyncio.Semaphore(CONCURRENT_POSTS)
    keys = _signing_keys(hub, subscription, now)

    async def one(delivery: WebhookDelivery) -> WebhookAttemptView:
        async with gate:
            return await _post(hub, http, subscription.url, keys, delivery, now)

    return list(await asyncio.gather(*(one(delivery) for delivery in deliveries)))


async def _post(
    hub: Hub, http: httpx.AsyncClient, url: str, keys: list[bytes], delivery: WebhookDelivery, now: datetime
) -> WebhookAttemptView:
    """One signed POST, judged by the egress policy again (the name may resolve elsewhere now)."""
    body = delivery.body.encode()
    timestamp = int(now.timestamp())
    signatures = " ".join(webhook_signature(key, delivery.event_id, timestamp, body) for key in keys)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
    started = time.monotonic()
    try:
        hub.egress.judge_url(url)
        async with asyncio.timeout(hub.settings.webhook_timeout_seconds):
            async with http.stream("POST", url, content=body, headers=headers) as response:
                excerpt = b""
                async for chunk in response.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                        break
        return _attempt(
            now,
            response.status_code,
            None,
            time.monotonic() - started,
            excerpt[:RESPONSE_EXCERPT_BYTES].decode(errors="replace"),
        )
    except DestinationRefused as refused:
        error = f"The URL's host {refused.refusal}"
    except TimeoutError:
        error = f"No answer within {hub.settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:300]
    return _attempt(now, None, error, time.monotonic() - started, "")


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
    async with hub.database.session() as session:
        await session.execute(update(WebhookDelivery), rows)
        await session.commit()
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
            .values(enabled=False, disabled_reason=reason, updated_at=hub.now())
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
    """Dispatch forever on a worker; in a deployment with many workers only the lease holder dispatches, so
    each subscription's sequence follows one order."""
    interval = hub.settings.webhook_dispatch_interval_seconds
    holder = f"{PROCESS_HOLDER}:webhooks:{uuid.uuid4().hex[:12]}"
    lease = timedelta(seconds=max(interval * 10, 10.0))
    checked_overdue = 0.0
    while True:
        try:
            if await hub.store.try_acquire(DISPATCHER_LEASE, holder, lease):
                drained = DISPATCH_BATCH
                while drained == DISPATCH_BATCH:
                    drained = await dispatch(hub)
                if time.monotonic() - checked_overdue > hub.settings.sweep_interval_seconds:
                    checked_overdue = time.monotonic()
                    await requeue_overdue(hub)
        except Exception:
            log.exception("webhooks.dispatch_failed")
        await asyncio.sleep(interval)
