"""The bot in conversations: answers a customer's message from the knowledge base, offers numbered suggestions,
opens a ticket when the customer asks for one, and hands the conversation to a person (with a summary as a
private note) when asked or when out of its depth.

Runs in the worker right after the inbound messages are stored (`answer`). The bot speaks only in
conversations it holds (status `bot`, nobody assigned, no agent reply yet), never to an automatic message,
and at most once per customer message: a `BotTurn` row unique on the message is inserted before it speaks.
Its replies are messages whose sender is `bot`, written with its turn and delivered within the same job.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
from sqlalchemy import Exists, Insert, ScalarSelect, Update, bindparam, exists, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from hub import assignment, events, handling, metrics, outbound, ticket_rules, tickets
from hub.agent_connections import AgentConnections
from hub.batching import batcher
from hub.bot_engines import EngineName, enabled_article, engine_answer
from hub.models import BotTurn, Conversation, Identity, Inbox, Message, Workspace, row_values
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.statuses import ConversationStatus, SenderType, TicketSource
from hub.summaries import conversation_summary
from routing.bot import RunWhen, asks_for_ticket, bot_runs, detect_handoff, suggestion_choice
from routing.hours import is_open
from routing.summary import Language, detect_language

__all__ = ["BotSettings", "Received", "answer", "bot_settings", "inboxes_the_bot_takes"]

log = logging.getLogger("omnihub.bot")
RECENT_TURNS = 10


class BotSettings(msgspec.Struct, forbid_unknown_fields=True):
    """How the bot behaves in one inbox's conversations (`GET, PUT /api/v1/inboxes/{id}/bot`)."""

    enabled: bool = False
    """The bot holds new conversations of the inbox; off, its conversations go to routing at the next message."""
    greeting: Annotated[str, Meta(max_length=1000)] = ""
    """Sent before the bot's first answer in a conversation; empty sends none."""
    run_when: Literal["always", "out_of_hours", "no_agent_available"] = "always"
    """When the bot takes a new conversation: `always`, `out_of_hours` (the inbox's business hours are closed) or
    `no_agent_available` (nobody online with room in the inbox's team); otherwise it goes straight to routing."""
    handoff_after_abstains: Annotated[int, Meta(ge=1, le=10)] = 2
    """Questions in a row the bot cannot answer before it hands the conversation to a person."""
    engine: EngineName = "knowledge_base"
    """What answers: `knowledge_base` (the articles), `llm` or `webhook` (configured for the workspace at
    `PUT /api/v1/bot/engines`; their failures are answered from the knowledge base)."""


def bot_settings(inbox: Inbox) -> BotSettings:
    return msgspec.convert({**inbox.bot_settings, "enabled": inbox.bot_enabled}, BotSettings)


async def inboxes_the_bot_takes(
    session: AsyncSession, connections: AgentConnections, inboxes: Sequence[Inbox], now: datetime
) -> set[str]:
    """The ids of the inboxes whose conversations opened now start with the bot (status `bot`) rather than in
    routing: the bot is on, and its `run_when` holds for the inbox's business hours and its agents' availability.
    Hours and agents are read only for the inboxes whose setting asks about them."""
    run_when = {inbox.id: RunWhen(bot_settings(inbox).run_when) for inbox in inboxes if inbox.bot_enabled}
    if not run_when:
        return set()
    asks_hours = [inbox_id for inbox_id, when in run_when.items() if when is RunWhen.OUT_OF_HOURS]
    open_now = set()
    if asks_hours:
        levels = await tickets.service_levels(session, asks_hours)
        open_now = {inbox_id for inbox_id in asks_hours if is_open(levels[inbox_id].hours, now)}
    asks_agents = [inbox for inbox in inboxes if run_when.get(inbox.id) is RunWhen.NO_AGENT_AVAILABLE]
    available = (
        await assignment.inboxes_with_an_available_agent(session, connections, asks_agents, now)
        if asks_agents
        else set()
    )
    return {
        inbox_id
        for inbox_id, when in run_when.items()
        if bot_runs(when, within_business_hours=inbox_id in open_now, agent_available=inbox_id in available)
    }


@dataclass(frozen=True, slots=True)
class Received:
    """A customer's message just stored, with what decides whether the bot looks at it at all."""

    message_id: str
    conversation_id: str
    held_by_bot: bool
    """The conversation's status was `bot` when the message was stored."""
    automated: bool
    """A machine wrote it (an auto-reply, a bounce, a mailing list): never answered automatically."""


