"""Reading a mailbox batch by batch from a durable cursor: nothing skipped, nothing read twice, memory bounded.

The cursor is `imap1:<UIDVALIDITY>:<last UID>:<arrival of that mail, Unix seconds>`. UIDs only grow within one
UIDVALIDITY, so "after the last UID" is exactly the mail not read yet. When the server changes UIDVALIDITY (a
rebuilt or migrated mailbox), the old UIDs mean nothing; the rule then is: read again, under the new UIDs, every mail
that arrived at or after the arrival time of the last mail read (the server keeps arrival times across a rebuild).
What of that was read before comes back with the same channel message id (its Message-ID, or its content digest)
and the hub's dedupe drops it; what arrived later is read for the first time. Nothing is skipped and nothing is
stored twice. A new inbox starts with the mail of the last `initial_import_days` days.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.base import (
    ConnectorContext,
    MalformedPayload,
    PermanentPollError,
    PolledItem,
    PollResult,
    PollSession,
    TransientPollError,
)
from connectors.email.imap import FetchedMail, ImapClient, SelectedFolder
from connectors.email.network import MailServerRefused, MailServerUnavailable
from connectors.email.parsing import header_block, read_mail, with_stored_attachments
from connectors.email.settings import EmailSettings

__all__ = ["MailboxCursor", "MailboxSession", "open_mailbox"]

log = logging.getLogger("omnihub.connectors.email")
CURSOR_VERSION = "imap1"


@dataclass(frozen=True, slots=True)
class MailboxCursor:
    uidvalidity: int
    last_uid: int
    last_arrival: int
    """Arrival of the mail at `last_uid` (Unix seconds; 0 when not known), for the rule on a UIDVALIDITY change."""

    def encode(self) -> str:
        return f"{CURSOR_VERSION}:{self.uidvalidity}:{self.last_uid}:{self.last_arrival}"

    @classmethod
    def decode(cls, text: str) -> MailboxCursor:
        version, *numbers = text.split(":")
        if version != CURSOR_VERSION or len(numbers) != 3 or not all(number.isdigit() for number in numbers):
            raise PermanentPollError(f"the stored position {text[:60]!r} is not one this connector wrote")
        return cls(*(int(number) for number in numbers))


@asynccontextmanager
async def open_mailbox(settings: EmailSettings, context: ConnectorContext) -> AsyncIterator[MailboxSession]:
    """Connect, log in and select the inbox's folder; log out on leaving."""
    with poll_errors():
        client = await ImapClient.connect(
            context.connect, settings.imap_host, settings.imap_port, settings.imap_security
        )
    try:
        with poll_errors():
            await client.login(settings.username, settings.password.get_secret_value())
            folder = await client.select(settings.folder)
        yield MailboxSession(client, folder, settings, context)
    finally:
        await client.logout()


@contextmanager
def poll_errors() -> Iterator[None]:
    """The mail server's failures as the contract's poll errors."""
    try:
        yield
    except MailServerUnavailable as failure:
        raise TransientPollError(failure.reason) from None
    except MailServerRefused as refusal:
        raise PermanentPollError(refusal.reason, setting=refusal.setting) from None


