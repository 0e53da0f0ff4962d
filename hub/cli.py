"""The `omnihub` command: serve, worker, migrate, demo, create-admin, sweep, rotate-secrets."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import threading

import click
from pydantic import ValidationError

from hub.settings import Settings, load_settings

__all__ = ["main"]

GRACEFUL_SHUTDOWN_SECONDS = 10
"""How long `serve` waits, once told to stop, for open requests (a long poll lasts 25 s) before cancelling them."""


def _settings() -> Settings:
    """The settings, or an exit naming every setting that is wrong (before anything starts)."""
    try:
        return load_settings()
    except ValidationError as invalid:
        problems = [
            (f"OMNIHUB_{str(error['loc'][0]).upper()}: " if error["loc"] else "")
            + error["msg"].removeprefix("Value error, ")
            for error in invalid.errors(include_url=False, include_input=False)
        ]
        raise click.ClickException("invalid configuration:\n  " + "\n  ".join(problems)) from None


def _freeze_startup_heap() -> None:
    """Leave the objects that live as long as the process out of every later garbage collection.

    The started web process holds about 160,000 such objects (modules, routes, models, compiled
    statements); scanning them made each full collection stop the event loop for about 90 ms.
    """
    gc.collect()
    gc.freeze()


async def _with_hub(settings: Settings, work):
    from hub.jobs import JobQueue, current_broker
    from hub.realtime import RedisPublisher
    from hub.runtime import open_hub

    class _NoPublisher:
        async def publish(self, event, channels) -> None:
            return None

    publisher = RedisPublisher(settings.redis_url) if settings.redis_url else _NoPublisher()
    hub = open_hub(settings, JobQueue(current_broker(settings)), publisher)
    try:
        return await work(hub)
    finally:
        await hub.close()


@click.group()
def main() -> None:
    """Omnihub: every customer channel in one inbox. Settings come from OMNIHUB_* variables."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from hub.db import migrate as run_migrations

    settings = _settings()
    run_migrations(settings.database_url)
    click.echo("database is up to date")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
def demo(as_json: bool) -> None:
    """Create (idempotently) the demo workspace and print how to log in."""
    from hub.db import migrate as run_migrations
    from hub.demo import ensure_demo

    settings = _settings()
    run_migrations(settings.database_url)
    facts = asyncio.run(_with_hub(settings, ensure_demo))
    if as_json:
        click.echo(json.dumps(facts, ensure_ascii=False))
        return
    click.echo(f"Demo workspace ready at {facts['url']}")
    click.echo(f"  agent inbox: {facts['url']}/inbox")
    click.echo(f"  login:       {facts['admin_email']} / {facts['admin_password']}")
    click.echo(f"  API token:   {facts['api_token']}")
    for inbox in facts["inboxes"]:
        extra = (
            inbox.get("widget_token") or inbox.get("callback_url") or inbox.get("inbound_webhook_url") or ""
        )
        click.echo(f"  inbox {inbox['kind']:<10} {inbox['name']:<28} {extra}")
    click.echo(f"  try the widget: {facts['url']}/demo")


@main.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", default="Admin")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--workspace", "workspace_name", default="My Company", help="Created when no workspace has this name."
)
def create_admin(email: str, name: str, password: str, workspace_name: str) -> None:
    """Create an admin agent (and its workspace when new)."""
    from sqlmodel import select

    from hub.crypto import MIN_PASSWORD_LENGTH, hash_password
    from hub.db import migrate as run_migrations
    from hub.models import Agent, Workspace

    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"use at least {MIN_PASSWORD_LENGTH} characters", param_hint="--password")

    async def work(hub) -> str:
        async with hub.database.session() as session:
            if (await session.exec(select(Agent).where(Agent.email == email.lower()))).first():
                raise click.ClickException(f"an agent with email {email} exists already")
            workspace = (
                await session.exec(select(Workspace).where(Workspace.name == workspace_name))
            ).first()
            if workspace is None:
                workspace = Workspace(name=workspace_name)
                session.add(workspace)
                await session.flush()
            session.add(
                Agent(
                    workspace_id=workspace.id,
                    email=email.lower(),
                    name=name,
                    role="admin",
                    password_hash=hash_password(password),
                )
            )
            await session.commit()
            return workspace.id

    settings = _settings()
    run_migrations(settings.database_url)
    workspace_id = asyncio.run(_with_hub(settings, work))
    click.echo(f"admin {email.lower()} created in workspace {workspace_id}")


