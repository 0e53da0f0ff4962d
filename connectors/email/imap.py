"""An IMAP client over a connection the hub opened: log in, select a folder, find and fetch mail by UID, IDLE.

aioimaplib parses the protocol; this module drives its protocol object over our socket (aioimaplib's IMAP4 class
opens its own connection, which the hub's egress policy would not see) and adds what it lacks: STARTTLS, deadlines
on every command, and noticing a dropped connection at once. Mailbox names are sent in IMAP's modified UTF-7.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from aioimaplib import IMAP4ClientProtocol, Response, quoted

from connectors.base import Connect
from connectors.email.network import (
    MailServerRefused,
    MailServerUnavailable,
    open_socket,
    tls_context,
    tls_failure,
)
from connectors.email.settings import Security

__all__ = ["FetchedMail", "ImapClient", "SelectedFolder", "encode_mailbox_name"]

COMMAND_TIMEOUT_SECONDS = 60.0
MAX_GREETING_BYTES = 8192
_STARTTLS_TAG = b"S0"
_FETCH_LINE = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNAL_DATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT) (\d+)\]")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""IMAP's dates are in English whatever the locale."""
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SelectedFolder:
    uidvalidity: int
    uidnext: int | None


@dataclass(frozen=True, slots=True)
class FetchedMail:
    uid: int
    arrived_at: datetime | None
    data: bytes


def encode_mailbox_name(name: str) -> str:
    """A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3): `收件箱` -> `&ZTZO9nux-`."""
    encoded: list[str] = []
    pending = ""

    def flush() -> None:
        nonlocal pending
        if pending:
            chunk = (
                base64.b64encode(pending.encode("utf-16-be")).decode("ascii").rstrip("=").replace("/", ",")
            )
            encoded.append(f"&{chunk}-")
            pending = ""

    for character in name:
        if " " <= character <= "~":
            flush()
            encoded.append("&-" if character == "&" else character)
        else:
            pending += character
    flush()
    quoted = "".join(encoded).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}"'


