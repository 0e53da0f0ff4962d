"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
from litestar import Request, Response, get
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, text
from sqlmodel import col, select

from hub import metrics
from hub.errors import RETRY_AFTER_SECONDS
from hub.models import InboundEvent, Inbox, Message
from hub.runtime import Hub

__all__ = ["Health", "Readiness", "healthz", "metrics_endpoint", "readyz"]


class Health(msgspec.Struct):
    status: Literal["ok"]


class Readiness(msgspec.Struct):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
    """`ok`, or `error: <kind of error>`, for each of `database` and `broker`."""


READINESS_CHECK_SECONDS = 3.0


@get("/healthz", tags=["ops"])
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@get(
    "/readyz",
    tags=["ops"],
    responses={
        503: ResponseSpec(data_container=Readiness, description="Unavailable", generate_examples=False)
    },
)
async def readyz(request: Request) -> Response[Readiness]:
    """The database and the broker answer; 503 naming what does not, within seconds of an outage and of its end."""
    hub: Hub = request.app.state.hub
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READINESS_CHECK_SECONDS):
            async with hub.database.session() as session:
                await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"error: {type(error).__name__}"
    try:
        await asyncio.wait_for(asyncio.to_thread(hub.jobs.depth), READINESS_CHECK_SECONDS)
        checks["broker"] = "ok"
    except Exception as error:
        checks["broker"] = f"error: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return Response(
        Readiness(status="ready" if ready else "unavailable", checks=checks),
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@get("/metrics", tags=["ops"], media_type=CONTENT_TYPE_LATEST)
async def metrics_endpoint(request: Request) -> Response[bytes]:
    """Prometheus exposition: request latency per route, pipeline counters, queue depth, dead events and lag."""
    hub: Hub = request.app.state.hub
    async with hub.database.session() as session:
        pending_inbound = (
            await session.exec(select(func.count()).where(InboundEvent.status == "pending"))
        ).one()
        pending_outbound = (
            await session.exec(select(func.count()).where(col(Message.status).in_(("pending", "sending"))))
        ).one()
        dead_inbound = dict(
            (
                await session.exec(
                    select(Inbox.kind, func.count())
                    .select_from(InboundEvent)
                    .join(Inbox, col(Inbox.id) == col(InboundEvent.inbox_id))
                    .where(InboundEvent.status == "dead")
                    .group_by(Inbox.kind)
                )
            ).all()
        )
    metrics.QUEUE_DEPTH.labels("inbound_events").set(pending_inbound)
    metrics.QUEUE_DEPTH.labels("outbound_messages").set(pending_outbound)
    metrics.DEAD_EVENTS_WAITING.clear()
    for kind in {*hub.registry.kinds(), *dead_inbound}:
        metrics.DEAD_EVENTS_WAITING.labels(kind).set(dead_inbound.get(kind, 0))
    broker_depth = await asyncio.to_thread(hub.jobs.depth)
    if broker_depth is not None:
        metrics.QUEUE_DEPTH.labels("broker_jobs").set(broker_depth)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
