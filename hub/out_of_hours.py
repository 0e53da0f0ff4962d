"""Out of hours: a customer who writes while the inbox is closed gets its out-of-hours message once per
conversation, and the conversation opens a ticket or waits, by the inbox's setting (`routing.out_of_hours`).

Runs in the worker after the customer's messages are stored. The message is a system reply with a fixed
client id, so the conversation's dedupe key lets it be stored once however many messages (or retried jobs)
arrive out of hours; a conversation with a ticket not yet closed does not open another.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select

from hub import outbound, tickets
from hub.models import Conversation, Ticket
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.statuses import ConversationStatus, SenderType, TicketSource
from hub.summaries import conversation_summary
from routing.hours import ALWAYS_OPEN
from routing.out_of_hours import OutOfHoursAction, out_of_hours
from routing.tickets import TicketStatus

__all__ = ["NOTICE_CLIENT_ID", "CustomerWrote", "answer_out_of_hours"]

log = logging.getLogger("omnihub.out_of_hours")
NOTICE_CLIENT_ID = "out-of-hours"
LONGEST_SUBJECT = 80


@dataclass(frozen=True, slots=True)
class CustomerWrote:
    conversation: Conversation
    text: str
    automated: bool
    """An auto-reply, bounce or list mail: nothing answers it."""


async def answer_out_of_hours(hub: Hub, received: Sequence[CustomerWrote]) -> None:
    """Send the notice and open the ticket for the conversations whose customer wrote while their inbox is closed."""
    candidates = [
        each for each in received if not each.automated and each.conversation.status != ConversationStatus.BOT
    ]
    if not candidates:
        return
    async with hub.database.session() as session:
        levels = await tickets.service_levels(session, {each.conversation.inbox_id for each in candidates})
    now = hub.now()
    for each in candidates:
        level = levels[each.conversation.inbox_id]
        if level.hours is ALWAYS_OPEN:
            continue
        decision = out_of_hours(level.hours, now, last_notice_at=None, action=level.out_of_hours_action)
        if decision.action is None:
            continue
        if level.out_of_hours_message:
            await outbound.create_message(
                hub,
                each.conversation,
                text=level.out_of_hours_message,
                direction="out",
                sender_type=SenderType.SYSTEM,
                sender_id=None,
                client_id=NOTICE_CLIENT_ID,
            )
        if decision.action is OutOfHoursAction.TICKET:
            await _open_ticket(hub, each, level)


async def _open_ticket(hub: Hub, wrote: CustomerWrote, level: tickets.ServiceLevel) -> None:
    conversation = wrote.conversation
    async with hub.database.session() as session:
        already = (
            await session.exec(
                select(Ticket.id).where(
                    col(Ticket.conversation_id) == conversation.id,
                    col(Ticket.workspace_id) == conversation.workspace_id,
                    col(Ticket.status) != TicketStatus.CLOSED,
                )
            )
        ).first()
        if already is not None:
            return
        ticket = tickets.new_ticket(
            workspace_id=conversation.workspace_id,
            inbox_id=conversation.inbox_id,
            subject=_subject(wrote.text),
            level=level,
            now=hub.now(),
            source=TicketSource.OUT_OF_HOURS,
            description=wrote.text,
            summary=(await conversation_summary(session, conversation)).text,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
        )
        event = await tickets.add_ticket(session, ticket)
        await session.commit()
    log.info(
        "out_of_hours.ticket workspace=%s conversation=%s ticket=%s",
        conversation.workspace_id,
        conversation.id,
        ticket.id,
    )
    await hub.publisher.publish(event, [workspace_channel(conversation.workspace_id)])


def _subject(text: str) -> str:
    """The first line of what the customer wrote, shortened; the whole message is the ticket's description."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first_line:
        return "Message out of hours"
    return first_line if len(first_line) <= LONGEST_SUBJECT else first_line[: LONGEST_SUBJECT - 1] + "…"
