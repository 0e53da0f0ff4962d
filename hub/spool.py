"""A durable spool for verified webhook deliveries while the database is away.

A channel that delivers by webhook retries briefly (WeChat three times within about 15 seconds), then
drops the message. So while the database cannot be reached, a web process keeps each verified delivery
in an append-only file on its own data volume, fsynced once per group of deliveries that arrive
together, and only then acknowledges it. As soon as the database answers, the process moves the
deliveries into it, in the order they came, through the normal accept (so a channel's retry that was
spooled twice is stored once). A delivery that cannot be spooled either (disk full, spool over its
limit) is not acknowledged: the channel retries it.

A channel's delivery reports on the hub's replies (a status callback, which Twilio never retries) are kept the
same way, in the same order as the messages around them, and applied as they would have been on arrival: a
report that is older than what was applied meanwhile changes nothing, since a report never moves a reply back.

Each process appends to segment files of its own, named by creation time, and holds an exclusive
`flock` on them. A file whose writer died (killed while spooling) is unlocked: the next process to
look, the same one restarted or another sharing the volume, adopts and drains it. While a process
holds spooled deliveries, new ones queue behind them in the spool, so the database receives every
delivery in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from connectors import DeliveryReport
from hub import delivery_reports, inbound, metrics
from hub.batching import Batcher
from hub.db import database_unavailable
from hub.errors import ServiceUnavailable
from hub.models import Inbox
from hub.runtime import Hub
from normalizer import InboundMessage

__all__ = ["Spool"]

log = logging.getLogger("omnihub.spool")
SEGMENT_SUFFIX = ".spool"
DRAIN_RETRY_SECONDS = 1.0
"""While deliveries wait, how often the database is tried again."""
ORPHAN_SCAN_SECONDS = 30.0
"""How often a process with nothing spooled looks for segments another process left behind."""
MOST_DELIVERIES_PER_WRITE = 1000


class SpooledDelivery(msgspec.Struct, frozen=True):
    """One verified delivery: messages, as `inbound.accept` takes them, or delivery reports, as
    `delivery_reports.apply_delivery_reports` takes them."""

    inbox_id: str
    received_at: datetime
    raw: str
    messages: list[InboundMessage]
    reports: list[DeliveryReport] = []


@dataclass(slots=True)
class _Segment:
    """A spool file this process holds the lock of: its deliveries not yet in the database, and the offset
    up to which they are."""

    path: Path
    descriptor: int
    size: int = 0
    deliveries: int = 0
    drained: int = 0


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self._writing = asyncio.Lock()
        """Held while a group is written, and while the segment being written is sealed for draining."""
        self._active: _Segment | None = None
        self._sealed: list[_Segment] = []
        self._bytes_waiting = 0
        self._deliveries_waiting = 0
        self._wake = asyncio.Event()
        self._appends: Batcher[bytes, None] = Batcher(self._append, max_items=MOST_DELIVERIES_PER_WRITE)

    @property
    def holding(self) -> bool:
        """Deliveries wait here for the database; new ones must queue behind them."""
        return self._deliveries_waiting > 0

    async def accept(self, hub: Hub, inbox: Inbox, messages: list[InboundMessage], raw: str) -> None:
        """Into the database; while it is away, or while earlier deliveries still wait here, into the spool.

        Returns once the delivery is durable in one or the other, so the caller may acknowledge it.
        """
        if messages:
            await self._keep(hub, inbox, SpooledDelivery(inbox.id, hub.now(), raw, messages))

    async def report(self, hub: Hub, inbox: Inbox, reports: Sequence[DeliveryReport]) -> None:
        """A channel's delivery reports applied to the replies; while the database is away, or while earlier
        deliveries still wait here, into the spool. Returns once they are applied or durable."""
        if reports:
            await self._keep(hub, inbox, SpooledDelivery(inbox.id, hub.now(), "", [], list(reports)))

    async def _keep(self, hub: Hub, inbox: Inbox, delivery: SpooledDelivery) -> None:
        if not self.holding:
            try:
                await _into_database(hub, inbox, delivery)
                return
            except Exception as error:
                if not database_unavailable(error):
                    raise
                log.warning(
                    "spool.keeping workspace=%s inbox=%s error=%s; deliveries wait in %s",
                    inbox.workspace_id,
                    inbox.id,
                    type(error).__name__,
                    self._directory,
                )
        try:
            await self._appends.submit([msgspec.json.encode(delivery) + b"\n"])
        except OSError as error:
            log.error(
                "spool.refused workspace=%s inbox=%s reason=%s; the delivery is not acknowledged",
                inbox.workspace_id,
                inbox.id,
                error.strerror or type(error).__name__,
            )
            raise ServiceUnavailable("database") from error

    async def drain_continually(self, hub: Hub) -> None:
        """Drain at once (what a killed process left behind), then whenever deliveries wait, until cancelled."""
        while True:
            try:
                await self._drain(hub)
            except Exception as error:
                if not database_unavailable(error):
                    log.exception("spool.drain_failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), DRAIN_RETRY_SECONDS if self.holding else ORPHAN_SCAN_SECONDS
                )

    def close(self) -> None:
        """Release this process's segments; whatever they still hold is drained by the next process to start."""
        for segment in [*self._sealed, *([self._active] if self._active else [])]:
            os.close(segment.descriptor)
        self._sealed, self._active = [], None

    async def _append(self, lines: list[bytes]) -> list[None]:
        """One write and one fsync for every delivery waiting to be spooled."""
        data = b"".join(lines)
        async with self._writing:
            if self._bytes_waiting + len(data) > self._max_bytes:
                raise OSError(errno.ENOSPC, "the spool holds OMNIHUB_SPOOL_MAX_BYTES already")
            if self._active is None:
                self._active = await asyncio.to_thread(_new_segment, self._directory)
            segment = self._active
            await asyncio.to_thread(_append_durably, segment, data)
            segment.size += len(data)
            segment.deliveries += len(lines)
        if not self.holding:
            self._wake.set()  # the drainer, idle until now, tries the database every second from here on
        self._held(len(lines), len(data))
        return [None] * len(lines)

    def _held(self, deliveries: int, size: int) -> None:
        self._deliveries_waiting += deliveries
        self._bytes_waiting += size
        metrics.SPOOLED_DELIVERIES.set(self._deliveries_waiting)

    async def _drain(self, hub: Hub) -> None:
        """Move every waiting delivery into the database, oldest segment first; stop at the first outage."""
        while True:
            async with self._writing:
                if self._active is not None and self._active.deliveries:
                    self._sealed.append(self._active)
                    self._active = None
            self._adopt_orphans()
            if not self._sealed:
                return
            self._sealed.sort(key=lambda segment: segment.path.name)
            for segment in list(self._sealed):
                await self._drain_segment(hub, segment)
                self._sealed.remove(segment)

    def _adopt_orphans(self) -> None:
        """Segments no live process holds: their writer died (or stopped) before draining them."""
        held = {segment.path for segment in self._sealed} | ({self._active.path} if self._active else set())
        for path in sorted(self._directory.glob(f"*{SEGMENT_SUFFIX}")):
            if path in held:
                continue
            segment = _lock_orphan(path)
            if segment is None:
                continue
            complete = _complete_deliveries(path)
            segment.deliveries = len(complete)
            self._sealed.append(segment)
            self._held(segment.deliveries, segment.size)
            log.warning("spool.adopted segment=%s deliveries=%d", path.name, segment.deliveries)

    async def _drain_segment(self, hub: Hub, segment: _Segment) -> None:
        """From where an earlier attempt stopped; the segment is removed once all of it is in the database.

        Consecutive deliveries go together, so the accept stores them in shared INSERTs and the drain outpaces
        new deliveries, which queue in the spool meanwhile. Each keeps the time it arrived.
        """
        waiting = _complete_deliveries(segment.path, start=segment.drained)
        for first in range(0, len(waiting), hub.settings.inbound_batch_size):
            group = waiting[first : first + hub.settings.inbound_batch_size]
            for together in _in_order([_decoded(line, segment.path) for _, line in group]):
                outcomes = await asyncio.gather(
                    *(self._store(hub, delivery) for delivery in together), return_exceptions=True
                )
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
            segment.drained = group[-1][0]
            segment.deliveries -= len(group)
            self._held(-len(group), 0)
        os.unlink(segment.path)
        os.close(segment.descriptor)
        self._held(-segment.deliveries, -segment.size)
        log.info("spool.drained segment=%s", segment.path.name)

    async def _store(self, hub: Hub, delivery: SpooledDelivery) -> None:
        """One delivery as on arrival (the accept's dedupe included); a delivery that can never be stored is
        logged and passed over, as the database would have refused it on arrival."""
        inbox = await hub.inboxes.find(id=delivery.inbox_id)
        if inbox is None:
            log.warning("spool.inbox_gone inbox=%s; its delivery is dropped", delivery.inbox_id)
            return
        try:
            await _into_database(hub, inbox, delivery)
        except inbound.UnstorableMessage:
            log.error(
                "spool.unstorable workspace=%s inbox=%s; the delivery is dropped",
                inbox.workspace_id,
                inbox.id,
            )


