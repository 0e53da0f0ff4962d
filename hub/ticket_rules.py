"""Tickets the hub opens by itself for a conversation: a customer writing out of hours, the bot handing over
while nobody of the inbox is available, the customer asking the bot for one, or a customer leaving a message (a
message marked `left_message`). The ticket carries the conversation's summary, so whoever picks it up later need
not ask again; a conversation with a ticket not yet closed does not open another."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import col, select

from hub import tickets
from hub.models import Conversation, Message, Ticket
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.statuses import TicketSource
from hub.summaries import conversation_summary
from routing.tickets import TicketStatus

__all__ = ["LEFT_MESSAGE", "open_for_conversation", "open_for_left_messages"]

log = logging.getLogger("omnihub.tickets")
LONGEST_SUBJECT = 80
LEFT_MESSAGE = "left_message"
"""The message metadata flag of a message a customer left for later: it opens a ticket."""
UNTITLED = {
    TicketSource.OUT_OF_HOURS: "Message out of hours",
    TicketSource.BOT_HANDOFF: "Handed over by the bot",
    TicketSource.CUSTOMER_MESSAGE: "Message left by a customer",
    TicketSource.BOT_REQUEST: "Requested from the bot",
}


async def open_for_conversation(
    hub: Hub, conversation: Conversation, source: TicketSource, customer_text: str
) -> Ticket | None:
    """Open the conversation's ticket (None when one not yet closed already follows it); `customer_text`, what
    the customer wrote last, is its description and, by its first line, its subject."""
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
            return None
        levels = await tickets.service_levels(session, [conversation.inbox_id])
        ticket = tickets.new_ticket(
            workspace_id=conversation.workspace_id,
            inbox_id=conversation.inbox_id,
            subject=_subject(customer_text) or UNTITLED.get(source, "Conversation"),
            level=levels[conversation.inbox_id],
            now=hub.now(),
            source=source,
            description=customer_text,
            summary=(await conversation_summary(session, conversation)).text,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
        )
        event = await tickets.add_ticket(session, ticket)
        await session.commit()
    log.info(
        "tickets.opened source=%s workspace=%s conversation=%s ticket=%s",
        source,
        conversation.workspace_id,
        conversation.id,
        ticket.id,
    )
    await hub.publisher.publish(event, [workspace_channel(conversation.workspace_id)])
    return ticket


async def open_for_left_messages(hub: Hub, stored: Sequence[tuple[Conversation, Message]]) -> None:
    """A ticket for each conversation a left message was just stored in; the customer's later messages come into
    the same conversation, so they reach the same ticket."""
    for conversation, message in stored:
        if message.meta.get(LEFT_MESSAGE):
            await open_for_conversation(hub, conversation, TicketSource.CUSTOMER_MESSAGE, message.text)


def _subject(text: str) -> str:
    """The first line of what the customer wrote, shortened; the whole message is the ticket's description."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first_line if len(first_line) <= LONGEST_SUBJECT else first_line[: LONGEST_SUBJECT - 1] + "…"
