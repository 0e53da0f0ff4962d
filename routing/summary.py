"""The summary a ticket opened from a conversation carries: who, what was asked, what was tried.

Extractive by design: every sentence in it is quoted (shortened, never reworded) from the
conversation's messages, so it cannot state what nobody said. Only the labels are ours, in the
conversation's language (Chinese or English).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Language",
    "Speaker",
    "TicketSummary",
    "TranscriptMessage",
    "TriedStep",
    "detect_language",
    "summarize",
]

ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")
_QUESTION = re.compile(r"[?？]$|[吗呢]$")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_PUNCTUATION = re.compile(r"[\s\W_]+")
_GREETINGS = frozenset(
    {
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank you",
        "thank you very much",
        "ok",
        "okay",
        "good morning",
        "good afternoon",
        "你好",
        "您好",
        "在吗",
        "在不在",
        "谢谢",
        "好的",
        "嗯",
        "哈喽",
    }
)
_GREETING_OPENERS = ("hi ", "hello ", "hey ", "dear ", "你好", "您好")


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


class Speaker(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class TranscriptMessage:
    """One message as plain data; `internal` marks an agent's note, `attachments` how many files it carried."""

    speaker: Speaker
    text: str
    sender_name: str | None = None
    internal: bool = False
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class TriedStep:
    speaker: Speaker
    sender_name: str | None
    excerpt: str


@dataclass(frozen=True, slots=True)
class TicketSummary:
    language: Language
    customer_name: str | None
    customer_messages: int
    attachments: int
    asked: tuple[str, ...]
    tried: tuple[TriedStep, ...]

    @property
    def text(self) -> str:
        return _render(self)


def detect_language(texts: Sequence[str]) -> Language:
    """Chinese when Chinese characters carry the text (one character weighs about as much as three letters)."""
    joined = "".join(texts)
    chinese = len(_CJK.findall(joined))
    return Language.ZH if chinese and chinese * 3 >= len(_LATIN.findall(joined)) else Language.EN


def summarize(
    messages: Sequence[TranscriptMessage],
    *,
    customer_name: str | None = None,
    language: Language | None = None,
    max_items: int = 3,
    max_excerpt: int = 120,
) -> TicketSummary:
    """Summarise a conversation for the ticket opened from it.

    Asked: the customer's first substantive sentence, then their questions. Tried: the first
    sentence of each bot and agent reply or note, oldest first. Greetings and thanks are skipped,
    repeats dropped, each excerpt cut to `max_excerpt` characters.
    """
    from_customer = [message for message in messages if message.speaker is Speaker.CUSTOMER]
    customer_sentences = [sentence for message in from_customer for sentence in _sentences(message.text)]
    asked = _distinct([*customer_sentences[:1], *(s for s in customer_sentences[1:] if _QUESTION.search(s))])
    tried = []
    seen: set[str] = set()
    for message in messages:
        if message.speaker not in (Speaker.AGENT, Speaker.BOT):
            continue
        first = next(iter(_sentences(message.text)), None)
        if first is not None and first not in seen:
            seen.add(first)
            tried.append(TriedStep(message.speaker, message.sender_name, _shorten(first, max_excerpt)))
    chosen_language = language or detect_language(
        [message.text for message in from_customer] or [message.text for message in messages]
    )
    return TicketSummary(
        language=chosen_language,
        customer_name=" ".join(customer_name.split()) if customer_name else None,
        customer_messages=len(from_customer),
        attachments=sum(max(message.attachments, 0) for message in from_customer),
        asked=tuple(_shorten(sentence, max_excerpt) for sentence in asked[:max_items]),
        tried=tuple(tried[:max_items]),
    )


def _sentences(text: str) -> list[str]:
    """The text's sentences with whitespace collapsed, greetings and thanks left out."""
    sentences = (" ".join(part.split()) for part in _SENTENCE_END.split(text))
    return [sentence for sentence in sentences if sentence and not _is_greeting(sentence)]


def _is_greeting(sentence: str) -> bool:
    bare = _PUNCTUATION.sub(" ", sentence.lower()).strip()
    if not bare or bare in _GREETINGS:
        return True
    return len(sentence) <= 20 and sentence.lower().startswith(_GREETING_OPENERS)


def _distinct(sentences: list[str]) -> list[str]:
    return list(dict.fromkeys(sentences))


def _shorten(sentence: str, limit: int) -> str:
    return sentence if len(sentence) <= limit else sentence[: max(limit - 1, 1)].rstrip() + ELLIPSIS


_LABELS = {
    Language.EN: {
        "who": "Customer: {name} ({count} message{s}{files})",
        "files": ", {count} attachment{s}",
        "nobody": "(no name given)",
        "asked": "Asked: ",
        "tried": "Tried: ",
        "none": "nothing yet",
        "said": ": ",
        "quote": "\u201c{text}\u201d",
        Speaker.BOT: "Bot",
        Speaker.AGENT: "Agent",
    },
    Language.ZH: {
        "who": "客户：{name}（{count} 条消息{files}）",
        "files": "，{count} 个附件",
        "nobody": "（未留名）",
        "asked": "诉求：",
        "tried": "已尝试：",
        "none": "暂无",
        "said": "：",
        "quote": "“{text}”",
        Speaker.BOT: "机器人",
        Speaker.AGENT: "客服",
    },
}


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def _render(summary: TicketSummary) -> str:
    labels = _LABELS[summary.language]
    files = (
        labels["files"].format(count=summary.attachments, s=_plural(summary.attachments))
        if summary.attachments
        else ""
    )
    lines = [
        labels["who"].format(
            name=summary.customer_name or labels["nobody"],
            count=summary.customer_messages,
            s=_plural(summary.customer_messages),
            files=files,
        )
    ]
    asked = [labels["quote"].format(text=sentence) for sentence in summary.asked]
    lines.append(labels["asked"] + (" / ".join(asked) if asked else labels["none"]))
    lines.append((labels["tried"] + ("" if summary.tried else labels["none"])).rstrip())
    for step in summary.tried:
        who = labels[step.speaker] + (f" {step.sender_name}" if step.sender_name else "")
        lines.append(f"- {who}{labels['said']}{labels['quote'].format(text=step.excerpt)}")
    return "\n".join(lines)