TEXTS = {
    Language.EN: {
        "suggest": "Did you mean:\n{items}\nReply with the number.",
        "abstain": (
            "Sorry, I don't have an answer to that. Could you put it another way? "
            'Or write "agent" to talk to a person.'
        ),
        "handoff": "I'm passing you to a colleague, who will see what we have discussed.",
        "ticket": "I've opened a ticket with what you wrote; a colleague will follow up here.",
        "ticket_open": "A ticket about this conversation is already open; a colleague will follow up here.",
        "note": "The bot handed this conversation over ({reason}).",
        "asked_for_human": "the customer asked for a person",
        "frustration": "the customer seemed frustrated",
        "engine": "the external bot asked for it",
        "abstained": "it could not answer {count} questions in a row",
    },
    Language.ZH: {
        "suggest": "您是想问：\n{items}\n请回复序号。",
        "abstain": "抱歉，这个问题我暂时回答不了。可以换个说法吗？或者回复“人工”转接客服。",
        "handoff": "正在为您转接人工客服，客服会看到我们之前的对话。",
        "ticket": "已为您提交工单，客服会在这里跟进。",
        "ticket_open": "这个对话已有处理中的工单，客服会在这里跟进。",
        "note": "机器人已转人工（{reason}）。",
        "asked_for_human": "客户要求人工服务",
        "frustration": "客户似乎不满意",
        "engine": "外部机器人要求转人工",
        "abstained": "连续 {count} 个问题无法回答",
    },
}


async def answer(hub: Hub, received: Sequence[Received]) -> None:
    """Let the bot answer the messages of the conversations it holds: each conversation's in order, the
    conversations side by side. A failure is logged and costs only its own conversation's answer."""
    by_conversation: dict[str, list[Received]] = defaultdict(list)
    for item in received:
        if item.held_by_bot and not item.automated:
            by_conversation[item.conversation_id].append(item)
    await asyncio.gather(*(_answer_in_order(hub, items) for items in by_conversation.values()))


async def _answer_in_order(hub: Hub, items: list[Received]) -> None:
    for item in items:
        try:
            await _consider(hub, item)
        except Exception:
            log.exception("bot.failed conversation=%s message=%s", item.conversation_id, item.message_id)


@dataclass(slots=True)
class _Reply:
    decision: str
    text: str
    article_id: str | None = None
    suggestions: tuple[dict[str, object], ...] = ()
    handoff_reason: Literal["asked_for_human", "frustration", "abstained", "engine"] | None = None
    abstains: int = 0


async def _consider(hub: Hub, item: Received) -> None:
    """One turn: its facts read and its decision taken, then its record and its replies written with the turns of
    the other conversations deciding meanwhile (`_write_turns`).

    The replies are written already claimed for delivery and delivered after the commit: a turn's transactions are
    its cost on the worker's event loop, and a worker that stops after the commit leaves its replies to the sweeper
    rather than an answered turn with no reply. A ticket's reply is written after the ticket is opened, whose
    outcome it tells."""
    async with hub.database.session() as session:
        conversation, inbox, identity, message, agent_replied, kb_version = (
            await session.exec(
                _TURN_FACTS, params={"conversation_id": item.conversation_id, "message_id": item.message_id}
            )
        ).one()
        if conversation.status != "bot" or conversation.assignee_id is not None:
            return
        settings = bot_settings(inbox)
        if not settings.enabled:
            await _to_routing(hub, session, conversation)
            return
        if agent_replied:
            return
        turns = list((await session.exec(_RECENT_TURNS, params={"conversation_id": conversation.id})).all())
        if message.content_type == "event":
            return
        reply = await _decide(hub, session, conversation, message, turns, settings, kb_version)
    now = hub.now()
    replies = []
    if settings.greeting and not turns:
        replies.append(_reply_message(conversation, settings.greeting, f"bot-greeting:{message.id}", now))
    if reply.decision != "ticket":
        replies.append(_reply_message(conversation, reply.text, f"bot:{message.id}", now))
    answering = {
        "workspace_id": conversation.workspace_id,
        "conversation_id": conversation.id,
        "message_id": message.id,
    }
    row = row_values(
        BotTurn,
        **answering,
        decision=reply.decision,
        article_id=reply.article_id,
        suggestions=list(reply.suggestions),
    )
    turn = _Turn(row, conversation, replies, now)
    [said] = await batcher(hub, "bot_turns", _write_turns).submit([turn])
    if said is None:
        return  # another worker took this message: it is answered once
    metrics.BOT_REPLIES.labels(reply.decision).inc()
    if reply.decision == "answer":
        metrics.BOT_DEFLECTIONS.inc()
    await outbound.deliver_claimed(hub, said, conversation, inbox, identity)
    if reply.decision == "ticket":
        opened = await ticket_rules.open_for_conversation(
            hub, conversation, TicketSource.BOT_REQUEST, message.text
        )
        if opened is None:
            reply.text = TEXTS[detect_language([message.text])]["ticket_open"]
        await outbound.reply_now(
            hub, conversation, text=reply.text, sender_type="bot", client_id=f"bot:{message.id}"
        )
    if reply.handoff_reason is not None:
        await _hand_off(hub, conversation, message, reply)


