"""Conversation labels: the agents' own words for sorting conversations ("refund", "vip", "退款"), normalised so
that one word is one label, and kept both on the conversation (its view) and as rows (the filter and the counts)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events
from hub.models import Conversation, ConversationLabel
from hub.views import WorkspaceEvent

__all__ = [
    "MAX_LABELS",
    "MAX_LABEL_LENGTH",
    "InvalidLabels",
    "as_word",
    "labelled",
    "normalised_labels",
    "replace_labels",
]

MAX_LABELS = 20
MAX_LABEL_LENGTH = 40
_LABEL = re.compile(rf"[\w-]{{1,{MAX_LABEL_LENGTH}}}")
"""Unicode letters and digits (CJK included), `_` and `-`: no spaces, so a label reads as one word in a filter."""


class InvalidLabels(ValueError):
    """A label that is not one word of letters, digits, `-` and `_` of 1-40 characters, or too many labels."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def as_word(raw: str) -> str | None:
    """`raw` trimmed and lower-cased when that is one word of 1-40 letters, digits, `-` and `_`; else None. Labels
    and canned responses' short codes follow this rule."""
    word = raw.strip().lower()
    return word if _LABEL.fullmatch(word) else None


def normalised_labels(labels: Sequence[str]) -> list[str]:
    """The set `labels` names, trimmed and lower-cased, sorted; InvalidLabels names the first bad one."""
    found: set[str] = set()
    for index, raw in enumerate(labels):
        label = as_word(raw)
        if label is None:
            raise InvalidLabels(
                f"labels[{index}]",
                f"{raw!r} is not a label: 1-{MAX_LABEL_LENGTH} letters, digits, '-' or '_'",
            )
        found.add(label)
    if len(found) > MAX_LABELS:
        raise InvalidLabels("labels", f"at most {MAX_LABELS} labels per conversation ({len(found)} given)")
    return sorted(found)


async def replace_labels(
    session: AsyncSession, conversation: Conversation, labels: list[str]
) -> WorkspaceEvent | None:
    """Give `conversation` exactly `labels` (already normalised) in the session's transaction; the
    `conversation.labels_changed` event to publish after the commit, None when the set is the same."""
    before = set(conversation.labels)
    added, removed = sorted(set(labels) - before), sorted(before - set(labels))
    if not added and not removed:
        return None
    if removed:
        await session.execute(
            delete(ConversationLabel).where(
                col(ConversationLabel.conversation_id) == conversation.id,
                col(ConversationLabel.label).in_(removed),
            )
        )
    if added:
        await session.execute(
            insert(ConversationLabel),
            [
                {
                    "conversation_id": conversation.id,
                    "label": label,
                    "workspace_id": conversation.workspace_id,
                }
                for label in added
            ],
        )
    conversation.labels = list(labels)
    session.add(conversation)
    return events.record(
        session,
        conversation.workspace_id,
        "conversation.labels_changed",
        conversation.id,
        {"conversation": events.conversation_view(conversation), "added": added, "removed": removed},
    )


def labelled(label: str) -> ColumnElement[bool]:
    """The condition on Conversation: it carries `label`."""
    return col(Conversation.id).in_(
        select(ConversationLabel.conversation_id).where(col(ConversationLabel.label) == label)
    )
