"""The ids that thread mail: each mail's dedupe key, our own Message-IDs, and reply subjects.

A mail's channel message id is its Message-ID without angle brackets, which is also how other mails name it in
In-Reply-To and References, so the hub can thread a reply by matching ids. Our replies get Message-IDs on the
business's domain with a prefix of ours: the customer's client threads them, and when the mailbox sees one of them
(a copy to the mailbox itself, a server that files sent mail in the inbox) we know it is ours.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "OUR_ID_PREFIX",
    "content_key",
    "is_our_message_id",
    "message_key",
    "our_message_id",
    "reply_subject",
]

OUR_ID_PREFIX = "omnihub."
MAX_KEY_LENGTH = 200
_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|antw|回复|回覆|回復|答复|答覆)\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.IGNORECASE
)


def message_key(message_id: str) -> str:
    """The channel message id for a Message-ID: the id itself, or a digest of it when it is too long to key by."""
    if len(message_id) <= MAX_KEY_LENGTH:
        return message_id
    return (
        "message-id-sha256:"
        + hashlib.sha256(message_id.encode("utf-8", errors="surrogateescape")).hexdigest()
    )


def content_key(identifying_parts: list[bytes]) -> str:
    """The channel message id of a mail without a Message-ID: a digest of what identifies it (sender, date, subject,
    body), not of its trace headers, so the same mail delivered twice or to two mailboxes gets the same key."""
    digest = hashlib.sha256()
    for part in identifying_parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "content-sha256:" + digest.hexdigest()


def our_message_id(outbound_message_id: str, domain: str) -> str:
    """The Message-ID (without brackets) of a reply we send: the same for every attempt at the same message, so a
    resend after a lost answer is one mail to the customer's client."""
    safe = re.sub(r"[^A-Za-z0-9.-]", "-", outbound_message_id)
    return f"{OUR_ID_PREFIX}{safe}@{domain}"


def is_our_message_id(message_id: str, domain: str) -> bool:
    local, _, message_domain = message_id.rpartition("@")
    return local.startswith(OUR_ID_PREFIX) and message_domain.lower() == domain.lower()


def reply_subject(subject: str | None, fallback: str) -> str:
    """`Re: ` and the subject without the reply prefixes clients stacked on it (Re:, RE[2]:, AW:, 回复:), as a mail
    client answers; a forward's prefix (Fwd:, 转发:) stays, since the reply answers the forward. `fallback` when the
    customer gave no subject, or one of nothing but prefixes."""
    topic = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {topic}" if topic else fallback