@dataclass(frozen=True, slots=True)
class _Turn:
    """A decided turn waiting to be written: its `BotTurn` row, and the replies it says in its conversation."""

    row: dict[str, Any]
    conversation: Conversation
    replies: list[Message]
    now: datetime


async def _write_turns(hub: Hub, turns: list[_Turn]) -> list[list[outbound.ClaimedReply] | None]:
    """The turns decided while the previous ones were written, in one transaction: one INSERT per table and one
    UPDATE of their conversations, rather than a transaction and its round trips per turn. A turn whose message
    another worker answered meanwhile is skipped (None): its `BotTurn`, unique on the message, is not inserted, so
    neither are its replies."""
    outbox = events.Outbox()
    async with hub.database.session() as session:
        written = set(
            (await session.execute(_insert_turns(hub), [turn.row for turn in turns])).scalars().all()
        )
        said: list[list[outbound.ClaimedReply] | None] = []
        for turn in turns:
            if turn.row["id"] not in written:
                said.append(None)
                continue
            session.add_all(turn.replies)
            said.append(
                [
                    outbound.ClaimedReply(reply, outbound.created_event(outbox, reply, turn.conversation))
                    for reply in turn.replies
                ]
            )
        replied = [
            {"conversation_id": turn.conversation.id, "now": turn.now}
            for turn, replies in zip(turns, said, strict=True)
            if replies
        ]
        if replied:
            await session.execute(_REPLIED, replied)
        await outbox.write(session)
        await session.commit()
    return said


def _insert_turns(hub: Hub) -> Insert:
    """`BotTurn` rows, skipping any whose message already has its turn (another worker's, or one earlier in the
    same batch); returns the ids of the turns written."""
    statement = (
        postgresql_insert(BotTurn)
        if hub.database.engine.dialect.name == "postgresql"
        else sqlite_insert(BotTurn)
    )
    return statement.on_conflict_do_nothing(index_elements=["message_id"]).returning(col(BotTurn.id))


def _replied_statement() -> Update:
    """The conversation as a bot reply changes it (`outbound.claimed_reply`), for many conversations at once."""
    columns = Conversation.__table__.c  # type: ignore[attr-defined]
    return (
        update(Conversation.__table__)  # type: ignore[attr-defined]
        .where(columns.id == bindparam("conversation_id"))
        .values(last_message_at=bindparam("now", type_=columns.last_message_at.type), bot_replied=True)
    )


_REPLIED = _replied_statement()


async def _decide(
    hub: Hub,
    session: AsyncSession,
    conversation: Conversation,
    message: Message,
    turns: list[BotTurn],
    settings: BotSettings,
    kb_version: int | None,
) -> _Reply:
    text = message.text
    texts = TEXTS[detect_language([text])]
    signal = detect_handoff(text) if text else None
    if signal is not None:
        return _Reply("handoff", texts["handoff"], handoff_reason=signal.reason)
    if text and asks_for_ticket(text):
        return _Reply("ticket", texts["ticket"])
    last = turns[0] if turns else None
    if last is not None and last.decision == "suggest":
        choice = suggestion_choice(text, len(last.suggestions))
        if choice is not None:
            chosen = await enabled_article(
                session, conversation.workspace_id, str(last.suggestions[choice - 1]["article_id"])
            )
            if chosen is not None:
                return _Reply("answer", chosen.answer, article_id=chosen.id)
    found = await engine_answer(hub, session, settings.engine, conversation, message, kb_version)
    if found.decision == "answer":
        return _Reply("answer", found.text, article_id=found.article_id)
    if found.decision == "handoff":
        return _Reply("handoff", texts["handoff"], handoff_reason="engine")
    if found.decision == "suggest":
        offered = tuple(
            {"article_id": item.article_id, "title": item.title, "score": item.score}
            for item in found.suggestions
        )
        items = "\n".join(f"{number}. {item.title}" for number, item in enumerate(found.suggestions, 1))
        return _Reply("suggest", texts["suggest"].format(items=items), suggestions=offered)
    abstains = 1
    for turn in turns:
        if turn.decision != "abstain":
            break
        abstains += 1
    if abstains >= settings.handoff_after_abstains:
        return _Reply("handoff", texts["handoff"], handoff_reason="abstained", abstains=abstains)
    return _Reply("abstain", texts["abstain"])


