"""Recovers what a crash leaves behind: work whose job was lost, and replies a stopped worker left `sending`.

Each round also asks for a reroute of every workspace whose inboxes have an answer timeout, so a
conversation an agent leaves unanswered goes back to the queue within a sweep interval of its deadline, and
serves the queue of every workspace whose agents work shifts, so a shift that begins takes what waits within a
sweep interval.

Retries of failures are not its business: each job kind retries its own (see `hub.actors`). The sweeper only
finds rows whose job can no longer come (sent before a crash, or taken by a worker that stopped) once they
are overdue by `stuck_after_seconds`, and sends their job again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, update
from sqlmodel import col, select

from hub import actors, assignment, lifecycle
from hub.models import InboundEvent, Message
from hub.outbound import give_up_unfinished
from hub.presence import release_lapsed
from hub.runtime import Hub
from hub.sla_watch import watch_sla
from hub.store import PROCESS_HOLDER

__all__ = ["SweepResult", "run_sweeper", "sweep"]

log = logging.getLogger("omnihub.sweeper")
SWEEPER_LEASE = "sweeper"
UNFINISHED_ATTEMPT = "The delivery did not finish (its worker stopped); trying again"


class SweepResult(dict):
    """Counts of work whose job was sent again, per kind."""


async def sweep(hub: Hub, *, queue_started_at: datetime | None = None) -> SweepResult:
    """Send again the jobs of overdue work. `queue_started_at` is when this process's in-memory queue (embedded
    mode) started: work enqueued before then had its job in a queue that died with the previous process, so it is
    overdue at once, and a restart recovers it in its first sweep instead of `stuck_after_seconds` later."""
    now = hub.now()
    cutoff = now - timedelta(seconds=hub.settings.stuck_after_seconds)
    if queue_started_at is not None:
        cutoff = max(cutoff, queue_started_at)
    async with hub.database.session() as session:
        stuck_events = (
            await session.exec(select(InboundEvent.id).where(*_stuck_inbound(cutoff)).limit(1000))
        ).all()
        if stuck_events:
            stuck_events = (
                (
                    await session.execute(
                        update(InboundEvent)
                        .where(col(InboundEvent.id).in_(stuck_events), *_stuck_inbound(cutoff))
                        .values(enqueued_at=now, next_attempt_at=None)
                        .returning(col(InboundEvent.id))
                    )
                )
                .scalars()
                .all()
            )
        abandoned = (
            await session.exec(
                select(Message.id, Message.attempts)
                .where(col(Message.status) == "sending", col(Message.updated_at) < cutoff)
                .limit(1000)
            )
        ).all()
        # The attempt a stopped worker left unfinished counts: a message that stops its worker every time fails.
        out_of_attempts = [
            message_id
            for message_id, attempts in abandoned
            if attempts + 1 >= hub.settings.outbound_max_attempts
        ]
        abandoned_sends = [
            message_id
            for message_id, attempts in abandoned
            if attempts + 1 < hub.settings.outbound_max_attempts
        ]
        if abandoned_sends:
            await session.execute(
                update(Message)
                .where(col(Message.id).in_(abandoned_sends), col(Message.status) == "sending")
                .values(
                    status="pending",
                    attempts=col(Message.attempts) + 1,
                    error=UNFINISHED_ATTEMPT,
                    updated_at=now,
                )
            )
        stuck_sends = (
            await session.exec(
                select(Message.id)
                .where(
                    col(Message.status) == "pending",
                    or_(col(Message.next_attempt_at).is_(None), col(Message.next_attempt_at) < cutoff),
                    col(Message.updated_at) < cutoff,
                )
                .limit(1000)
            )
        ).all()
        if stuck_sends:
            await session.execute(
                update(Message).where(col(Message.id).in_(stuck_sends)).values(updated_at=now)
            )
        outbound = [*abandoned_sends, *stuck_sends]
        await session.commit()
    size = hub.settings.inbound_batch_size
    for start in range(0, len(stuck_events), size):
        await hub.jobs.send(actors.process_inbound, *stuck_events[start : start + size])
    for message_id in outbound:
        await hub.jobs.send(actors.deliver_outbound, message_id)
    for message_id in out_of_attempts:
        await give_up_unfinished(hub, message_id)
    timed = await assignment.workspaces_with_answer_timeouts(hub)
    for workspace_id in timed:
        await hub.jobs.send(actors.reroute, workspace_id)
    on_shifts = await assignment.workspaces_with_shifts(hub)
    for workspace_id in on_shifts:
        await hub.jobs.send(actors.serve_queue, workspace_id)
    result = SweepResult(
        inbound=len(stuck_events), outbound=len(outbound), reroute=len(timed), shift_queues=len(on_shifts)
    )
    if stuck_events or outbound:
        log.warning("sweeper.requeued inbound=%d outbound=%d", len(stuck_events), len(outbound))
    return result


def _stuck_inbound(cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending events whose job is overdue: enqueued (or accepted, or due for a retry after a failure) before
    `cutoff`. A failed event waits for its backoff; dead and discarded ones are never enqueued again."""
    due = func.coalesce(InboundEvent.next_attempt_at, InboundEvent.enqueued_at, InboundEvent.received_at)
    return col(InboundEvent.status) == "pending", due < cutoff


async def run_sweeper(hub: Hub, *, queue_started_at: datetime | None = None) -> None:
    """Sweep, emit the SLA breaches now due (hub.sla_watch), wake the snoozed conversations whose time has come
    (hub.lifecycle) and release the agents whose connections lapsed with no web process left to (hub.presence),
    until cancelled; in a deployment with many processes only the lease holder does. Cancelled, it
    gives the lease up, so the next process sweeps at once. `queue_started_at` as for `sweep`."""
    interval = hub.settings.sweep_interval_seconds
    try:
        while True:
            try:
                if await hub.store.try_acquire(
                    SWEEPER_LEASE, PROCESS_HOLDER, timedelta(seconds=interval * 3)
                ):
                    await sweep(hub, queue_started_at=queue_started_at)
                    await watch_sla(hub)
                    await lifecycle.wake_snoozed(hub)
                    await release_lapsed(hub)
            except Exception:
                log.exception("sweeper.error")
            await asyncio.sleep(interval)
    finally:
        await hub.store.release(SWEEPER_LEASE, PROCESS_HOLDER)
