"""@mentions in internal notes: which agents a note names, and the mention rows that keep it for them until they
open the conversation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events
from hub.models import Agent, Mention, Message
from hub.views import WorkspaceEvent

__all__ = ["add_mentions", "agents_named", "named"]


def named(text: str, agents: Iterable[tuple[str, str]]) -> list[str]:
    """The ids of the `agents` (id, name) that `text` names as "@Their Name": in any case, at the start or after a
    space, followed by neither a letter nor a digit (the inbox's `mentions()` rule); where names share a prefix the
    longest that fits wins, and every agent of that name is named. Each id once, in the order named."""
    by_name: dict[str, list[str]] = {}
    for agent_id, name in agents:
        if name:
            by_name.setdefault(name.lower(), []).append(agent_id)
    longest_first = sorted(by_name.items(), key=lambda entry: -len(entry[0]))
    found: list[str] = []
    for at, character in enumerate(text):
        if character != "@" or (at > 0 and not text[at - 1].isspace()):
            continue
        for name, agent_ids in longest_first:
            end = at + 1 + len(name)
            if text[at + 1 : end].lower() == name and (end == len(text) or not text[end].isalnum()):
                found += [agent_id for agent_id in agent_ids if agent_id not in found]
                break
    return found


async def agents_named(
    session: AsyncSession, workspace_id: str, text: str, author_id: str | None
) -> list[str]:
    """The agents of the workspace that a note by `author_id` names, its author excepted."""
    if "@" not in text:
        return []
    agents = (
        await session.exec(select(Agent.id, Agent.name).where(Agent.workspace_id == workspace_id))
    ).all()
    return [agent_id for agent_id in named(text, agents) if agent_id != author_id]


def add_mentions(
    session: AsyncSession, note: Message, agent_ids: list[str], now: datetime
) -> WorkspaceEvent | None:
    """A mention row per agent named and the `note.mentioned` outbox row, in the note's transaction."""
    if not agent_ids:
        return None
    for agent_id in agent_ids:
        session.add(
            Mention(
                workspace_id=note.workspace_id,
                agent_id=agent_id,
                conversation_id=note.conversation_id,
                note_id=note.id,
                author_id=note.sender_id,
                created_at=now,
            )
        )
    return events.record(
        session,
        note.workspace_id,
        "note.mentioned",
        note.id,
        {
            "note_id": note.id,
            "conversation_id": note.conversation_id,
            "author_id": note.sender_id,
            "agent_ids": agent_ids,
        },
    )