class MailboxSession(PollSession):
    def __init__(
        self, client: ImapClient, folder: SelectedFolder, settings: EmailSettings, context: ConnectorContext
    ) -> None:
        self._client = client
        self._folder = folder
        self._settings = settings
        self._context = context

    async def poll(self, cursor: str | None) -> PollResult:
        with poll_errors():
            start = await self._start(MailboxCursor.decode(cursor) if cursor is not None else None)
            waiting = await self._client.uids_after(start.last_uid)
            batch = await self._bounded_batch(waiting[: self._settings.batch_size])
            whole = [uid for uid, size in batch if size <= self._settings.max_message_bytes]
            too_large = {uid: size for uid, size in batch if size > self._settings.max_message_bytes}
            fetched = await self._client.fetch(whole) + await self._client.fetch(
                list(too_large), "BODY.PEEK[HEADER]"
            )
        items: list[PolledItem] = []
        for mail in sorted(fetched, key=lambda mail: mail.uid):
            item = await self._item(mail, too_large.get(mail.uid))
            if item is not None:
                items.append(item)
        end = start
        if batch:
            last_uid = batch[-1][0]
            arrival = next((mail.arrived_at for mail in fetched if mail.uid == last_uid), None)
            end = MailboxCursor(
                self._folder.uidvalidity, last_uid, int(arrival.timestamp()) if arrival else 0
            )
        return PollResult(tuple(items), end.encode(), more=len(waiting) > len(batch))

    async def wait_for_news(self, timeout: float) -> bool:
        if self._settings.use_idle and self._client.can_idle:
            with poll_errors():
                return await self._client.wait_for_news(timeout)
        await asyncio.sleep(timeout)
        return False

    async def _start(self, cursor: MailboxCursor | None) -> MailboxCursor:
        """Where to read from: the cursor, or where the rules for a new inbox or a changed UIDVALIDITY say."""
        validity = self._folder.uidvalidity
        if cursor is not None and cursor.uidvalidity == validity:
            return cursor
        if cursor is None:
            if self._settings.initial_import_days == 0:
                return MailboxCursor(validity, await self._last_uid(), 0)
            since = self._context.now() - timedelta(days=self._settings.initial_import_days)
            candidates = await self._client.uids_since(since.date())
            return MailboxCursor(validity, candidates[0] - 1 if candidates else await self._last_uid(), 0)
        log.info(
            "email.uidvalidity_changed uidvalidity=%s stored_uidvalidity=%s", validity, cursor.uidvalidity
        )
        if cursor.last_arrival == 0:
            return MailboxCursor(validity, 0, 0)
        last_arrival = datetime.fromtimestamp(cursor.last_arrival, UTC)
        candidates = await self._client.uids_since((last_arrival - timedelta(days=1)).date())
        arrivals = await self._client.sizes_and_dates(candidates)
        again = [
            uid for uid in candidates if (arrivals.get(uid, (0, None))[1] or last_arrival) >= last_arrival
        ]
        return MailboxCursor(validity, again[0] - 1 if again else await self._last_uid(), cursor.last_arrival)

    async def _last_uid(self) -> int:
        if self._folder.uidnext is not None:
            return self._folder.uidnext - 1
        newest = await self._client.uids_after(0)
        return newest[-1] if newest else 0

    async def _bounded_batch(self, uids: list[int]) -> list[tuple[int, int]]:
        """The first mails whose sizes add up to at most `max_message_bytes` (always at least one): memory is
        bounded by one batch, however large the mailbox."""
        sizes = await self._client.sizes_and_dates(uids)
        batch: list[tuple[int, int]] = []
        total = 0
        for uid in uids:
            size = sizes.get(uid, (0, None))[0]
            if (
                batch
                and total + min(size, self._settings.max_message_bytes) > self._settings.max_message_bytes
            ):
                break
            batch.append((uid, size))
            total += min(size, self._settings.max_message_bytes)
        return batch

    async def _item(self, mail: FetchedMail, full_size: int | None) -> PolledItem | None:
        """The mail as an item with its attachments stored; None for our own replies and mail without a sender."""
        arrived_at = mail.arrived_at or self._context.now()
        try:
            read = read_mail(mail.data, arrived_at, self._settings, full_size=full_size)
        except MalformedPayload as refused:
            log.warning("email.mail_skipped uid=%s reason=%s", mail.uid, refused)
            return None
        if read.ours:
            return None
        urls: dict[int, str] = {}
        for index, (attachment, content) in enumerate(
            zip(read.message.attachments, read.contents, strict=True)
        ):
            if content is not None:
                urls[index] = await self._context.save_attachment(
                    content,
                    attachment.name or "attachment",
                    attachment.mime_type or "application/octet-stream",
                )
        return PolledItem((with_stored_attachments(read.message, urls),), header_block(mail.data))
