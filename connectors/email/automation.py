"""Mail written by machines: auto-replies, bounces and mailing-list mail, which nothing may answer automatically.

Answering an out-of-office with an acknowledgement that triggers another out-of-office is how mail loops start;
answering a bounce or a newsletter helps no one. The signals are the standard ones (RFC 3834 Auto-Submitted,
RFC 3464 delivery status reports, RFC 2919 List-Id) plus what common servers send instead of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value

from connectors.email.headers import message_ids, raw_header
from normalizer import Automation

__all__ = ["MachineMail", "recognise_machine_mail"]

_OUT_OF_OFFICE = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|away from (the |my )?office|"
    r"on (vacation|holiday|leave)|vacation (reply|response)|abwesenheitsnotiz|réponse automatique|"
    r"自动回复|自動回覆|自动答复|外出|休假|不在办公室|不在辦公室|离开办公室|不在席)",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_BOUNCE_SUBJECTS = re.compile(
    r"(undeliver(able|ed)|delivery (status notification|has failed|failure)|mail delivery (failed|subsystem)|"
    r"returned mail|failure notice|退信|投递失败|未送达|無法傳遞|系统退信)",
    re.IGNORECASE,
)
_DSN_FIELD = re.compile(r"^([A-Za-z-]+)\s*:\s*(.*)$")
_MESSAGE_ID_LINE = re.compile(r"^\s*Message-ID\s*:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class MachineMail:
    kind: Automation | None = None
    failed_message_id: str | None = None
    """For a bounce reporting a failure: the Message-ID (without brackets) of the mail that could not be delivered."""
    report: dict[str, str] = field(default_factory=dict)
    """What a delivery status report says: recipient, action, status, diagnostic."""


def recognise_machine_mail(message: Message, subject: str, sender: str) -> MachineMail:
    """Bounce, auto-reply, bulk (checked in that order: a bounce often also says Auto-Submitted), or a person."""
    bounce = _bounce(message, subject, sender)
    if bounce is not None:
        return bounce
    auto_submitted = (raw_header(message, "Auto-Submitted") or "").split(";")[0].strip().lower()
    precedence = (raw_header(message, "Precedence") or "").strip().lower()
    if (
        (auto_submitted and auto_submitted != "no")
        or precedence == "auto_reply"
        or _OUT_OF_OFFICE.match(subject)
        or any(
            raw_header(message, name) is not None
            for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
        )
    ):
        return MachineMail(Automation.AUTO_REPLY)
    if (
        precedence in ("bulk", "junk", "list")
        or raw_header(message, "List-Id") is not None
        or raw_header(message, "List-Unsubscribe") is not None
    ):
        return MachineMail(Automation.BULK)
    return MachineMail()


def _bounce(message: Message, subject: str, sender: str) -> MachineMail | None:
    is_report = (
        message.get_content_type() == "multipart/report"
        and collapse_rfc2231_value(message.get_param("report-type") or "").lower() == "delivery-status"
    )
    from_daemon = bool(_BOUNCE_SENDERS.match(sender)) and bool(_BOUNCE_SUBJECTS.search(subject) or is_report)
    if not (is_report or from_daemon or raw_header(message, "X-Failed-Recipients") is not None):
        return None
    report = _delivery_status(message)
    failed = report.get("action", "failed") == "failed"
    return MachineMail(Automation.BOUNCE, _bounced_message_id(message) if failed else None, report)


def _delivery_status(message: Message) -> dict[str, str]:
    """The first recipient's fields of a message/delivery-status part (RFC 3464), lower-cased names."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        fields: dict[str, str] = {}
        for block in _status_blocks(part):
            for line in block.splitlines():
                if match := _DSN_FIELD.match(line):
                    fields.setdefault(match.group(1).lower(), match.group(2).strip())
        report = {
            "recipient": _typed_value(fields.get("final-recipient", "")),
            "action": fields.get("action", "").lower(),
            "status": fields.get("status", ""),
            "diagnostic": _typed_value(fields.get("diagnostic-code", "")),
        }
        return {name: value for name, value in report.items() if value}
    return {}


def _typed_value(value: str) -> str:
    """`rfc822; li@example.com` -> `li@example.com` (report fields name the address or code type first)."""
    return value.partition(";")[2].strip() if ";" in value else value


def _status_blocks(part: Message) -> list[str]:
    """The per-message and per-recipient field blocks; Python parses them as sub-messages, or leaves them as text."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [
            "\n".join(f"{name}: {value}" for name, value in block.items())
            for block in payload
            if isinstance(block, Message)
        ]
    raw = part.get_payload(decode=True)
    return [raw.decode("utf-8", errors="replace")] if isinstance(raw, bytes) else []


def _bounced_message_id(report: Message) -> str | None:
    """The Message-ID of the returned mail: from its attached copy or headers, else a Message-ID line in the text."""
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                ids = message_ids(raw_header(payload[0], "Message-ID"))
                if ids:
                    return ids[0]
        elif content_type in ("text/rfc822-headers", "text/plain"):
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                match = _MESSAGE_ID_LINE.search(body.decode("utf-8", errors="replace"))
                if match:
                    return message_ids(match.group(1))[0]
    return None
