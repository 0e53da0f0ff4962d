"""One mail's bytes to one message: pure, so the same bytes always give the same message.

What agents read is the new text (plain text preferred, HTML turned into text otherwise), with the quoted history and
signature kept beside it; the HTML is kept sanitised for display. Attachments come back with their bytes, for the
poller to store, unless they are over the inbox's limit: then the message keeps a note of what was dropped and why.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html import escape
from typing import Any

from connectors.base import MalformedPayload
from connectors.email.automation import recognise_machine_mail
from connectors.email.charsets import decode_8bit_header, decode_text
from connectors.email.headers import (
    RAW_HEADERS,
    address_list,
    header_text,
    message_ids,
    parameter_text,
    raw_header,
)
from connectors.email.markup import html_to_text, sanitize_html
from connectors.email.quoting import split_reply
from connectors.email.settings import EmailSettings
from connectors.email.thread_ids import content_key, is_our_message_id, message_key
from normalizer import (
    Attachment,
    ContentType,
    IdentityKind,
    IdentityRef,
    InboundMessage,
    clean_text,
    normalize_identity,
)
from normalizer.identities import InvalidIdentity

__all__ = ["ReadMail", "header_block", "read_mail", "with_stored_attachments"]

MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 500_000
MAX_ATTACHMENTS = 50
MAX_THREAD_IDS = 50
MAX_MIME_DEPTH = 20
MAX_AUDIT_CHARS = 65_536
_NOT_CONTENT = frozenset(
    {
        "message/delivery-status",
        "text/rfc822-headers",
        "application/pgp-signature",
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
    }
)
"""Parts that are machinery (a bounce's status fields, a signature block), not something a customer sent."""


@dataclass(frozen=True, slots=True)
class ReadMail:
    message: InboundMessage
    contents: tuple[bytes | None, ...]
    """The bytes of each of `message.attachments`, in order; None where the attachment was dropped."""
    ours: bool
    """Sent by this inbox (our Message-ID): the mailbox shows us our own reply, which is not new mail."""


@dataclass
class _Found:
    """What a walk through the MIME tree finds."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[tuple[Attachment, bytes | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def header_block(data: bytes) -> str:
    """A mail's headers as text: what the hub keeps of a mail for audit (a mail carries no secrets of ours)."""
    end = min((at for at in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if at >= 0), default=len(data))
    return decode_8bit_header(data[: min(end, MAX_AUDIT_CHARS)].decode("utf-8", errors="surrogateescape"))


def read_mail(
    data: bytes, received_at: datetime, settings: EmailSettings, *, full_size: int | None = None
) -> ReadMail:
    """Parse one RFC 5322 mail. `received_at` (the server's arrival time) stands in for a missing or broken Date.

    `full_size` says `data` holds only the headers of a mail of that size (too large to import whole).
    Raises MalformedPayload when the mail names no sender it can be answered at.
    """
    mail = BytesParser(policy=RAW_HEADERS).parsebytes(data)
    sender_name, sender = _sender(mail)
    subject = header_text(mail, "Subject") or ""
    own_ids = message_ids(raw_header(mail, "Message-ID"))
    channel_message_id = message_key(own_ids[0]) if own_ids else content_key(_identifying_parts(mail, data))
    found = _Found()
    if full_size is None:
        _walk(mail, found, settings, depth=0)
    else:
        found.notes.append(
            f"This mail ({_megabytes(full_size)}) is larger than the inbox's limit of "
            f"{_megabytes(settings.max_message_bytes)}: only its headers were imported."
        )
    machine = recognise_machine_mail(mail, subject, sender.value)
    body = (
        "\n".join(found.plain) if found.plain else html_to_text("\n".join(found.html)) if found.html else ""
    )
    reply = split_reply(clean_text(body))
    text = reply.new_text
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        found.notes.append(f"The text was cut to its first {MAX_TEXT_CHARS} characters.")
    attachments = tuple(attachment for attachment, _ in found.attachments)
    metadata: dict[str, Any] = {
        "message_id": f"<{own_ids[0]}>" if own_ids else None,
        "to": _addresses(mail, "To"),
        "cc": _addresses(mail, "Cc"),
        "reply_to": _addresses(mail, "Reply-To"),
        "quoted_text": reply.quoted[:MAX_TEXT_CHARS],
        "signature": reply.signature,
        "html": sanitize_html("\n".join(found.html))[:MAX_HTML_CHARS] if found.html else None,
        "list_id": header_text(mail, "List-Id"),
        "delivery_report": machine.report or None,
        "notes": found.notes,
    }
    message = InboundMessage(
        channel_message_id=channel_message_id,
        sender=sender,
        sent_at=_sent_at(mail, received_at),
        content_type=_content_type(text, attachments),
        text=text or ("" if attachments else subject),
        attachments=attachments,
        sender_name=sender_name,
        metadata={name: value for name, value in metadata.items() if value not in (None, "", [], {})},
        subject=subject,
        replies_to=_replies_to(mail),
        automated=machine.kind,
        failed_delivery_of=message_key(machine.failed_message_id) if machine.failed_message_id else None,
        opens_ticket=settings.open_ticket_on_new_thread and machine.kind is None,
    )
    ours = bool(own_ids) and is_our_message_id(own_ids[0], settings.message_id_domain)
    return ReadMail(message, tuple(content for _, content in found.attachments), ours)


def _sender(mail: Message) -> tuple[str | None, IdentityRef]:
    for header in ("From", "Sender", "Return-Path"):
        for name, address in address_list(mail, header):
            try:
                identity = normalize_identity(IdentityRef(IdentityKind.EMAIL, address, verified=True))
            except InvalidIdentity:
                continue
            return name or None, identity
    raise MalformedPayload("the mail names no sender address (From) that a reply could be sent to")


def _addresses(mail: Message, header: str) -> list[str]:
    normalised: list[str] = []
    for _, address in address_list(mail, header):
        try:
            normalised.append(normalize_identity(IdentityRef(IdentityKind.EMAIL, address)).value)
        except InvalidIdentity:
            continue
    return list(dict.fromkeys(normalised))


def _sent_at(mail: Message, received_at: datetime) -> datetime:
    try:
        sent_at = parsedate_to_datetime(raw_header(mail, "Date") or "")
    except (TypeError, ValueError, IndexError, OverflowError):
        return received_at
    return sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at


def _replies_to(mail: Message) -> tuple[str, ...]:
    """In-Reply-To first (the mail answered), then References from the newest back to the thread's first mail."""
    answered = message_ids(raw_header(mail, "In-Reply-To"))
    ancestors = list(reversed(message_ids(raw_header(mail, "References"))))
    return tuple(dict.fromkeys(message_key(ident) for ident in answered + ancestors))[:MAX_THREAD_IDS]


def _identifying_parts(mail: Message, data: bytes) -> list[bytes]:
    """What makes a mail without a Message-ID itself: who sent it, when, to whom, about what, and its body."""
    end = min((at for at in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if at >= 0), default=len(data))
    headers = [
        (raw_header(mail, name) or "").encode("utf-8", errors="surrogateescape")
        for name in ("From", "Date", "To", "Subject")
    ]
    return [*headers, data[end:].strip()]


def _walk(part: Message, found: _Found, settings: EmailSettings, depth: int) -> None:
    if depth > MAX_MIME_DEPTH:
        found.notes.append("Parts nested deeper than the limit were not read.")
        return
    content_type = part.get_content_type()
    if part.is_multipart():
        children = [child for child in part.get_payload() if isinstance(child, Message)]
        if content_type == "multipart/alternative":
            _walk_alternatives(children, found, settings, depth)
        else:
            for child in children:
                _walk(child, found, settings, depth + 1)
        return
    if content_type in _NOT_CONTENT:
        return
    filename = parameter_text(part, "filename", "content-disposition") or parameter_text(
        part, "name", "content-type"
    )
    disposition = part.get_content_disposition()
    if content_type.startswith("multipart/"):
        content_type = (
            "text/plain"  # a multipart without a boundary: Python leaves its body as the text it is
        )
    if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = decode_text(_payload(part), part.get_content_charset())
        (found.plain if content_type == "text/plain" else found.html).append(text)
        return
    _add_attachment(part, content_type, filename, disposition, found, settings)


def _walk_alternatives(children: list[Message], found: _Found, settings: EmailSettings, depth: int) -> None:
    """One rendering of the text: plain text from the first alternative that has it, HTML from the richest (last)."""
    branches = []
    for child in children:
        branch = _Found()
        _walk(child, branch, settings, depth + 1)
        branches.append(branch)
        found.attachments.extend(branch.attachments)
        found.notes.extend(branch.notes)
    found.plain.extend(next((branch.plain for branch in branches if branch.plain), []))
    found.html.extend(next((branch.html for branch in reversed(branches) if branch.html), []))


def _add_attachment(
    part: Message,
    content_type: str,
    filename: str | None,
    disposition: str | None,
    found: _Found,
    settings: EmailSettings,
) -> None:
    index = len(found.attachments) + 1
    name = filename or f"attachment-{index}{_extension(part, content_type)}"
    if len(found.attachments) >= MAX_ATTACHMENTS:
        found.notes.append(
            f"{name} was not imported: a mail may bring at most {MAX_ATTACHMENTS} attachments."
        )
        return
    content = _attached_mail(part) if content_type == "message/rfc822" else _payload(part)
    meta: dict[str, Any] = {}
    content_id = message_ids(raw_header(part, "Content-ID"))
    if content_id:
        meta["content_id"] = content_id[0]
    if disposition == "inline" or (content_id and disposition != "attachment"):
        meta["inline"] = True
    kept: bytes | None = content
    if len(content) > settings.max_attachment_bytes:
        reason = (
            f"{name} ({_megabytes(len(content))}) was not imported: it is larger than the inbox's limit "
            f"of {_megabytes(settings.max_attachment_bytes)}."
        )
        meta["dropped"] = reason
        found.notes.append(reason)
        kept = None
    attachment = Attachment(
        kind=_kind(content_type),
        media_id=None if kept is None else f"mime-part-{index}",
        mime_type=content_type,
        name=name,
        size=len(content),
        meta=meta,
    )
    found.attachments.append((attachment, kept))


def _attached_mail(part: Message) -> bytes:
    """A forwarded or returned mail, as the .eml file it is."""
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], Message):
        return inner[0].as_bytes()
    return _payload(part)


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _extension(part: Message, content_type: str) -> str:
    if content_type == "message/rfc822":
        return ".eml"
    return mimetypes.guess_extension(content_type, strict=False) or ".bin"


