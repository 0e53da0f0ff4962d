"""The Litestar application: routes, plugins, and the runtime it starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig

from connectors import default_registry
from hub.agent_socket import agent_socket
from hub.api import api_routes
from hub.attachment_routes import download_attachment
from hub.channel_webhooks import channel_webhook, channel_webhook_sub_path
from hub.connector_routes import HubChannelServices, channel_services_dependency, contributed_routes
from hub.delivery_claims import MemoryDeliveryClaims, RedisDeliveryClaims
from hub.egress import Resolver, system_resolver
from hub.errors import error_handlers
from hub.jobs import JobQueue, make_broker, start_worker
from hub.logs import LitestarLogging
from hub.ops import healthz, metrics_endpoint, readyz
from hub.presence import PresenceHeartbeat
from hub.ratelimit import MemoryRateLimiter, RedisRateLimiter
from hub.realtime import FanoutPublisher, make_fanout
from hub.request import HubRequest
from hub.runtime import new_agent_connections, open_hub
from hub.settings import Settings, load_settings
from hub.spool import Spool
from hub.sweeper import run_sweeper

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, resolver: Resolver = system_resolver) -> Litestar:
    """`resolver` answers the host names of every outgoing request (tests point names at local stand-ins)."""
    settings = settings or load_settings()
    registry = default_registry()

    @contextlib.asynccontextmanager
    async def runtime(app: Litestar) -> AsyncIterator[None]:
        broker = make_broker(settings)
        realtime = make_fanout(settings.redis_url)
        await realtime.start()
        publisher = FanoutPublisher(realtime, asyncio.get_running_loop())
        agent_connections = new_agent_connections(settings)
        hub = open_hub(
            settings,
            JobQueue(broker),
            publisher,
            registry=registry,
            resolver=resolver,
            agent_connections=agent_connections,
        )
        app.state.hub = hub
        presence = app.state.presence = PresenceHeartbeat(hub)
        heartbeat = asyncio.create_task(presence.run())
        app.state.realtime = realtime
        redis_url = settings.redis_url
        app.state.rate_limiter = RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
        app.state.delivery_claims = RedisDeliveryClaims(redis_url) if redis_url else MemoryDeliveryClaims()
        app.state.channel_services = HubChannelServices(hub, realtime, app.state.rate_limiter)
        spool = app.state.spool = Spool(settings.spool_directory, settings.spool_max_bytes)
        draining = asyncio.create_task(spool.drain_continually(hub))
        worker = sweeper = None
        if not settings.production and settings.embedded_worker:
            worker_hub = partial(
                open_hub,
                settings,
                hub.jobs,
                publisher,
                registry=registry,
                resolver=resolver,
                agent_connections=agent_connections,
            )
            worker = start_worker(broker, worker_hub, settings.worker_threads)
            sweeper = asyncio.create_task(run_sweeper(hub, queue_started_at=hub.now()))
        try:
            yield
        finally:
            draining.cancel()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await hub.jobs.settle()
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            broker.close()
            spool.close()
            await app.state.rate_limiter.close()
            await hub.close()
            await realtime.stop()

    app = Litestar(
        route_handlers=[
            *api_routes(settings),
            download_attachment,
            channel_webhook,
            channel_webhook_sub_path,
            agent_socket,
            healthz,
            readyz,
            metrics_endpoint,
            *contributed_routes(),
        ],
        dependencies=channel_services_dependency,
        lifespan=[runtime],
        # Only HTTP is timed: a WebSocket's "latency" would be how long it stayed open.
        middleware=[
            PrometheusConfig(
                app_name="omnihub",
                prefix="omnihub_http",
                group_path=True,
                exclude=["/metrics", "/healthz"],
                scopes={ScopeType.HTTP},
            ).middleware,
        ],
        exception_handlers=error_handlers,
        logging_config=LitestarLogging(),
        request_class=HubRequest,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="Omnihub", version="0.1.0", path="/schema"),
        debug=False,
    )
    app.state.settings = settings
    return app


def app_from_environment() -> Litestar:
    """Entry point for `uvicorn --factory hub.app:app_from_environment`."""
    return create_app(load_settings())
