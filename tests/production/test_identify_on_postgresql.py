"""Signed identify calls racing on PostgreSQL: the same new customer identified from several visitors at the same
moment is one contact (the unique constraint refuses the second insert, the retry links to the first)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path

from litestar.testing import TestClient
from sqlmodel import col, select

from connectors.webchat.wire import IdentifyClaims
from hub.app import create_app
from hub.demo import ensure_demo
from hub.models import Contact, Identity
from tests.conftest import inbox_of, migrated_postgres_settings, run

VISITORS = 6


def test_one_new_customer_identified_from_several_visitors_at_once_is_one_contact(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    settings = migrated_postgres_settings(migrated_postgres_url, tmp_path)
    webchat = inbox_of(run(ensure_demo, settings), "webchat")
    signature = hmac.new(webchat["identity_secret"].encode(), b"user-1", hashlib.sha256).hexdigest()
    claims = IdentifyClaims(user_id="user-1", email="Race@Example.com", identifier_hash=signature)

    async def identify_all_at_once(services) -> None:
        connector = await services.connector_for_token("webchat", webchat["widget_token"])
        visitors = [connector.visitor(f"visitor-{number}") for number in range(VISITORS)]
        await asyncio.gather(
            *(
                services.identify(connector, visitor, connector.identify_claims(claims))
                for visitor in visitors
            )
        )

    async def contacts(hub) -> tuple[set[str], set[str], int]:
        async with hub.database.session() as session:
            identities = (await session.exec(select(Identity))).all()
            live = (await session.exec(select(Contact.id).where(col(Contact.merged_into).is_(None)))).all()
        return {row.contact_id for row in identities}, set(live), len(identities)

    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        services = client.app.state.channel_services
        client.blocking_portal.call(identify_all_at_once, services)
    holders, live, identity_count = run(contacts, settings)
    assert len(holders) == 1
    assert holders <= live
    assert identity_count == VISITORS + 2
