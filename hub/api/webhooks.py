"""Webhook subscriptions of the workspace, for admins: `/api/v1/webhooks`, their deliveries, replays, secret rotation.

The signing secret is answered once, when made (on creation and rotation), and sealed at rest. URLs are judged
by the egress policy when saved and again at every delivery (hub.webhooks).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import Meta
from sqlalchemy import delete as delete_rows
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import actors
from hub.api.bot_settings import judged_url
from hub.api.dependencies import workspace_row
from hub.api.paging import id_page
from hub.auth import Caller
from hub.bot_engines import Url
from hub.errors import ApiError, error_responses
from hub.fields import CursorQuery
from hub.ids import looks_like_id
from hub.models import AuditEntry, WebhookDelivery, WebhookSubscription
from hub.runtime import Hub
from hub.views import (
    WebhookAttemptView,
    WebhookDeliveryPage,
    WebhookDeliveryView,
    WebhookSubscriptionCreated,
    WebhookSubscriptionPage,
    WebhookSubscriptionView,
)
from hub.webhooks import EVENT_TYPES, PREVIOUS_SECRET_VALID, new_secret

__all__ = ["WebhookController", "delivery_view"]

EventTypes = Annotated[list[str], Meta(min_length=1, max_length=len(EVENT_TYPES))]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]


class SubscriptionBody(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    events: EventTypes
    """Event types to receive (see the README's event catalogue)."""
    enabled: bool = True
    mask_sensitive: bool = False
    """Send payloads with the workspace's masking rules applied (as agents see them before a reveal)."""


class SubscriptionChange(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change. Enabling a subscription the hub disabled clears its `disabled_reason`."""

    url: Url | None = None
    events: EventTypes | None = None
    enabled: bool | None = None
    mask_sensitive: bool | None = None


def _view(subscription: WebhookSubscription) -> WebhookSubscriptionView:
    return WebhookSubscriptionView(
        id=subscription.id,
        url=subscription.url,
        events=list(subscription.events),
        enabled=subscription.enabled,
        disabled_reason=subscription.disabled_reason,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
        mask_sensitive=subscription.mask_sensitive,
    )


def _with_secret(subscription: WebhookSubscription, secret: str) -> WebhookSubscriptionCreated:
    return WebhookSubscriptionCreated(**msgspec.structs.asdict(_view(subscription)), secret=secret)


def delivery_view(delivery: WebhookDelivery) -> WebhookDeliveryView:
    log = msgspec.convert(delivery.log, list[WebhookAttemptView])
    return WebhookDeliveryView(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        sequence=delivery.sequence,
        status=msgspec.convert(delivery.status, Literal["pending", "delivered", "failed"]),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=log[-1].status_code if log else None,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        log=log,
    )


def _known_events(events: list[str]) -> list[str]:
    for number, event_type in enumerate(events):
        if event_type not in EVENT_TYPES:
            raise ApiError(
                422,
                "unknown_event_type",
                f"events[{number}] {event_type!r} is not an event type; known: {', '.join(EVENT_TYPES)}.",
                extra=[{"field": f"events[{number}]", "message": "unknown event type"}],
            )
    return list(dict.fromkeys(events))


async def _subscription(session: AsyncSession, admin: Caller, subscription_id: str) -> WebhookSubscription:
    """The admin's subscription; 404 for one of another workspace, as for one that does not exist."""
    return await workspace_row(
        session,
        admin,
        WebhookSubscription,
        subscription_id,
        code="webhook_not_found",
        noun="webhook subscription",
    )


async def _delivery(
    session: AsyncSession, subscription: WebhookSubscription, delivery_id: str
) -> WebhookDelivery:
    """One delivery of the subscription; 404 for any other, as for one that does not exist."""
    delivery = None
    if looks_like_id(delivery_id):
        delivery = (
            await session.exec(
                select(WebhookDelivery).where(
                    WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription.id
                )
            )
        ).first()
    if delivery is None:
        raise ApiError(404, "delivery_not_found", f"No delivery {delivery_id} of this subscription.")
    return delivery


def _audit(admin: Caller, action: str, subscription: WebhookSubscription) -> AuditEntry:
    details = {"url": subscription.url, "events": list(subscription.events), "enabled": subscription.enabled}
    return admin.audit(action, "webhook_subscription", subscription.id, details)


class WebhookController(Controller):
    path = "/webhooks"
    tags = ("webhooks",)

    @post("/", status_code=201, responses=error_responses(400, 401, 403, 413, 422))
    async def create(
        self,
        hub: NamedDependency[Hub],
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        data: JSONBody[SubscriptionBody],
    ) -> WebhookSubscriptionCreated:
        """Subscribe a URL to event types. The answer carries the signing `secret`, shown this once."""
        secret = new_secret()
        now = hub.now()
        subscription = WebhookSubscription(
            workspace_id=admin.workspace_id,
            url=judged_url(hub, "url", data.url),
            events=_known_events(data.events),
            secret=hub.box.encrypt(secret),
            enabled=data.enabled,
            mask_sensitive=data.mask_sensitive,
            created_at=now,
            updated_at=now,
        )
        session.add(subscription)
        session.add(_audit(admin, "webhook_subscription.created", subscription))
        await session.commit()
        return _with_secret(subscription, secret)

    @get("/", responses=error_responses(400, 401, 403))
    async def list_subscriptions(
        self,
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        cursor: CursorQuery = None,
        limit: PageSize = 25,
    ) -> WebhookSubscriptionPage:
        """The workspace's subscriptions, oldest first."""
        statement = select(WebhookSubscription).where(WebhookSubscription.workspace_id == admin.workspace_id)
        page, next_cursor = await id_page(session, statement, col(WebhookSubscription.id), cursor, limit)
        return WebhookSubscriptionPage(items=[_view(row) for row in page], next_cursor=next_cursor)

    @get("/{subscription_id:str}", responses=error_responses(400, 401, 403, 404))
    async def get_subscription(
        self,
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        subscription_id: FromPath[str],
    ) -> WebhookSubscriptionView:
        return _view(await _subscription(session, admin, subscription_id))

    @patch("/{subscription_id:str}", responses=error_responses(400, 401, 403, 404, 413, 422))
    async def change(
        self,
        hub: NamedDependency[Hub],
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        subscription_id: FromPath[str],
        data: JSONBody[SubscriptionChange],
    ) -> WebhookSubscriptionView:
        """Change the URL, the event types, or enable and disable the subscription (events while disabled are not
        sent to it later). A new URL or enabling it again ends a wait for a failing receiver."""
        subscription = await _subscription(session, admin, subscription_id)
        if data.url is not None:
            subscription.url = judged_url(hub, "url", data.url)
            subscription.retry_at = None
        if data.events is not None:
            subscription.events = _known_events(data.events)
        if data.enabled is not None:
            subscription.enabled = data.enabled
            subscription.disabled_reason = None
            subscription.retry_at = None
        if data.mask_sensitive is not None:
            subscription.mask_sensitive = data.mask_sensitive
        subscription.updated_at = hub.now()
        session.add(subscription)
        session.add(_audit(admin, "webhook_subscription.changed", subscription))
        await session.commit()
        return _view(subscription)

    @delete("/{subscription_id:str}", status_code=204, responses=error_responses(400, 401, 403, 404))
    async def remove(
        self,
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        subscription_id: FromPath[str],
    ) -> None:
        """Delete the subscription with its delivery log; deliveries waiting for a retry are not sent."""
        subscription = await _subscription(session, admin, subscription_id)
        await session.exec(
            delete_rows(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription.id)
        )
        session.add(_audit(admin, "webhook_subscription.deleted", subscription))
        await session.delete(subscription)
        await session.commit()

    @post(
        "/{subscription_id:str}/rotate-secret", status_code=200, responses=error_responses(400, 401, 403, 404)
    )
    async def rotate_secret(
        self,
        hub: NamedDependency[Hub],
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        subscription_id: FromPath[str],
    ) -> WebhookSubscriptionCreated:
        """A new signing secret, shown this once. For 24 hours deliveries carry two signatures (new and old
        secret), so the receiver can switch over without refusing any."""
        subscription = await _subscription(session, admin, subscription_id)
        secret = new_secret()
        now = hub.now()
        subscription.previous_secret = subscription.secret
        subscription.previous_secret_until = now + PREVIOUS_SECRET_VALID
        subscription.secret = hub.box.encrypt(secret)
        subscription.updated_at = now
        session.add(subscription)
        session.add(_audit(admin, "webhook_subscription.secret_rotated", subscription))
        await session.commit()
        return _with_secret(subscription, secret)

    @get("/{subscription_id:str}/deliveries", responses=error_responses(400, 401, 403, 404))
    async def deliveries(
        self,
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        subscription_id: FromPath[str],
        status: FromQuery[Literal["pending", "delivered", "failed"] | None] = None,
        cursor: CursorQuery = None,
        limit: PageSize = 25,
    ) -> WebhookDeliveryPage:
        """The subscription's deliveries, newest first, each with its latest attempts."""
        subscription = await _subscription(session, admin, subscription_id)
        statement = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
        if status is not None:
            statement = statement.where(WebhookDelivery.status == status)
        page, next_cursor = await id_page(
            session, statement, col(WebhookDelivery.id), cursor, limit, newest_first=True
        )
        return WebhookDeliveryPage(items=[delivery_view(row) for row in page], next_cursor=next_cursor)

    @get("/{subscription_id:str}/deliveries/{delivery_id:str}", responses=error_responses(400, 401, 403, 404))
    async def delivery(
        self,
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        subscription_id: FromPath[str],
        delivery_id: FromPath[str],
    ) -> WebhookDeliveryView:
        """One delivery with its latest attempts (a replay's result, once its attempt is recorded)."""
        subscription = await _subscription(session, admin, subscription_id)
        return delivery_view(await _delivery(session, subscription, delivery_id))

    @post(
        "/{subscription_id:str}/deliveries/{delivery_id:str}/redeliver",
        status_code=202,
        responses=error_responses(400, 401, 403, 404, 409),
    )
    async def redeliver(
        self,
        hub: NamedDependency[Hub],
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        subscription_id: FromPath[str],
        delivery_id: FromPath[str],
    ) -> WebhookDeliveryView:
        """Send a delivery again now, whatever its status (the same body and `webhook-id`), retried as a new one
        would be; a subscription waiting for its failing receiver tries it again now."""
        subscription = await _subscription(session, admin, subscription_id)
        if not subscription.enabled:
            raise ApiError(409, "webhook_disabled", "Enable the subscription before redelivering to it.")
        delivery = await _delivery(session, subscription, delivery_id)
        now = hub.now()
        delivery.status = "pending"
        delivery.next_attempt_at = now
        delivery.give_up_at = now + timedelta(seconds=hub.settings.webhook_give_up_seconds)
        session.add(delivery)
        subscription.retry_at = None
        session.add(subscription)
        await session.commit()
        await hub.jobs.send_or_leave_to_sweeper(actors.deliver_webhooks, subscription.id)
        return delivery_view(delivery)