class _Protocol(IMAP4ClientProtocol):
    """aioimaplib's protocol, which also says when the connection is gone: its pending commands would wait on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.lost = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.lost.set()
        self.idle_queue.put_nowait(None)


class ImapClient:
    """One logged-in IMAP connection. Every failure raises MailServerUnavailable or MailServerRefused."""

    def __init__(self, protocol: _Protocol, host: str) -> None:
        self._protocol = protocol
        self._host = host
        self._lost = protocol.lost

    @classmethod
    async def connect(cls, connect: Connect | None, host: str, port: int, security: Security) -> ImapClient:
        sock = await open_socket(connect, host, port, "imap")
        loop = asyncio.get_running_loop()
        try:
            greeting = await _starttls(sock, host, loop) if security is Security.STARTTLS else None
            encrypted = security is not Security.NONE
            protocol = _Protocol(loop)
            async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
                await loop.create_connection(
                    lambda: protocol,
                    sock=sock,
                    ssl=tls_context() if encrypted else None,
                    server_hostname=host if encrypted else None,
                )
                if greeting is not None:
                    await protocol.welcome(greeting)
                await protocol.wait("AUTH|NONAUTH")
        except ssl.SSLError as error:
            sock.close()
            raise tls_failure(error, host, port, "imap") from None
        except TimeoutError:
            sock.close()
            raise MailServerUnavailable(f"{host}:{port} did not greet as an IMAP server in time") from None
        except OSError as error:
            sock.close()
            raise MailServerUnavailable(f"the connection to {host}:{port} failed ({error})") from None
        return cls(protocol, host)

    @property
    def can_idle(self) -> bool:
        return "IDLE" in self._protocol.capabilities

    async def login(self, username: str, password: str) -> None:
        response = await self._command(self._protocol.login(quoted(username), password))
        if response.result != "OK":
            raise MailServerRefused(
                f"{self._host} refused the username or password ({_text(response)})", setting="password"
            )

    async def select(self, folder: str) -> SelectedFolder:
        response = await self._command(self._protocol.select(encode_mailbox_name(folder)))
        if response.result != "OK":
            raise MailServerRefused(
                f"{self._host} has no folder {folder!r} ({_text(response)})", setting="folder"
            )
        codes = {
            name: int(value)
            for line in response.lines
            if isinstance(line, bytes)
            for name, value in _CODE.findall(line)
        }
        if b"UIDVALIDITY" not in codes:
            raise MailServerUnavailable(f"{self._host} did not say the folder's UIDVALIDITY")
        return SelectedFolder(codes[b"UIDVALIDITY"], codes.get(b"UIDNEXT"))

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than `last_uid`, ascending. (`n:*` names the newest mail even when its UID is below n.)"""
        uids = await self._search("UID", f"{last_uid + 1}:*")
        return [uid for uid in uids if uid > last_uid]

    async def uids_since(self, day: date) -> list[int]:
        """UIDs of mail that arrived on `day` or later (the server's days), ascending."""
        return await self._search("SINCE", f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}")

    async def sizes_and_dates(self, uids: list[int]) -> dict[int, tuple[int, datetime | None]]:
        if not uids:
            return {}
        response = await self._fetch(uids, "(UID RFC822.SIZE INTERNALDATE)")
        found: dict[int, tuple[int, datetime | None]] = {}
        for line in response.lines:
            if isinstance(line, bytes) and _FETCH_LINE.match(line) and (uid := _UID.search(line)):
                size = _SIZE.search(line)
                found[int(uid.group(1))] = (int(size.group(1)) if size else 0, _arrival(line))
        return found

    async def fetch(self, uids: list[int], part: str = "BODY.PEEK[]") -> list[FetchedMail]:
        """Whole mails (or `BODY.PEEK[HEADER]`), without marking them read; in UID order."""
        if not uids:
            return []
        response = await self._fetch(uids, f"(UID INTERNALDATE {part})")
        mails: dict[int, FetchedMail] = {}
        lines = response.lines
        for index, line in enumerate(lines):
            if not (isinstance(line, bytes) and _FETCH_LINE.match(line)):
                continue
            uid = _UID.search(line)
            literal = lines[index + 1] if index + 1 < len(lines) else None
            if uid is None or not isinstance(literal, bytearray):
                continue
            mails[int(uid.group(1))] = FetchedMail(int(uid.group(1)), _arrival(line), bytes(literal))
        return [mails[uid] for uid in sorted(mails) if uid in set(uids)]

    async def wait_for_news(self, timeout: float) -> bool:
        """IDLE until the server reports a change to the folder or `timeout` passes; False at once without IDLE."""
        if not self.can_idle:
            return False
        protocol = self._protocol
        idle = asyncio.ensure_future(protocol.idle())
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
                started = asyncio.ensure_future(protocol.wait_for_idle_response())
                await asyncio.wait({idle, started}, return_when=asyncio.FIRST_COMPLETED)
                started.cancel()
            if idle.done():
                raise MailServerUnavailable(f"{self._host} refused to IDLE ({_text(idle.result())})")
            news = await self._next_push(timeout)
        finally:
            if not idle.done() and not self._lost.is_set():
                protocol.idle_done()
                await self._command(idle)
            idle.cancel()
        return news

    async def logout(self) -> None:
        """Leave politely when the connection still stands; close it in every case."""
        try:
            if not self._lost.is_set():
                with contextlib.suppress(Exception):  # leaving is a courtesy: the connection closes anyway
                    async with asyncio.timeout(5):
                        await self._protocol.logout()
        finally:
            if self._protocol.transport is not None:
                self._protocol.transport.close()

    async def _next_push(self, timeout: float) -> bool:
        """True on EXISTS or RECENT (new mail), False after `timeout`; keep-alive pushes are not news."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                push = await asyncio.wait_for(self._protocol.idle_queue.get(), left)
            except TimeoutError:
                return False
            if self._lost.is_set():
                raise MailServerUnavailable(f"the connection to {self._host} was lost")
            if any(
                isinstance(line, bytes) and (line.endswith((b"EXISTS", b"RECENT"))) for line in push or []
            ):
                return True
        return False

    async def _search(self, *criteria: str) -> list[int]:
        response = await self._command(self._protocol.search(*criteria, charset=None, by_uid=True))
        if response.result != "OK":
            raise MailServerUnavailable(f"{self._host} refused to search the folder ({_text(response)})")
        untagged = response.lines[
            :-1
        ]  # aioimaplib hands `* SEARCH 1 2 3` back as `1 2 3`, then the completion text
        return sorted(
            {
                int(number)
                for line in untagged
                if isinstance(line, bytes)
                for number in line.split()
                if number.isdigit()
            }
        )

    async def _fetch(self, uids: list[int], items: str) -> Response:
        response = await self._command(self._protocol.fetch(",".join(map(str, uids)), items, by_uid=True))
        if response.result != "OK":
            raise MailServerUnavailable(f"{self._host} refused to fetch mail ({_text(response)})")
        return response

    async def _command(self, operation: Awaitable[_T]) -> _T:
        """Await one command within the deadline, and fail at once when the connection drops meanwhile."""
        command = asyncio.ensure_future(operation)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait(
                {command, lost}, timeout=COMMAND_TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
        if command in done:
            try:
                return command.result()
            except (OSError, asyncio.IncompleteReadError) as error:
                raise MailServerUnavailable(f"the connection to {self._host} failed ({error})") from None
            except Exception as error:
                raise MailServerUnavailable(
                    f"{self._host} answered what this client cannot read ({error})"
                ) from None
        command.cancel()
        if lost in done:
            raise MailServerUnavailable(f"the connection to {self._host} was lost")
        raise MailServerUnavailable(f"{self._host} did not answer within {COMMAND_TIMEOUT_SECONDS:g} seconds")


async def _starttls(sock: socket.socket, host: str, loop: asyncio.AbstractEventLoop) -> bytes:
    """Read the greeting and ask for STARTTLS on the plain socket (aioimaplib has no STARTTLS); return the greeting
    for the protocol object, which then starts on the encrypted connection as on any other."""
    buffered = bytearray()

    async def line() -> bytes:
        while b"\r\n" not in buffered:
            if len(buffered) > MAX_GREETING_BYTES:
                raise MailServerUnavailable(f"{host} sent an over-long line before STARTTLS")
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise MailServerUnavailable(f"{host} closed the connection before STARTTLS")
            buffered.extend(chunk)
        found, _, rest = bytes(buffered).partition(b"\r\n")
        buffered[:] = rest
        return found

    async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
        greeting = await line()
        if not greeting.startswith(b"* OK"):
            raise MailServerUnavailable(f"{host} did not greet as an IMAP server: {greeting[:100]!r}")
        await loop.sock_sendall(sock, _STARTTLS_TAG + b" STARTTLS\r\n")
        while not (answer := await line()).startswith(_STARTTLS_TAG + b" "):
            continue
    if not answer.startswith(_STARTTLS_TAG + b" OK"):
        raise MailServerRefused(
            f"{host} does not offer STARTTLS ({answer.decode('ascii', 'replace')[3:]}); "
            "use imap_security ssl with its TLS port",
            setting="imap_security",
        )
    return greeting


def _arrival(fetch_line: bytes) -> datetime | None:
    match = _INTERNAL_DATE.search(fetch_line)
    if match is None:
        return None
    try:
        day, month, rest = match.group(1).decode("ascii").strip().split("-", 2)
        clock = datetime.strptime(rest, "%Y %H:%M:%S %z")
        return clock.replace(month=_MONTHS.index(month.title()) + 1, day=int(day))
    except ValueError:
        return None


def _text(response: Response) -> str:
    last = response.lines[-1] if response.lines else b""
    return (last.decode("utf-8", "replace") if isinstance(last, (bytes, bytearray)) else str(last))[:200]