async def _into_database(hub: Hub, inbox: Inbox, delivery: SpooledDelivery) -> None:
    """What the delivery would have done on arrival: its reports applied, or its messages accepted."""
    if delivery.reports:
        await delivery_reports.apply_delivery_reports(hub, inbox, delivery.reports)
    else:
        await inbound.accept(hub, inbox, delivery.messages, delivery.raw, received_at=delivery.received_at)


def _decoded(line: bytes, path: Path) -> SpooledDelivery | None:
    try:
        return msgspec.json.decode(line, type=SpooledDelivery)
    except msgspec.DecodeError as error:
        log.error("spool.unreadable segment=%s error=%s", path.name, error)
        return None


def _in_order(deliveries: list[SpooledDelivery | None]) -> list[list[SpooledDelivery]]:
    """Consecutive message deliveries go together (the accept orders what it stores together); each delivery
    report goes alone, after what came before it, as a later report may depend on an earlier one."""
    runs: list[list[SpooledDelivery]] = []
    for delivery in deliveries:
        if delivery is None:
            continue
        if delivery.reports or not runs or runs[-1][0].reports:
            runs.append([delivery])
        else:
            runs[-1].append(delivery)
    return runs


def _new_segment(directory: Path) -> _Segment:
    """A file of this process's own, locked, and its directory entry durable before anything is acknowledged."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _sync_directory(directory)
    return _Segment(path, descriptor)


def _append_durably(segment: _Segment, data: bytes) -> None:
    """All of `data` on disk, or none of it: a failed write (disk full) is cut off again."""
    try:
        written = 0
        while written < len(data):
            written += os.write(segment.descriptor, data[written:])
        os.fsync(segment.descriptor)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(segment.descriptor, segment.size)
        raise


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _lock_orphan(path: Path) -> _Segment | None:
    """The segment, locked by this process, when no other process holds it (and it still exists)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    if not path.exists():  # drained and removed by its holder between the listing and the lock
        os.close(descriptor)
        return None
    return _Segment(path, descriptor, size=os.fstat(descriptor).st_size)


def _complete_deliveries(path: Path, start: int = 0) -> list[tuple[int, bytes]]:
    """Each whole line from `start` with the offset after it. A last line without its newline was being
    written when its process died: it was never acknowledged, so it is left out."""
    with path.open("rb") as handle:
        handle.seek(start)
        content = handle.read()
    found, offset = [], start
    for line in content.splitlines(keepends=True):
        offset += len(line)
        if line.endswith(b"\n"):
            found.append((offset, line))
    return found