def _kb_version() -> ScalarSelect[int]:
    """The workspace's knowledge base version, read with the conversation: the index is checked against it without
    a round trip of its own (hub.knowledge_base)."""
    return (
        select(Workspace.kb_version).where(col(Workspace.id) == Conversation.workspace_id).scalar_subquery()
    )


def _agent_replied() -> Exists:
    """Whether an agent has replied in the conversation, read in the turn's first statement rather than a round
    trip of its own."""
    reply = aliased(Message)
    return exists().where(
        col(reply.conversation_id) == bindparam("conversation_id"),
        col(reply.sender_type) == "agent",
        col(reply.direction) == "out",
    )


_TURN_FACTS = (
    Select[Conversation, Inbox, Identity, Message, bool, int | None](
        Conversation, Inbox, Identity, Message, _agent_replied(), _kb_version()
    )
    .join(Inbox, col(Inbox.id) == Conversation.inbox_id)
    .join(Identity, col(Identity.id) == Conversation.identity_id)
    .join(Message, col(Message.conversation_id) == Conversation.id)
    .where(col(Conversation.id) == bindparam("conversation_id"), col(Message.id) == bindparam("message_id"))
)
"""What a turn decides on and delivers to, in one statement: each further statement costs the worker's event loop a
round trip, and a bot turn is made of round trips. Built once, with parameters: building a statement costs the loop
about as much as sending it."""

_RECENT_TURNS = (
    select(BotTurn)
    .where(col(BotTurn.conversation_id) == bindparam("conversation_id"))
    .order_by(col(BotTurn.id).desc())
    .limit(RECENT_TURNS)
)


def _reply_message(conversation: Conversation, text: str, client_id: str, now: datetime) -> Message:
    return outbound.claimed_reply(
        conversation, text=text, sender_type=SenderType.BOT, client_id=client_id, now=now
    )


async def _hand_off(hub: Hub, conversation: Conversation, message: Message, reply: _Reply) -> None:
    """A private note summarising what was asked and answered, then the conversation waits for a person."""
    async with hub.database.session() as session:
        summary = await conversation_summary(session, conversation)
    texts = TEXTS[summary.language]
    reason = texts[reply.handoff_reason or "abstained"].format(count=reply.abstains)
    note = texts["note"].format(reason=reason) + "\n" + summary.text
    await outbound.create_message(
        hub,
        conversation,
        text=note,
        direction="note",
        sender_type="bot",
        sender_id=None,
        client_id=f"bot-handoff:{message.id}",
    )
    async with hub.database.session() as session:
        row = await session.get_one(Conversation, conversation.id)
        await _to_routing(hub, session, row)
    if await _nobody_to_take(hub, conversation):
        await ticket_rules.open_for_conversation(hub, conversation, TicketSource.BOT_HANDOFF, message.text)
    metrics.BOT_HANDOFFS.labels(reply.handoff_reason).inc()


async def _nobody_to_take(hub: Hub, conversation: Conversation) -> bool:
    """Still waiting after routing, and no agent of the inbox online with room to claim it: it becomes a ticket,
    so the customer's request is followed up rather than left in a queue nobody watches."""
    async with hub.database.session() as session:
        row = await session.get_one(Conversation, conversation.id)
        if row.assignee_id is not None or row.status != ConversationStatus.QUEUED:
            return False
        inbox = await session.get_one(Inbox, row.inbox_id)
        return not await assignment.inboxes_with_an_available_agent(
            session, hub.agent_connections, [inbox], hub.now()
        )


async def _to_routing(hub: Hub, session: AsyncSession, conversation: Conversation) -> None:
    """The conversation waits for a person: queued, announced to the agents, and routed at once."""
    if conversation.status != ConversationStatus.BOT:
        return
    conversation.status = ConversationStatus.QUEUED
    handling.handed_over(conversation, hub.now(), to_queue=True)
    session.add(conversation)
    payload = events.record(
        session,
        conversation.workspace_id,
        "conversation.handed_off",
        conversation.id,
        {"conversation": events.conversation_json(conversation)},
    )
    await session.commit()
    await hub.publisher.publish(payload, [workspace_channel(conversation.workspace_id)])
    await assignment.route_conversations(hub, [conversation.id])
