"""The SLA watch: emits `ticket.sla_breached` for every ticket target that passed unmet, exactly once per target.

Runs beside the sweeper on the process that holds the sweeper's lease (`hub.sweeper.run_sweeper`). It reads
only tickets whose `sla_check_at` (the next instant a target can be breached) has come. Each breach is
claimed by a conditional update of its `*_breached_at` column (set only while still null) in the transaction
that writes its outbox event, so two watches running at once, or a watch run again after a crash, never emit
one twice. Tickets are taken in one order (due time, then id), so watches that meet on the same rows wait for
each other rather than deadlock.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlmodel import col, select

from hub import events
from hub.models import Ticket
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.tickets import BREACHED_AT, next_sla_check, sla_snapshot, ticket_view
from hub.views import WorkspaceEvent
from routing.sla import sla_breaches

__all__ = ["BATCH", "watch_sla"]

log = logging.getLogger("omnihub.sla")
BATCH = 500
"""Tickets read per pass: a backlog (after an outage) is worked through one batch per sweep."""


async def watch_sla(hub: Hub) -> int:
    """Emit the breaches due now; returns how many this call emitted."""
    now = hub.now()
    published: list[tuple[str, WorkspaceEvent]] = []
    async with hub.database.session() as session:
        due = (
            await session.exec(
                select(Ticket)
                .where(col(Ticket.sla_check_at).is_not(None), col(Ticket.sla_check_at) <= now)
                .order_by(col(Ticket.sla_check_at), col(Ticket.id))
                .limit(BATCH)
            )
        ).all()
        session.expunge_all()
        outbox = events.Outbox()
        for ticket in due:
            breaches = sla_breaches(*sla_snapshot(ticket), now)
            for breach in breaches:
                column = BREACHED_AT[breach.metric]
                claimed = await session.execute(
                    update(Ticket)
                    .where(col(Ticket.id) == ticket.id, getattr(Ticket, column).is_(None))
                    .values({column: now})
                )
                setattr(ticket, column, getattr(ticket, column) or now)
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                event = outbox.record(
                    ticket.workspace_id,
                    "ticket.sla_breached",
                    ticket.id,
                    {"ticket": ticket_view(ticket), "metric": breach.metric, "due_at": breach.due_at},
                )
                published.append((ticket.workspace_id, event))
                log.info(
                    "sla.breached workspace=%s ticket=%s metric=%s",
                    ticket.workspace_id,
                    ticket.id,
                    breach.metric,
                )
            await session.execute(
                update(Ticket).where(col(Ticket.id) == ticket.id).values(sla_check_at=next_sla_check(ticket))
            )
        await outbox.write(session)
        await session.commit()
    for workspace_id, event in published:
        await hub.publisher.publish(event, [workspace_channel(workspace_id)])
    return len(published)
