"""The demo workspace: an admin, an API token and one inbox of every channel kind, created idempotently."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import msgspec
from sqlmodel import select

from hub.api import inbox_view
from hub.crypto import hash_api_token, hash_password, new_api_token
from hub.models import Agent, ApiToken, Inbox, Workspace
from hub.runtime import Hub

__all__ = ["DEMO_ADMIN_EMAIL", "ensure_demo"]

DEMO_ADMIN_EMAIL = "admin@demo.omnihub.local"
DEMO_WORKSPACE = "Demo Shop"
REMEMBERED = timedelta(days=3650)
INBOX_CONFIGURATION = frozenset({"settings", "routing_strategy", "bot_enabled", "capabilities", "created_at"})
"""Inbox fields the demo output leaves out: configuration, not how to reach the inbox."""


async def _remembered_secret(hub: Hub, key: str, make) -> tuple[str, bool]:
    """A generated secret kept encrypted in the shared store, so later runs can print it again."""
    value = await hub.store.get(key)
    if value is not None:
        return value, False
    value = make()
    await hub.store.set(key, value, REMEMBERED)
    return value, True


async def ensure_demo(hub: Hub) -> dict[str, Any]:
    async with hub.database.session() as session:
        workspace = (await session.exec(select(Workspace).where(Workspace.name == DEMO_WORKSPACE))).first()
        if workspace is None:
            workspace = Workspace(name=DEMO_WORKSPACE)
            session.add(workspace)
            await session.commit()
    password, new_password = await _remembered_secret(
        hub, f"demo:{workspace.id}:admin_password", lambda: secrets.token_urlsafe(12)
    )
    token, new_token = await _remembered_secret(hub, f"demo:{workspace.id}:api_token", new_api_token)
    async with hub.database.session() as session:
        admin = (await session.exec(select(Agent).where(Agent.email == DEMO_ADMIN_EMAIL))).first()
        if admin is None:
            admin = Agent(
                workspace_id=workspace.id,
                email=DEMO_ADMIN_EMAIL,
                name="Demo Admin",
                role="admin",
                password_hash=hash_password(password),
            )
            session.add(admin)
        elif new_password:
            admin.password_hash = hash_password(password)
        await session.flush()
        token_hash = hash_api_token(token)
        if (
            new_token
            or (await session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash))).first() is None
        ):
            session.add(
                ApiToken(workspace_id=workspace.id, agent_id=admin.id, name="demo", token_hash=token_hash)
            )
        existing = {
            inbox.kind: inbox
            for inbox in (await session.exec(select(Inbox).where(Inbox.workspace_id == workspace.id))).all()
        }
        for kind in hub.registry.kinds():
            if kind in existing:
                continue
            connector = hub.registry.get(kind)
            inbox = Inbox(
                workspace_id=workspace.id,
                kind=kind,
                name=f"Demo {connector.display_name}",
                settings=hub.seal_settings(kind, connector.demo_settings()),
                public_token=secrets.token_urlsafe(24),
            )
            session.add(inbox)
            existing[kind] = inbox
        await session.commit()
    return {
        "admin_email": DEMO_ADMIN_EMAIL,
        "admin_password": password,
        "api_token": token,
        "workspace_id": workspace.id,
        "url": hub.settings.public_url,
        "inboxes": [
            _demo_inbox_facts(hub, inbox) for inbox in sorted(existing.values(), key=lambda inbox: inbox.kind)
        ],
    }


def _demo_inbox_facts(hub: Hub, inbox: Inbox) -> dict[str, Any]:
    """How to reach the inbox: its public facts plus the made-up console settings a local simulator needs."""
    facts = {
        key: value
        for key, value in msgspec.to_builtins(inbox_view(hub, inbox)).items()
        if key not in INBOX_CONFIGURATION
    }
    if inbox.kind in hub.registry:
        facts.update(hub.connector_for(inbox).console_settings())
    return facts
