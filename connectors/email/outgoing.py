"""Composing a reply the customer's mail client threads under their mail: pure, no I/O.

Message-ID on the business's domain (our prefix, the same for every attempt at one message), In-Reply-To and
References from the ids the reply answers, the subject line the connector gives the reply (thread_ids), a text
part and an HTML rendering of it, the attachments, and Auto-Submitted on what a machine wrote (RFC 3834), so that
the customer's auto-replies stay quiet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape

from connectors.base import OutboundMessage, PermanentSendError
from connectors.email.settings import EmailSettings
from connectors.email.thread_ids import our_message_id
from normalizer import IdentityKind

__all__ = ["OutgoingAttachment", "compose_reply"]

MAX_REFERENCES = 20
"""References keeps the thread's first mail and the newest ones (RFC 5322 3.6.4 allows trimming the middle)."""
_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    mime_type: str
    content: bytes


def compose_reply(
    outbound: OutboundMessage,
    settings: EmailSettings,
    subject: str,
    attachments: list[OutgoingAttachment],
    now: datetime,
) -> tuple[EmailMessage, str]:
    """The mail to send and its Message-ID (without brackets). Raises PermanentSendError for a recipient that is
    not an email address."""
    if outbound.recipient.kind != IdentityKind.EMAIL or "@" not in outbound.recipient.value:
        raise PermanentSendError("An email inbox can only answer an email address.")
    message_id = our_message_id(outbound.message_id, settings.message_id_domain)
    mail = EmailMessage(policy=SMTP)
    sender_local, _, sender_domain = settings.from_address.rpartition("@")
    recipient_local, _, recipient_domain = outbound.recipient.value.rpartition("@")
    try:
        mail["From"] = Address(settings.from_name, sender_local, sender_domain)
        mail["To"] = Address("", recipient_local, recipient_domain)
    except (ValueError, IndexError) as error:
        raise PermanentSendError(
            f"The address {outbound.recipient.value} cannot be written in a mail ({error})."
        ) from None
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = f"<{message_id}>"
    if outbound.replies_to:
        mail["In-Reply-To"] = f"<{outbound.replies_to[0]}>"
        mail["References"] = " ".join(f"<{ident}>" for ident in _references(outbound.replies_to))
    if outbound.automatic:
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(outbound.text or "")
    mail.add_alternative(_as_html(outbound.text or ""), subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        mail.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return mail, message_id


def _references(replies_to: tuple[str, ...]) -> list[str]:
    """Oldest first, as References lists them: the thread's first mail, then the newest ones."""
    chain = list(reversed(replies_to))
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return chain


def _as_html(text: str) -> str:
    """The text as HTML: escaped, paragraphs and line breaks kept, addresses made links."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        escaped = escape(paragraph)
        linked = _URL.sub(lambda match: f'<a href="{match.group(0)}">{match.group(0)}</a>', escaped)
        paragraphs.append(f"<p>{linked.replace(chr(10), '<br>')}</p>")
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{"".join(paragraphs)}</body></html>'
    )
