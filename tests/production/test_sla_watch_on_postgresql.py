"""The SLA watch on PostgreSQL: several watches at once, each on connections of its own, emit every breach once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from hub.demo import ensure_demo
from hub.models import Inbox, OutboxEvent, Ticket, utcnow
from hub.settings import Settings
from hub.sla_watch import watch_sla
from hub.statuses import TicketSource
from hub.tickets import ServiceLevel, new_ticket
from routing.sla import Priority, SlaPolicy, SlaTarget
from tests.conftest import TEST_SECRET_KEY, run

TICKETS = 60
WATCHES = 6


def test_concurrent_watches_emit_each_breach_exactly_once(migrated_postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=migrated_postgres_url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET_KEY,
        public_url="http://testserver.local",
        embedded_worker=False,
    )
    demo = run(ensure_demo, settings)
    opened = utcnow() - timedelta(hours=2)
    level = ServiceLevel(
        sla=SlaPolicy(
            {Priority.HIGH: SlaTarget(first_response=timedelta(minutes=5), resolution=timedelta(hours=1))}
        )
    )

    async def race(hub) -> tuple[list[int], Counter[tuple[str, str]], int]:
        async with hub.database.session() as session:
            inbox = (await session.exec(select(Inbox).where(Inbox.kind == "webchat"))).one()
            session.add_all(
                new_ticket(
                    workspace_id=demo["workspace_id"],
                    inbox_id=inbox.id,
                    subject=f"Ticket {number}",
                    level=level,
                    now=opened,
                    source=TicketSource.API,
                    priority=Priority.HIGH,
                )
                for number in range(TICKETS)
            )
            await session.commit()
        emitted = list(await asyncio.gather(*(watch_sla(hub) for _ in range(WATCHES))))
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(OutboxEvent).where(col(OutboxEvent.event_type) == "ticket.sla_breached")
                )
            ).all()
            still_due = (
                await session.exec(select(Ticket).where(col(Ticket.sla_check_at).is_not(None)))
            ).all()
        return emitted, Counter((row.subject_id, row.payload["metric"]) for row in rows), len(still_due)

    emitted, breaches, still_due = run(race, settings)
    assert sum(emitted) == 2 * TICKETS
    assert len(breaches) == 2 * TICKETS and set(breaches.values()) == {1}
    assert still_due == 0, "nothing left for the watch to look at"
