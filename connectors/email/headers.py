"""Reading a mail's headers as they were sent, so that their charsets are decoded by us, not guessed by the label.

Python's email package parses the MIME structure; `policy.default` would also decode every header with its declared
charset and lose the bytes when the label is wrong. The policy here hands back each header's raw value instead (8-bit
bytes kept as surrogate escapes), and `connectors.email.charsets` decodes it.
"""

from __future__ import annotations

import re
from email.message import Message
from email.policy import Compat32
from email.utils import getaddresses

from connectors.email.charsets import decode_8bit_header, decode_header_value, decode_text

__all__ = ["RAW_HEADERS", "address_list", "header_text", "message_ids", "parameter_text", "raw_header"]

_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,900})>")
MAX_HEADER_CHARS = 16_384
"""A header longer than this is cut (a References header of a long thread is a few thousand characters)."""


class _RawHeaderPolicy(Compat32):
    """Compat32's parsing, but every header fetched exactly as received (unfolded), never re-encoded."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return _FOLDING.sub("", value)[:MAX_HEADER_CHARS].strip()


RAW_HEADERS = _RawHeaderPolicy(linesep="\r\n")


def raw_header(message: Message, name: str) -> str | None:
    value = message.get(name)
    return None if value is None else str(value)


def header_text(message: Message, name: str) -> str | None:
    """The header's value as Unicode text, encoded words and raw 8-bit bytes decoded."""
    raw = raw_header(message, name)
    return None if raw is None else " ".join(decode_header_value(raw).split())


def address_list(message: Message, *names: str) -> list[tuple[str, str]]:
    """`(display name, address)` pairs from the named headers; the display names decoded, groups flattened."""
    values = [str(value) for name in names for value in message.get_all(name, [])]
    pairs = getaddresses([decode_8bit_header(value) for value in values])
    return [
        (" ".join(decode_header_value(name).split()), address.strip())
        for name, address in pairs
        if _looks_like_address(address.strip())
    ]


def message_ids(value: str | None) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References header, without angle brackets, in order."""
    if not value:
        return []
    found = _MESSAGE_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip()]
    return list(dict.fromkeys(found))


def parameter_text(part: Message, parameter: str, header: str) -> str | None:
    """A MIME parameter (a filename) as text: RFC 2231 values decoded with their charset, encoded words too."""
    value = part.get_param(parameter, None, header)
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _language, text = value
        return decode_text(text.encode("latin-1", errors="surrogateescape"), charset or None)
    return decode_header_value(value)


def _looks_like_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(
        character.isspace() or character in '<>()[],;"' for character in domain
    )
