"""Separating what a customer just wrote from the history their mail client quoted below it, and their signature.

Agents read the new text; the quoted history is kept beside it (the conversation already holds those messages).
Recognised: Gmail's "On ... wrote:", Outlook's "From: ... Sent: ..." block (also its Chinese form), the
"-----Original Message-----" rule, Chinese clients' "在 ... 写道：", a trailing block of ">" lines, and the
"-- " signature separator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ReplyParts", "split_reply"]

_ATTRIBUTION = re.compile(
    r"^(On\b.{0,300}\bwrote:|Le\b.{0,300}\ba écrit\s?:|Am\b.{0,300}\bschrieb.{0,100}:|.{0,300}写道[:：]|"
    r".{0,200}(<[^>]+@[^>]+>|@\S+)\s*wrote:)\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^[-_\s]*(-{2,}\s*(Original Message|Forwarded message|原始邮件|原始郵件|转发邮件)\s*-{2,}|_{10,})[-_\s]*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\*?(From|发件人|寄件者)\s*[:：]\*?\s*\S", re.IGNORECASE)
_OUTLOOK_FOLLOWING = re.compile(
    r"^\*?(Sent|Date|To|Subject|发送时间|日期|收件人|主题|寄件日期|傳送時間)\s*[:：]", re.IGNORECASE
)
_SIGNATURE = re.compile(r"^-- ?$")
_QUOTED_LINE = re.compile(r"^\s*>")


@dataclass(frozen=True, slots=True)
class ReplyParts:
    new_text: str
    quoted: str = ""
    signature: str = ""


def split_reply(text: str) -> ReplyParts:
    """The new text, the quoted history and the signature of a plain-text mail body (lines end in \\n)."""
    lines = text.split("\n")
    quote_start = _quote_start(lines)
    head, quoted = lines[:quote_start], lines[quote_start:]
    signature: list[str] = []
    for index in range(len(head) - 1, -1, -1):
        if _SIGNATURE.match(head[index]):
            head, signature = head[:index], head[index + 1 :]
            break
    new_text = "\n".join(head).strip()
    if not new_text:
        return ReplyParts(text.strip())
    return ReplyParts(new_text, "\n".join(quoted).strip(), "\n".join(signature).strip())


def _quote_start(lines: list[str]) -> int:
    """Where the quoted history begins: the first attribution or header block, else a trailing block of '>' lines."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if _ORIGINAL_MESSAGE.match(stripped) and index > 0:
            return index
        wrapped = f"{stripped} {_next_text(lines, index)}"
        if _ATTRIBUTION.match(stripped) or (
            stripped.lower().startswith("on ") and _ATTRIBUTION.match(wrapped)
        ):
            return index
        if _OUTLOOK_FROM.match(stripped) and any(
            _OUTLOOK_FOLLOWING.match(following.strip()) for following in lines[index + 1 : index + 4]
        ):
            return index
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and (_QUOTED_LINE.match(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    if start < end and any(_QUOTED_LINE.match(line) for line in lines[start:end]):
        while start < end and not lines[start].strip():
            start += 1
        if start > 0 and _ATTRIBUTION.match(lines[start - 1].strip()):
            start -= 1
        return start
    return len(lines)


def _next_text(lines: list[str], index: int) -> str:
    return lines[index + 1].strip() if index + 1 < len(lines) else ""