@main.command()
@click.option("--host", default=None, help="Default: OMNIHUB_HOST (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Default: OMNIHUB_PORT (8000).")
def serve(host: str | None, port: int | None) -> None:
    """Run the web process (and, in embedded mode, its worker)."""
    import uvicorn

    from hub.app import create_app
    from hub.db import migrate as run_migrations
    from hub.logs import configure_logging

    settings = _settings()
    host = host or settings.host
    port = port or settings.port
    configure_logging(settings.log_level, settings.log_json)
    if not settings.production:
        run_migrations(settings.database_url)
    mode = "production (PostgreSQL/Redis)" if settings.production else "embedded (SQLite, in-process worker)"
    click.echo(f"Omnihub is running at http://{host}:{port}  [{mode}]", err=True)
    click.echo(
        "Log in with the demo login printed by `omnihub demo`, or an admin from `omnihub create-admin`.",
        err=True,
    )
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)
    # Chat frames are small; per-message deflate would cost each socket 41 KiB of zlib state and the
    # web process a tenth of its CPU (benchmarks/RESULTS.md). Logging stays as configured above
    # (log_config=None), so uvicorn's lines are redacted like ours. X-Forwarded-For names the client
    # only when the direct peer is a trusted proxy.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        ws="websockets-sansio",
        ws_ping_interval=30,
        ws_ping_timeout=30,
        ws_per_message_deflate=False,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


@main.command()
@click.option("--threads", type=int, default=None, help="Default: OMNIHUB_WORKER_THREADS.")
@click.option(
    "--metrics-port", type=int, default=None, help="Serve this worker's Prometheus metrics on this port."
)
def worker(threads: int | None, metrics_port: int | None) -> None:
    """Run a worker process (production mode): inbound processing, delivery, routing, and the sweeper."""
    from functools import partial

    from prometheus_client import start_http_server

    from hub.jobs import JobQueue, make_broker, start_worker
    from hub.logs import configure_logging
    from hub.realtime import RedisPublisher
    from hub.runtime import open_hub
    from hub.sweeper import run_sweeper

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.redis_url is None:
        raise click.ClickException(
            "`omnihub worker` is for production mode: set OMNIHUB_REDIS_URL "
            "(embedded mode runs its worker inside `omnihub serve`)"
        )
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")
    broker = make_broker(settings)
    worker_hub = partial(open_hub, settings, JobQueue(broker), RedisPublisher(settings.redis_url))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    async def sweep_until_stopped(hub) -> None:
        sweeper = asyncio.create_task(run_sweeper(hub))
        await asyncio.to_thread(stop.wait)
        sweeper.cancel()

    # Channels wait for the web process's answer (and retry a webhook not answered within seconds);
    # background work only waits in a queue. Where web and workers share cores, the web comes first.
    os.nice(max(0, settings.worker_nice - os.nice(0)))
    running = start_worker(broker, worker_hub, threads or settings.worker_threads)
    try:
        _freeze_startup_heap()
        click.echo(
            f"worker started with {threads or settings.worker_threads} threads at niceness {os.nice(0)}",
            err=True,
        )
        asyncio.run(_with_hub(settings, sweep_until_stopped))
    finally:
        # Its threads would otherwise keep the process alive after any failure above.
        running.stop()
        broker.close()
    click.echo("worker stopped", err=True)


@main.command()
def sweep() -> None:
    """Re-enqueue work stuck past OMNIHUB_STUCK_AFTER_SECONDS once, and print what was found."""
    from hub.sweeper import sweep as sweep_once

    result = asyncio.run(_with_hub(_settings(), sweep_once))
    click.echo(json.dumps(result))


@main.command("rotate-secrets")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
def rotate_secrets(as_json: bool) -> None:
    """Re-encrypt every stored secret under the current OMNIHUB_SECRET_KEY, and print what was done.

    Run it after moving the old key to OMNIHUB_SECRET_KEY_FALLBACKS in every process; it exits
    non-zero when some secret opens with no configured key.
    """
    from hub.db import migrate as run_migrations
    from hub.key_rotation import rotate_secrets as rotate

    settings = _settings()
    run_migrations(settings.database_url)
    report = asyncio.run(_with_hub(settings, rotate))
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        for name, tally in (
            ("inbox secrets", report.inbox_secrets),
            ("shared values", report.shared_values),
            ("bot secrets", report.bot_secrets),
            ("webhook secrets", report.webhook_secrets),
        ):
            click.echo(
                f"{name}: {tally.reencrypted} re-encrypted under the current key, "
                f"{tally.already_current} already under it"
            )
        for place in report.unreadable:
            click.echo(f"unreadable with every configured key: {place}", err=True)
    if report.unreadable:
        raise click.exceptions.Exit(1)