def _kind(content_type: str) -> str:
    major = content_type.partition("/")[0]
    return {"image": ContentType.IMAGE, "audio": ContentType.VOICE, "video": ContentType.VIDEO}.get(
        major, ContentType.FILE
    )


def _content_type(text: str, attachments: tuple[Attachment, ...]) -> str:
    if text or not attachments:
        return ContentType.TEXT
    kinds = {attachment.kind for attachment in attachments}
    return kinds.pop() if len(kinds) == 1 else ContentType.FILE


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def with_stored_attachments(message: InboundMessage, urls: dict[int, str]) -> InboundMessage:
    """The message with the attachments at `urls` (by position) stored there, and the HTML's `cid:` images pointing
    at the stored copies, so an agent sees the mail's own images without anything fetched from the sender."""
    attachments = tuple(
        replace(attachment, url=urls[index], media_id=None) if index in urls else attachment
        for index, attachment in enumerate(message.attachments)
    )
    metadata = dict(message.metadata)
    html = metadata.get("html")
    if html:
        for index, attachment in enumerate(attachments):
            content_id = attachment.meta.get("content_id")
            if content_id and index in urls:
                html = html.replace(f'src="cid:{content_id}"', f'src="{escape(urls[index])}"')
        metadata["html"] = html
    return replace(message, attachments=attachments, metadata=metadata)
