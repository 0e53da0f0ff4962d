"""Reading pull channels (email): one long-running poller per inbox, on the worker side.

Every worker runs a PollerSupervisor (started with the worker's Hub, hub.jobs.WorkerHub). Every
`poller_scan_seconds` it looks at the inboxes whose connector is a PollingConnector: it starts a poller for each new
one it can take the lease of (so one process of the deployment reads a mailbox), renews the leases of its pollers,
restarts a poller whose settings changed and stops those whose inbox is gone. A poller that dies with its process
leaves its lease to expire; another worker takes it over.

A poller reads batch by batch from the cursor kept in `poll_state`: each batch's messages go through the normal
inbound path (hub.inbound.accept: dedupe, processing, sockets, bot), and only then is the new cursor saved. A crash
in between reads the batch again, and its dedupe keys drop what was stored: nothing is skipped or stored twice.
Failures show on the inbox (`status`, `status_reason`, `status_retry_at`) and are retried with backoff (transient)
or wait for the settings to change (permanent); one inbox's failure never touches another's poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from connectors import PermanentPollError, PolledItem, PollingConnector, PollResult, TransientPollError
from hub import inbound
from hub.jobs import retry_delay
from hub.models import Inbox, PollState
from hub.runtime import Hub
from hub.statuses import InboxStatus
from hub.store import PROCESS_HOLDER

__all__ = ["PollerSupervisor", "poll_states"]

log = logging.getLogger("omnihub.pollers")
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=15)
LEASE_SCANS = 4
"""A lease lasts this many scans: a poller outlives a missed renewal, and an orphaned inbox waits this long."""
LONGEST_REASON = 1000


async def poll_states(hub: Hub, inbox_ids: Sequence[str]) -> dict[str, PollState]:
    """The poll state of each inbox that has one (the inboxes of pull channels that were read at least once)."""
    if not inbox_ids:
        return {}
    async with hub.database.session() as session:
        rows = await session.exec(select(PollState).where(col(PollState.inbox_id).in_(list(inbox_ids))))
        return {row.inbox_id: row for row in rows.all()}


class _Poller:
    """One inbox's reading loop: connect, poll, accept, save the cursor, wait for news; back off on failure."""

    def __init__(self, hub: Hub, inbox: Inbox) -> None:
        self.hub = hub
        self.inbox = inbox
        connector = hub.connector_for(inbox)
        assert isinstance(connector, PollingConnector)
        self.connector = connector

    async def run(self) -> None:
        state = await self._state()
        failures, cursor = state.failures, state.cursor
        while True:
            try:
                async with self.connector.poll_session(self.hub.connector_context(self.inbox)) as session:
                    await self._set_status(InboxStatus.ACTIVE, failures=failures)
                    while True:
                        result = await session.poll(cursor)
                        await self._store(result)
                        cursor = result.cursor
                        if failures:
                            failures = 0
                            await self._set_status(InboxStatus.ACTIVE)
                        if not result.more:
                            await session.wait_for_news(self.connector.poll_interval())
            except PermanentPollError as refused:
                await self._set_status(InboxStatus.FAILED, self._reason(refused.reason, refused.setting))
                log.warning("poller.failed inbox=%s reason=%s", self.inbox.id, refused.reason)
                return
            except Exception as error:
                failures += 1
                reason = error.reason if isinstance(error, TransientPollError) else type(error).__name__
                if not isinstance(error, TransientPollError):
                    log.exception("poller.error inbox=%s", self.inbox.id)
                delay = retry_delay(FIRST_RETRY, failures, longest=LONGEST_RETRY)
                await self._set_status(
                    InboxStatus.RETRYING, reason, retry_at=self.hub.now() + delay, failures=failures
                )
                log.warning(
                    "poller.retrying inbox=%s in=%.0fs reason=%s",
                    self.inbox.id,
                    delay.total_seconds(),
                    reason,
                )
                await asyncio.sleep(delay.total_seconds())

    async def _store(self, result: PollResult) -> None:
        """The batch's messages accepted (deduplicated by their keys), then the cursor saved past them."""
        await asyncio.gather(*(self._accept(item) for item in result.items if item.messages))
        async with self.hub.database.session() as session:
            await session.execute(
                update(PollState)
                .where(col(PollState.inbox_id) == self.inbox.id)
                .values(cursor=result.cursor, updated_at=self.hub.now())
            )
            await session.commit()

    async def _accept(self, item: PolledItem) -> None:
        """One mail through the inbound path; one the database refuses is logged and passed, never read forever."""
        try:
            await inbound.accept(self.hub, self.inbox, list(item.messages), item.raw)
        except inbound.UnstorableMessage:
            log.warning("poller.mail_refused inbox=%s reason=unstorable", self.inbox.id)

    async def _state(self) -> PollState:
        async with self.hub.database.session() as session:
            state = await session.get(PollState, self.inbox.id)
            if state is None:
                state = PollState(inbox_id=self.inbox.id, workspace_id=self.inbox.workspace_id)
                session.add(state)
                await session.commit()
            return state

    async def _set_status(
        self,
        status: InboxStatus,
        reason: str | None = None,
        *,
        retry_at: datetime | None = None,
        failures: int = 0,
    ) -> None:
        async with self.hub.database.session() as session:
            await session.execute(
                update(PollState)
                .where(col(PollState.inbox_id) == self.inbox.id)
                .values(
                    status=status,
                    status_reason=reason[:LONGEST_REASON] if reason else None,
                    status_retry_at=retry_at,
                    failures=failures,
                    updated_at=self.hub.now(),
                )
            )
            await session.commit()

    @staticmethod
    def _reason(reason: str, setting: str | None) -> str:
        return f"{reason} (check settings.{setting})" if setting else reason


@dataclass(slots=True)
class _Running:
    settings: str
    task: asyncio.Task[None]


class PollerSupervisor:
    """Starts and stops this process's pollers as inboxes come, change and go; see the module's docstring."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.holder = f"{PROCESS_HOLDER}:pollers:{uuid.uuid4().hex[:12]}"
        self._running: dict[str, _Running] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._scan_continually())

    async def stop(self) -> None:
        """Stop every poller and give up their leases, so another process takes the inboxes over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for inbox_id in list(self._running):
            await self._stop(inbox_id)
        await self.hub.jobs.settle()

    async def _scan_continually(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:
                log.exception("pollers.scan_failed")
            await asyncio.sleep(self.hub.settings.poller_scan_seconds)

    async def scan(self) -> None:
        lease = timedelta(seconds=self.hub.settings.poller_scan_seconds * LEASE_SCANS)
        polled = {inbox.id: inbox for inbox in await self._polled_inboxes()}
        for inbox_id, running in list(self._running.items()):
            inbox = polled.get(inbox_id)
            crashed = running.task.done() and not running.task.cancelled() and running.task.exception()
            if inbox is None or repr(inbox.settings) != running.settings or crashed:
                await self._stop(inbox_id)
            elif not await self.hub.store.try_acquire(_lease_key(inbox_id), self.holder, lease):
                log.warning("poller.lease_lost inbox=%s", inbox_id)
                await self._stop(inbox_id, release=False)
        for inbox_id, inbox in polled.items():
            if inbox_id not in self._running and await self.hub.store.try_acquire(
                _lease_key(inbox_id), self.holder, lease
            ):
                poller = _Poller(self.hub, inbox)
                self._running[inbox_id] = _Running(repr(inbox.settings), asyncio.create_task(poller.run()))
                log.info("poller.started inbox=%s", inbox_id)

    async def _polled_inboxes(self) -> list[Inbox]:
        kinds = [
            kind
            for kind in self.hub.registry.kinds()
            if issubclass(self.hub.registry.get(kind), PollingConnector)
        ]
        if not kinds:
            return []
        async with self.hub.database.session() as session:
            return list((await session.exec(select(Inbox).where(col(Inbox.kind).in_(kinds)))).all())

    async def _stop(self, inbox_id: str, *, release: bool = True) -> None:
        running = self._running.pop(inbox_id)
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task
        if release:
            await self.hub.store.release(_lease_key(inbox_id), self.holder)
        log.info("poller.stopped inbox=%s", inbox_id)


def _lease_key(inbox_id: str) -> str:
    return f"poller:{inbox_id}"
